/**
 * Exact ONNX formulations of slalom's linear layers, and a Triton-style model repository of them
 * (issue 5; docs/design.md §1, §2, §7). One ONNX model per linear layer, in standard default-domain ops
 * (opset 13) that onnxruntime's CPU provider runs, so any onnxruntime-backed inference server can play
 * the accelerator role:
 *
 *     x  FP64 [N, C, H, W] (Conv) or [N, K] (Gemm): canonical residues of Z_p, N symbolic
 *     y  FP64 [N, M, OH, OW] or [N, Nout]:           f(x) mod p, canonical residues in [0, p), no bias
 *
 * Graph. The integer weights w̃ are an INT32 initializer `W` (|w̃| ≤ Σ|w̃_row| ≤ MAX_WEIGHT_L1 < 2^30,
 * which `assertExact` checks, so int32 holds them exactly), Cast to DOUBLE. Gemm is one MatMul. A
 * convolution is a sum over its kH·kW kernel taps: x is zero-padded once (Pad), each tap (ky, kx) is a
 * strided Slice of the padded input starting at (ky·dH, kx·dW) and ending (kH−1−ky)·dH rows before the
 * end (a negative end, so the graph is independent of H and W), and contracts over the input channels
 * of its group as one batched MatMul: W_tap [G, M/G, C/G] · x_tap [N, G, C/G, OH·OW] → [N, G, M/G, OH·OW].
 * The taps are added (Sum) and the result reshaped to [N, M, OH, OW]. A depthwise convolution
 * (C/G = M/G = 1) multiplies (Mul) by W_tap [C, 1, 1] instead. Then z mod p in two steps, both exact:
 * r = fmod(z, p) ∈ (−p, p) (Mod with fmod = 1: IEEE fmod is exact), y = fmod(r + p, p) ∈ [0, p).
 *
 * Exactness. With residues 0 ≤ x < p and integer weights, every value the graph holds for one output —
 * a product, a MatMul partial sum in whatever order or blocking the provider uses, a partial Sum of taps
 * — is an integer sub-sum of the products x_i·w_i, so its magnitude is at most (p − 1)·Σ|w̃_row|, which
 * `assertExact` (field.ts) bounds below 2^53 when a layer is exported (and slalom checks when it loads a
 * model). Doubles represent all such integers exactly and every addition of them is exact (a fused
 * multiply-add rounds once and is exact too), so z is the true integer and y its exact residue.
 *
 * Metadata. `metadata_props` carries `slalom.layer`: JSON {format, op, conv attrs, wDims, inputDims?,
 * outputDims?, name, index}, so a server can validate shapes without running the graph and can run the
 * layer with its own reference kernels from that description and the `W` initializer (`parseLayerOnnx`).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { InvalidArgumentError, MalformedModelError } from '../../errors.js';
import { P } from '../../field/prime.js';
import { OnnxBuilder } from '../../onnx/build.js';
import { convOutputDims } from '../../kernels/conv.js';
import { assertExact } from '../../kernels/field.js';
import type { ConvAttrs } from '../../kernels/names.js';
import { sizeOf, type Tensor } from '../../tensor/tensor.js';
import type { PublicLayer } from '../backend.js';
import { DATATYPE, INPUT_TENSOR, layerModelName, modelIdOf, OUTPUT_TENSOR } from './protocol.js';

/** The `metadata_props` key holding the layer description. */
export const LAYER_METADATA_KEY = 'slalom.layer';
/** Version of the layer description format. */
export const LAYER_FORMAT = 1;
/** Name of the weight initializer. */
export const WEIGHT_INITIALIZER = 'W';
/** The file that indexes an exported repository. */
export const EXPORT_INDEX_FILE = 'slalom-export.json';

/** A public layer; its inDims (batch first, the batch's value ignored), when given, fix H and W of a conv in the graph. */
export type ExportableLayer = PublicLayer;

/** The description stored under `slalom.layer`. */
export interface LayerDescription {
  readonly format: number;
  readonly op: 'Conv' | 'Gemm';
  readonly name: string;
  readonly index: number;
  readonly wDims: readonly number[];
  readonly conv?: ConvAttrs;
  /** Dims of one item of the input (without the batch axis), when the exporter knew them. */
  readonly inputDims?: readonly number[];
  /** Dims of one item of the output (without the batch axis), when the exporter knew them. */
  readonly outputDims?: readonly number[];
}

/** A layer read back from an exported ONNX model. */
export interface ParsedLayer {
  readonly description: LayerDescription;
  /** The `W` initializer as stored. */
  readonly weights: Int32Array;
  /** The same layer as a PublicLayer (id = description.index). */
  readonly layer: PublicLayer;
}

/** What `exportModelRepository` needs of a model (the CLI adapts a SlalomModel). */
export interface ExportableModel {
  readonly name: string;
  readonly modelHash: string;
  readonly layers: readonly ExportableLayer[];
}

export interface ExportIndex {
  readonly format: 'slalom-export/1';
  readonly model: string;
  readonly modelHash: string;
  readonly modelId: string;
  /** OIP model names of the linear layers, in order (layer l is `layers[l]`). */
  readonly layers: readonly string[];
  readonly details: readonly { readonly model: string; readonly layer: string; readonly op: string; readonly inputDims: readonly (number | string)[]; readonly outputDims: readonly (number | string)[] }[];
}

const MAX_INT64 = 9_223_372_036_854_775_807n;

function checkConvAttrs(conv: ConvAttrs | undefined, name: string): ConvAttrs {
  if (conv === undefined) throw new InvalidArgumentError('a Conv layer needs its attributes', { layer: name });
  const ints = [...conv.strides, ...conv.pads, ...conv.dilations, conv.group];
  if (conv.strides.length !== 2 || conv.pads.length !== 4 || conv.dilations.length !== 2 || !ints.every((v) => Number.isSafeInteger(v))) {
    throw new InvalidArgumentError('malformed Conv attributes', { layer: name });
  }
  if (![...conv.strides, ...conv.dilations, conv.group].every((v) => v >= 1) || !conv.pads.every((v) => v >= 0)) {
    throw new InvalidArgumentError('Conv strides, dilations and group must be ≥ 1, pads ≥ 0', { layer: name });
  }
  return { strides: [conv.strides[0], conv.strides[1]], pads: [conv.pads[0], conv.pads[1], conv.pads[2], conv.pads[3]], dilations: [conv.dilations[0], conv.dilations[1]], group: conv.group };
}

/**
 * Checks a layer's weights and shapes (exactness bound included) and returns its description.
 * Throws InvalidArgumentError / OverflowError naming the layer.
 */
export function describeLayer(layer: ExportableLayer): LayerDescription {
  const name = layer.name;
  const wDims = [...layer.w.dims];
  if (sizeOf(wDims) !== layer.w.data.length) throw new InvalidArgumentError(`weights hold ${layer.w.data.length} values for shape [${wDims.join(', ')}]`, { layer: name });
  if (!wDims.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new InvalidArgumentError(`bad weight dims [${wDims.join(', ')}]`, { layer: name });
  if (layer.op === 'Conv') {
    if (wDims.length !== 4) throw new InvalidArgumentError(`conv weights must be 4-D, got [${wDims.join(', ')}]`, { layer: name });
    const conv = checkConvAttrs(layer.conv, name);
    assertExact(layer.w, 'conv', 0, name);
    let inputDims: number[] | undefined;
    let outputDims: number[] | undefined;
    if (layer.inDims !== undefined) {
      const dims = [1, ...layer.inDims.slice(1)];
      outputDims = convOutputDims(dims, wDims, conv).slice(1);
      inputDims = dims.slice(1);
    }
    if (wDims[0]! % conv.group !== 0) throw new InvalidArgumentError(`group ${conv.group} does not divide the ${wDims[0]} output channels`, { layer: name });
    return { format: LAYER_FORMAT, op: 'Conv', name, index: layer.id, wDims, conv, ...(inputDims ? { inputDims, outputDims } : {}) };
  }
  if (layer.op === 'Gemm') {
    if (wDims.length !== 2) throw new InvalidArgumentError(`gemm weights must be 2-D [K, N], got [${wDims.join(', ')}]`, { layer: name });
    assertExact(layer.w, 'gemm', 0, name);
    if (layer.inDims !== undefined && (layer.inDims.length !== 2 || layer.inDims[1] !== wDims[0])) {
      throw new InvalidArgumentError(`input dims [${layer.inDims.join(', ')}] do not match weights [${wDims.join(', ')}]`, { layer: name });
    }
    return { format: LAYER_FORMAT, op: 'Gemm', name, index: layer.id, wDims, inputDims: [wDims[0]!], outputDims: [wDims[1]!] };
  }
  throw new InvalidArgumentError(`op must be Conv or Gemm, got '${String(layer.op)}'`, { layer: name });
}

/** Per-item input and output dims of a description; -1 for a dimension fixed only by the request. */
export function itemDims(d: LayerDescription): { input: number[]; output: number[] } {
  if (d.inputDims !== undefined && d.outputDims !== undefined) return { input: [...d.inputDims], output: [...d.outputDims] };
  if (d.op === 'Gemm') return { input: [d.wDims[0]!], output: [d.wDims[1]!] };
  return { input: [d.wDims[1]! * d.conv!.group, -1, -1], output: [d.wDims[0]!, -1, -1] };
}

const DIGEST_LABEL = Buffer.from('slalom-layer-digest-v1\0', 'latin1');

/**
 * The content digest of a layer: SHA-256 over what it computes — op, index, conv attributes, weight
 * dims and the int32 weights — and nothing else (not its name, nor the input shape an exporter knew,
 * so a repository export and a client's upload of one layer agree). The description is one
 * length-prefixed canonical JSON array, so no two layers share the hashed bytes. Hex.
 */
export function layerDigest(d: Pick<LayerDescription, 'op' | 'index' | 'wDims' | 'conv'>, w: Int32Array): string {
  const c = d.conv;
  const text = Buffer.from(JSON.stringify([d.op, d.index, d.wDims, c === undefined ? null : [c.strides, c.pads, c.dilations, c.group]]), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(text.length);
  const weights = Buffer.alloc(4 * w.length);
  for (let i = 0; i < w.length; i++) weights.writeInt32LE(w[i]!, 4 * i);
  return createHash('sha256').update(DIGEST_LABEL).update(length).update(text).update(weights).digest('hex');
}

/** The content digest of a public layer (checked like an export). */
export function publicLayerDigest(layer: PublicLayer): string {
  return layerDigest(describeLayer(layer), int32Weights(layer.w, layer.name));
}

/** The int32 weights (the exactness bound keeps |w̃| < 2^30). */
function int32Weights(w: Tensor, name: string): Int32Array {
  const out = new Int32Array(w.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = w.data[i]!;
    if (!(Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31)) throw new InvalidArgumentError(`weight ${v} at ${i} does not fit int32`, { layer: name });
    out[i] = v;
  }
  return out;
}

function int64(values: readonly (number | bigint)[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

/** Appends y = fmod(fmod(z, p) + p, p) (canonical residues) to the graph. */
function modP(b: OnnxBuilder, z: string, y: string): void {
  b.initializer('p', [], Float64Array.of(P));
  const r = b.uniqueName('r');
  const s = b.uniqueName('s');
  b.node('Mod', [z, 'p'], [r], { fmod: 1 });
  b.node('Add', [r, 'p'], [s]);
  b.node('Mod', [s, 'p'], [y], { fmod: 1 });
}

function buildGemm(b: OnnxBuilder, d: LayerDescription, w: Int32Array): void {
  const [k, n] = d.wDims as [number, number];
  b.input(INPUT_TENSOR, ['N', k], 'double').output(OUTPUT_TENSOR, ['N', n], 'double');
  b.initializer(WEIGHT_INITIALIZER, [k, n], w);
  b.node('Cast', [WEIGHT_INITIALIZER], ['Wd'], { to: TensorProto_DataType.DOUBLE });
  b.node('MatMul', [INPUT_TENSOR, 'Wd'], ['z']);
  modP(b, 'z', OUTPUT_TENSOR);
}

function buildConv(b: OnnxBuilder, d: LayerDescription, w: Int32Array): void {
  const conv = d.conv!;
  const [m, cg, kH, kW] = d.wDims as [number, number, number, number];
  const g = conv.group;
  const mg = m / g;
  const c = cg * g;
  const [sH, sW] = conv.strides;
  const [dH, dW] = conv.dilations;
  const [pT, pL, pB, pR] = conv.pads;
  const inDims: (number | string)[] = d.inputDims ? ['N', ...d.inputDims] : ['N', c, 'H', 'W'];
  const outDims: (number | string)[] = d.outputDims ? ['N', ...d.outputDims] : ['N', m, 'OH', 'OW'];
  b.input(INPUT_TENSOR, inDims, 'double').output(OUTPUT_TENSOR, outDims, 'double');
  b.initializer(WEIGHT_INITIALIZER, [m, cg, kH, kW], w);
  const taps = kH * kW;
  const depthwise = cg === 1 && mg === 1;
  // Per-tap weights, constant-folded by the runtime: Wt[t] = W[:, :, ky, kx] as [G, M/G, C/G] (or [C, 1, 1]).
  b.node('Cast', [WEIGHT_INITIALIZER], ['Wd'], { to: TensorProto_DataType.DOUBLE });
  b.initializer('w_shape', [4], int64([g, mg, cg, taps]));
  b.node('Reshape', ['Wd', 'w_shape'], ['Wg']);
  b.node('Transpose', ['Wg'], ['Wt'], { perm: [3, 0, 1, 2] }); // [taps, G, M/G, C/G]
  let xp = INPUT_TENSOR;
  if (pT + pL + pB + pR > 0) {
    b.initializer('pads', [8], int64([0, 0, pT, pL, 0, 0, pB, pR]));
    b.node('Pad', [INPUT_TENSOR, 'pads'], ['xp'], { mode: 'constant' });
    xp = 'xp';
  }
  const identity = kH === 1 && kW === 1 && sH === 1 && sW === 1;
  if (!identity) {
    b.initializer('slice_axes', [2], int64([2, 3]));
    b.initializer('slice_steps', [2], int64([sH, sW]));
  }
  if (depthwise) b.initializer('depth_shape', [3], int64([c, 1, 1]));
  else b.initializer('group_shape', [4], int64([0, g, cg, -1]));
  const partials: string[] = [];
  let firstTap = '';
  for (let ky = 0; ky < kH; ky++) {
    for (let kx = 0; kx < kW; kx++) {
      const t = ky * kW + kx;
      let xt = xp;
      if (!identity) {
        const endH = (kH - 1 - ky) * dH;
        const endW = (kW - 1 - kx) * dW;
        b.initializer(`starts_${t}`, [2], int64([ky * dH, kx * dW]));
        b.initializer(`ends_${t}`, [2], int64([endH === 0 ? MAX_INT64 : -endH, endW === 0 ? MAX_INT64 : -endW]));
        xt = `x_${t}`;
        b.node('Slice', [xp, `starts_${t}`, `ends_${t}`, 'slice_axes', 'slice_steps'], [xt]);
      }
      if (firstTap === '') firstTap = xt;
      b.initializer(`tap_${t}`, [1], int64([t]));
      const wt = `w_${t}`;
      b.node('Gather', ['Wt', `tap_${t}`], [`wt_${t}`], { axis: 0 }); // [1, G, M/G, C/G]
      if (depthwise) {
        b.node('Reshape', [`wt_${t}`, 'depth_shape'], [wt]);
        b.node('Mul', [xt, wt], [`z_${t}`]); // [N, C, OH, OW]
      } else {
        b.initializer(`sq_${t}`, [1], int64([0]));
        b.node('Squeeze', [`wt_${t}`, `sq_${t}`], [wt]); // [G, M/G, C/G]
        b.node('Reshape', [xt, 'group_shape'], [`xg_${t}`]); // [N, G, C/G, OH·OW]
        b.node('MatMul', [wt, `xg_${t}`], [`z_${t}`]); // [N, G, M/G, OH·OW]
      }
      partials.push(`z_${t}`);
    }
  }
  const sum = partials.length === 1 ? partials[0]! : 'zsum';
  if (partials.length > 1) b.node('Sum', partials, [sum]);
  if (depthwise) {
    modP(b, sum, OUTPUT_TENSOR);
    return;
  }
  // [N, G, M/G, OH·OW] → [N, M, OH, OW], OH and OW read off the first tap's shape.
  b.node('Shape', [firstTap], ['tap_shape']);
  b.initializer('i0', [1], int64([0]));
  b.initializer('i1', [1], int64([1]));
  b.initializer('i2', [1], int64([2]));
  b.initializer('i4', [1], int64([4]));
  b.initializer('m_dim', [1], int64([m]));
  b.node('Slice', ['tap_shape', 'i0', 'i1'], ['n_dim']);
  b.node('Slice', ['tap_shape', 'i2', 'i4'], ['hw_dims']);
  b.node('Concat', ['n_dim', 'm_dim', 'hw_dims'], ['out_shape'], { axis: 0 });
  b.node('Reshape', [sum, 'out_shape'], ['z']);
  modP(b, 'z', OUTPUT_TENSOR);
}

/**
 * The exact ONNX model of one linear layer (see the module comment): input `x`, output `y`, FP64,
 * batch symbolic. Deterministic: the same layer always gives the same bytes. Throws for a layer that
 * cannot be computed exactly.
 */
export function exportLayerOnnx(layer: ExportableLayer): Uint8Array {
  const d = describeLayer(layer);
  return onnxOfDescription(d, int32Weights(layer.w, layer.name));
}

/** The ONNX bytes of a checked description and its int32 weights. */
export function onnxOfDescription(d: LayerDescription, w: Int32Array): Uint8Array {
  const b = new OnnxBuilder(`slalom_${d.op.toLowerCase()}_${d.index}`, { opset: 13 });
  if (d.op === 'Gemm') buildGemm(b, d, w);
  else buildConv(b, d, w);
  return b.metadata(LAYER_METADATA_KEY, JSON.stringify(d)).toBytes();
}

const NAME_RE = /^[\w.\- :/]{0,256}$/u;

function isDims(v: unknown, rank?: number): v is number[] {
  return Array.isArray(v) && (rank === undefined || v.length === rank) && v.every((d) => Number.isSafeInteger(d) && d >= 1);
}

/** Checks a parsed `slalom.layer` JSON value field by field; MalformedModelError on anything unexpected. */
function checkDescription(v: unknown): LayerDescription {
  const bad = (why: string): never => {
    throw new MalformedModelError(`${LAYER_METADATA_KEY}: ${why}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('not an object');
  const o = v as Record<string, unknown>;
  if (o['format'] !== LAYER_FORMAT) bad(`unsupported format ${JSON.stringify(o['format'])}`);
  if (o['op'] !== 'Conv' && o['op'] !== 'Gemm') bad('op must be Conv or Gemm');
  const name = typeof o['name'] === 'string' && NAME_RE.test(o['name']) ? o['name'] : 'layer';
  const index = Number.isSafeInteger(o['index']) && (o['index'] as number) >= 0 ? (o['index'] as number) : 0;
  const op = o['op'] as 'Conv' | 'Gemm';
  if (!isDims(o['wDims'], op === 'Conv' ? 4 : 2)) bad('wDims must be positive integers of the op rank');
  const wDims = o['wDims'] as number[];
  const inputDims = o['inputDims'];
  const outputDims = o['outputDims'];
  if (op === 'Gemm') return { format: LAYER_FORMAT, op, name, index, wDims, inputDims: [wDims[0]!], outputDims: [wDims[1]!] };
  const c = o['conv'] as Record<string, unknown> | undefined;
  if (typeof c !== 'object' || c === null) bad('conv attributes missing');
  const conv = c as Record<string, unknown>;
  if (!isDims(conv['strides'], 2) || !isDims(conv['dilations'], 2) || !Number.isSafeInteger(conv['group']) || (conv['group'] as number) < 1) bad('bad conv attributes');
  const pads = conv['pads'];
  if (!Array.isArray(pads) || pads.length !== 4 || !pads.every((p) => Number.isSafeInteger(p) && p >= 0 && p <= 1 << 16)) bad('bad conv pads');
  const attrs = checkConvAttrs(conv as unknown as ConvAttrs, name);
  if (wDims[0]! % attrs.group !== 0) bad('group does not divide the output channels');
  if (inputDims === undefined && outputDims === undefined) return { format: LAYER_FORMAT, op, name, index, wDims, conv: attrs };
  if (!isDims(inputDims, 3)) bad('inputDims must be [C, H, W]');
  let out: number[];
  try {
    out = convOutputDims([1, ...(inputDims as number[])], wDims, attrs).slice(1);
  } catch (e) {
    return bad((e as Error).message);
  }
  if (!isDims(outputDims, 3) || !out.every((dd, i) => dd === (outputDims as number[])[i])) bad('outputDims do not match the convolution');
  return { format: LAYER_FORMAT, op, name, index, wDims, conv: attrs, inputDims: inputDims as number[], outputDims: out };
}

/**
 * Reads a layer back from exported ONNX bytes: the `slalom.layer` description and the INT32 `W`
 * initializer, checked against each other and against the exactness bound. Throws MalformedModelError
 * for bytes that are not such a model, OverflowError for weights past the bound.
 */
export function parseLayerOnnx(bytes: Uint8Array): ParsedLayer {
  let model;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new MalformedModelError(`not an ONNX model: ${(e as Error).message}`);
  }
  const entry = model.metadataProps.find((p) => p.key === LAYER_METADATA_KEY);
  if (entry === undefined) throw new MalformedModelError(`the ONNX model has no '${LAYER_METADATA_KEY}' metadata (not written by slalom export)`);
  let json: unknown;
  try {
    json = JSON.parse(entry.value);
  } catch {
    throw new MalformedModelError(`${LAYER_METADATA_KEY} is not JSON`);
  }
  const d = checkDescription(json);
  const init = model.graph?.initializer.find((t) => t.name === WEIGHT_INITIALIZER);
  if (init === undefined) throw new MalformedModelError(`the ONNX model has no '${WEIGHT_INITIALIZER}' initializer`);
  if (init.dataType !== TensorProto_DataType.INT32) throw new MalformedModelError(`'${WEIGHT_INITIALIZER}' must be INT32`);
  const dims = init.dims.map(Number);
  if (dims.length !== d.wDims.length || !dims.every((v, i) => v === d.wDims[i])) {
    throw new MalformedModelError(`'${WEIGHT_INITIALIZER}' dims [${dims.join(', ')}] differ from the described [${d.wDims.join(', ')}]`);
  }
  const size = sizeOf(d.wDims);
  let w: Int32Array;
  if (init.rawData.length > 0) {
    if (init.rawData.length !== 4 * size) throw new MalformedModelError(`'${WEIGHT_INITIALIZER}' holds ${init.rawData.length} bytes, expected ${4 * size}`);
    w = new Int32Array(size);
    const view = new DataView(init.rawData.buffer, init.rawData.byteOffset, init.rawData.byteLength);
    for (let i = 0; i < size; i++) w[i] = view.getInt32(4 * i, true);
  } else {
    if (init.int32Data.length !== size) throw new MalformedModelError(`'${WEIGHT_INITIALIZER}' holds ${init.int32Data.length} values, expected ${size}`);
    w = Int32Array.from(init.int32Data);
  }
  const layer: PublicLayer = { id: d.index, name: d.name, op: d.op, ...(d.conv ? { conv: d.conv } : {}), wDims: [...d.wDims], w: { dims: [...d.wDims], data: Float64Array.from(w) } };
  assertExact(layer.w, d.op === 'Conv' ? 'conv' : 'gemm', 0, d.name);
  return { description: d, weights: w, layer };
}

function pbtxtDims(dims: readonly (number | string)[]): string {
  return `[ ${dims.map((v) => (typeof v === 'number' ? String(v) : '-1')).join(', ')} ]`;
}

/** Triton's config.pbtxt for one exported layer (max_batch_size 0: the batch axis is part of dims). */
export function layerConfigPbtxt(modelName: string, d: LayerDescription): string {
  const { input, output } = itemDims(d);
  return [
    `name: "${modelName}"`,
    'platform: "onnxruntime_onnx"',
    'max_batch_size: 0',
    'input [',
    '  {',
    `    name: "${INPUT_TENSOR}"`,
    `    data_type: TYPE_${DATATYPE}`,
    `    dims: ${pbtxtDims([-1, ...input])}`,
    '  }',
    ']',
    'output [',
    '  {',
    `    name: "${OUTPUT_TENSOR}"`,
    `    data_type: TYPE_${DATATYPE}`,
    `    dims: ${pbtxtDims([-1, ...output])}`,
    '  }',
    ']',
    'version_policy: { latest: { num_versions: 1 } }',
    '',
  ].join('\n');
}

/**
 * Writes a Triton-style model repository for every linear layer of `model` into `outDir`:
 * `<layerModelName>/config.pbtxt`, `<layerModelName>/1/model.onnx`, and `slalom-export.json`.
 * Returns the index it wrote.
 */
export function exportModelRepository(model: ExportableModel, outDir: string): ExportIndex {
  const modelId = modelIdOf(model.name, model.modelHash);
  mkdirSync(outDir, { recursive: true });
  const layers: string[] = [];
  const details: ExportIndex['details'][number][] = [];
  model.layers.forEach((layer, position) => {
    const d = describeLayer(layer);
    const w = int32Weights(layer.w, layer.name);
    const name = layerModelName(modelId, layer.id ?? position, layerDigest(d, w));
    const bytes = onnxOfDescription(d, w);
    mkdirSync(join(outDir, name, '1'), { recursive: true });
    writeFileSync(join(outDir, name, '1', 'model.onnx'), bytes);
    writeFileSync(join(outDir, name, 'config.pbtxt'), layerConfigPbtxt(name, d));
    const dims = itemDims(d);
    layers.push(name);
    details.push({ model: name, layer: layer.name, op: d.op, inputDims: [-1, ...dims.input], outputDims: [-1, ...dims.output] });
  });
  const index: ExportIndex = { format: 'slalom-export/1', model: model.name, modelHash: model.modelHash, modelId, layers, details };
  writeFileSync(join(outDir, EXPORT_INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  return index;
}
