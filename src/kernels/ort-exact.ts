/**
 * Exact linear layers over Z_p on onnxruntime-node's CPU kernels (DESIGN.md §2, §6, §7): the same
 * results as field.ts (`convField`, `gemmField`: canonical residues in [0, p)), faster.
 *
 * Byte-plane path (convolutions whose weights are all integers in [−128, 127] and whose fan-in
 * K = C/group·kH·kW is at most 33 025). x is reduced to canonical residues r < 2^24 and split into
 * three byte planes r = r0 + 2^8·r1 + 2^16·r2, stacked along the batch axis; one ORT `ConvInteger`
 * (uint8 × uint8 → int32, weights stored as w + 128 with w_zero_point 128, im2col in native code)
 * convolves all three. Each int32 accumulator is bounded by 255·255·K < 2^31, so the plane results
 * y_q = Σ r_q·w are exact; z = y0 + 2^8·y1 + 2^16·y2 + b has |z| < 2^48 and is recombined exactly in
 * doubles, then reduced. (uint8 × int8 is not used: on AVX2 without VNNI, MLAS's u8s8 kernel
 * saturates pairwise int16 sums.) Because the exactness of an integer kernel depends on the CPU's
 * MLAS code path, `create` runs a worst-case probe and disables the byte-plane path if it is not exact.
 *
 * Float64 path (every other convolution, and dense layers). A JS im2col (column form, col [K, R]) and
 * one batched ORT `MatMul` in double: w [group, M/group, K] · col [group, K, R] → [group, M/group, R],
 * which for R = OH·OW is already the NCHW output of one image; a 1×1 stride-1 unpadded convolution needs
 * no im2col. A dense layer is one `MatMul` x [B, K] · w [K, N]. Exactness: the integers involved
 * satisfy the bound of field.ts ((p − 1)·Σ|w_row| + |b| ≤ 2^53 − 1, checked by `assertExact`), so every
 * partial sum ORT may form, in any order or blocking, is an integer below 2^53 and exact; a fused
 * multiply-add rounds once and is exact as well.
 *
 * Depthwise convolutions (C/group = 1, more than one group) are memory-bound with a few taps per output,
 * so they run on the direct JS kernel of conv.ts. (A single-group conv of a 1-channel input, like an
 * image model's first layer on grey images, is one ordinary MatMul and stays on the float64 path.)
 */
import { create as createMessage, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { InvalidArgumentError } from '../errors.js';
import { mod, reduceInPlace } from '../field/modp.js';
import { P } from '../field/prime.js';
import { formatDims, type Tensor } from '../tensor/tensor.js';
import { conv2d, convGeometry, isPointwise, type ConvGeometry } from './conv.js';
import { gemmOutputDims } from './gemm.js';
import type { ConvAttrs } from './names.js';

const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

/**
 * onnxruntime's log severity for every session slalom creates: 4 (fatal only) unless the environment
 * variable SLALOM_ORT_LOG names another (verbose, info, warning, error, fatal, or 0–4). onnxruntime's
 * own lines would only repeat, in colour, errors that slalom reports in one line. Also sets the
 * process-wide level, which onnxruntime reads when it first initialises.
 */
export function ortLogSeverity(): 0 | 1 | 2 | 3 | 4 {
  const asked = process.env['SLALOM_ORT_LOG'];
  let level = 4;
  if (asked !== undefined && asked !== '') {
    level = /^[0-4]$/.test(asked) ? Number(asked) : ORT_LOG_LEVELS.indexOf(asked.toLowerCase() as (typeof ORT_LOG_LEVELS)[number]);
    if (level < 0) throw new InvalidArgumentError(`SLALOM_ORT_LOG must be one of ${ORT_LOG_LEVELS.join(', ')} (or 0–4), got '${asked}'`);
  }
  ort.env.logLevel = ORT_LOG_LEVELS[level]!;
  return level as 0 | 1 | 2 | 3 | 4;
}

/** Upper bound on the elements of one im2col chunk (16 MiB of doubles). */
const CHUNK_ELEMS = 1 << 21;
/** Largest scratch buffer kept between calls. */
const MAX_SCRATCH_BYTES = 64 << 20;
/** Largest fan-in K for the byte-plane path: 255·255·K < 2^31. */
export const MAX_BYTE_PLANE_K = Math.floor((2 ** 31 - 1) / (255 * 255));

/** One graph input or output: name, ONNX element type, dims (strings are symbolic dim_params). */
export interface ValueSpec {
  readonly name: string;
  readonly elemType: TensorProto_DataType;
  readonly dims: readonly (number | string)[];
}

/**
 * Serialises a one-node ONNX model (ir_version 8, default-domain opset 13 unless given) with INT and
 * INTS attributes; symbolic dims let one session serve every shape.
 */
export function singleNodeModel(
  opType: string,
  inputs: readonly ValueSpec[],
  outputs: readonly ValueSpec[],
  attributes: Readonly<Record<string, number | readonly number[]>> = {},
  opset = 13,
): Uint8Array {
  const valueInfo = (v: ValueSpec) =>
    createMessage(ValueInfoProtoSchema, {
      name: v.name,
      type: createMessage(TypeProtoSchema, {
        value: {
          case: 'tensorType',
          value: createMessage(TypeProto_TensorSchema, {
            elemType: v.elemType,
            shape: createMessage(TensorShapeProtoSchema, {
              dim: v.dims.map((d) =>
                createMessage(TensorShapeProto_DimensionSchema, {
                  value: typeof d === 'string' ? { case: 'dimParam', value: d } : { case: 'dimValue', value: BigInt(d) },
                }),
              ),
            }),
          }),
        },
      }),
    });
  const attribute = Object.entries(attributes).map(([name, v]) =>
    typeof v === 'number'
      ? createMessage(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) })
      : createMessage(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: v.map((e) => BigInt(e)) }),
  );
  const node = createMessage(NodeProtoSchema, { opType, input: inputs.map((v) => v.name), output: outputs.map((v) => v.name), attribute });
  const graph = createMessage(GraphProtoSchema, {
    name: opType,
    node: [node],
    input: inputs.map(valueInfo),
    output: outputs.map(valueInfo),
  });
  const model = createMessage(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'slalom',
    opsetImport: [createMessage(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    graph,
  });
  return toBinary(ModelProtoSchema, model);
}

export interface OrtExactOptions {
  /** ORT intra-op threads (default 1). */
  readonly threads?: number;
  /**
   * Byte-plane ConvInteger for convolutions, whenever the weights allow and the startup probe was
   * exact: 'auto' (default) for convolutions that need an im2col (1×1 stride-1 unpadded ones are
   * faster as one float64 MatMul with no im2col), 'always' for those too, 'never' not at all.
   */
  readonly bytePlanes?: 'auto' | 'always' | 'never';
}

const DOUBLE = TensorProto_DataType.DOUBLE;
const UINT8 = TensorProto_DataType.UINT8;
const INT32 = TensorProto_DataType.INT32;

function matmulF64Model(): Uint8Array {
  return singleNodeModel(
    'MatMul',
    [
      { name: 'A', elemType: DOUBLE, dims: ['g', 'm', 'k'] },
      { name: 'B', elemType: DOUBLE, dims: ['g', 'k', 'n'] },
    ],
    [{ name: 'Y', elemType: DOUBLE, dims: ['g', 'm', 'n'] }],
  );
}

function convIntegerModel(attrs: ConvAttrs): Uint8Array {
  return singleNodeModel(
    'ConvInteger',
    [
      { name: 'x', elemType: UINT8, dims: ['n', 'c', 'h', 'w'] },
      { name: 'w', elemType: UINT8, dims: ['m', 'cg', 'kh', 'kw'] },
      { name: 'x_zero_point', elemType: UINT8, dims: [] },
      { name: 'w_zero_point', elemType: UINT8, dims: [] },
    ],
    [{ name: 'y', elemType: INT32, dims: ['n', 'm', 'oh', 'ow'] }],
    { strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations, group: attrs.group },
  );
}

/** ORT refuses typed arrays on a SharedArrayBuffer: copy those. */
function ortSafe<T extends Float64Array | Uint8Array>(a: T): T {
  return a.buffer instanceof ArrayBuffer ? a : (a.slice() as T);
}

function checkLength(t: Tensor, what: string, op: string): void {
  let n = 1;
  for (const d of t.dims) n *= d;
  if (t.data.length !== n) throw new InvalidArgumentError(`${op}: ${what} has ${t.data.length} values for shape ${formatDims(t.dims)}`);
}

/**
 * Column-form im2col for output rows [oy0, oy1) of image n, group grp: col[k, r] at
 * dst[dstOff + k·ld + r], k over (c, ky, kx) in w's layout, r = (oy − oy0)·OW + ox; padding taps are 0.
 */
function im2colCols(g: ConvGeometry, src: Float64Array, n: number, grp: number, oy0: number, oy1: number, dst: Float64Array, dstOff: number, ld: number): void {
  const { h, w, cg, kH, kW, ow, sH, sW, dH, dW, padTop, padLeft } = g;
  const plane = h * w;
  const xBase = (n * g.c + grp * cg) * plane;
  let row = dstOff;
  for (let c = 0; c < cg; c++) {
    const xc = xBase + c * plane;
    for (let ky = 0; ky < kH; ky++) {
      const dy = ky * dH - padTop;
      for (let kx = 0; kx < kW; kx++, row += ld) {
        const dx = kx * dW - padLeft;
        // output columns ox with 0 ≤ ox·sW + dx < w, as the half-open range [oxLo, oxHi)
        const oxLo = Math.min(ow, Math.max(0, Math.ceil(-dx / sW)));
        const oxHi = Math.max(oxLo, Math.min(ow, Math.floor((w - 1 - dx) / sW) + 1));
        let d = row;
        for (let oy = oy0; oy < oy1; oy++, d += ow) {
          const iy = oy * sH + dy;
          if (iy < 0 || iy >= h) {
            dst.fill(0, d, d + ow);
            continue;
          }
          if (oxLo > 0) dst.fill(0, d, d + oxLo);
          const xr = xc + iy * w + dx;
          if (sW === 1) {
            for (let ox = oxLo; ox < oxHi; ox++) dst[d + ox] = src[xr + ox]!;
          } else {
            for (let ox = oxLo, xi = xr + oxLo * sW; ox < oxHi; ox++, xi += sW) dst[d + ox] = src[xi]!;
          }
          if (oxHi < ow) dst.fill(0, d + oxHi, d + ow);
        }
      }
    }
  }
}

/** True when every weight is an integer in [−128, 127]. */
function fitsInt8(w: Float64Array): boolean {
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    if (!(v >= -128 && v <= 127) || Math.trunc(v) !== v) return false;
  }
  return true;
}

function attrsKey(a: ConvAttrs): string {
  return `${a.strides.join(',')}|${a.pads.join(',')}|${a.dilations.join(',')}|${a.group}`;
}

const POINTWISE: ConvAttrs = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 };

/** Exact linear kernels on onnxruntime-node; results equal field.ts's. Not for use after `close()`. */
export class OrtExactKernels {
  readonly threads: number;
  /** Whether convolutions may take the byte-plane ConvInteger path (decided at create by the probe). */
  readonly bytePlanes: boolean;
  readonly #options: ort.InferenceSession.SessionOptions;
  readonly #pointwiseBytes: boolean;
  readonly #f64: ort.InferenceSession;
  /** ConvInteger sessions by attributes (attributes are fixed in the graph; shapes are symbolic). */
  readonly #convInt = new Map<string, Promise<ort.InferenceSession>>();
  readonly #zp0 = new ort.Tensor('uint8', Uint8Array.of(0), []);
  readonly #zp128 = new ort.Tensor('uint8', Uint8Array.of(128), []);
  /** A reusable buffer for im2col and byte planes (fresh pages are costly to fault in); one holder at a time. */
  #scratch: ArrayBuffer | undefined;
  #closed = false;

  private constructor(threads: number, options: ort.InferenceSession.SessionOptions, f64: ort.InferenceSession, bytePlanes: boolean, pointwiseBytes: boolean) {
    this.threads = threads;
    this.#pointwiseBytes = pointwiseBytes;
    this.#options = options;
    this.#f64 = f64;
    this.bytePlanes = bytePlanes;
  }

  static async create(opts: OrtExactOptions = {}): Promise<OrtExactKernels> {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`);
    const mode = opts.bytePlanes ?? 'auto';
    if (mode !== 'auto' && mode !== 'always' && mode !== 'never') {
      throw new InvalidArgumentError(`bytePlanes must be 'auto', 'always' or 'never', got ${String(mode)}`);
    }
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: ortLogSeverity(),
    };
    const f64 = await ort.InferenceSession.create(matmulF64Model(), options);
    let probe: ort.InferenceSession | undefined;
    if (mode !== 'never') {
      probe = await ort.InferenceSession.create(convIntegerModel(POINTWISE), options);
      if (!(await probeConvInteger(probe))) {
        await probe.release();
        probe = undefined;
      }
    }
    const kernels = new OrtExactKernels(threads, options, f64, probe !== undefined, mode === 'always');
    if (probe !== undefined) kernels.#convInt.set(attrsKey(POINTWISE), Promise.resolve(probe));
    return kernels;
  }

  /** (x ∗ w + b) mod p in [0, p): integer x with |x| < p, integer w and b within `assertExact`'s bound. */
  async convField(x: Tensor, w: Tensor, attrs: ConvAttrs, bias?: Float64Array): Promise<Tensor> {
    this.#open();
    const g = convGeometry(x.dims, w.dims, attrs);
    checkLength(x, 'x', 'Conv');
    checkLength(w, 'w', 'Conv');
    if (bias !== undefined && bias.length !== g.m) throw new InvalidArgumentError(`Conv: bias has ${bias.length} values, expected ${g.m}`);
    const dims = [g.n, g.m, g.oh, g.ow];
    if (g.n * g.m * g.oh * g.ow === 0) return { dims, data: new Float64Array(0) };
    if (g.cg === 1 && g.group > 1) {
      const z = conv2d(x, w, attrs, bias);
      return { dims, data: reduceInPlace(z.data) };
    }
    const bytes = this.bytePlanes && g.k <= MAX_BYTE_PLANE_K && (this.#pointwiseBytes || !isPointwise(g)) && fitsInt8(w.data);
    if (bytes) return { dims, data: await this.#convBytes(g, attrs, x.data, w.data, bias) };
    return { dims, data: await this.#convF64(g, x.data, w.data, bias) };
  }

  /** (x·w + b) mod p in [0, p) for x [B, K], w [K, N], b [N]: integers within `assertExact`'s bound. */
  async gemmField(x: Tensor, w: Tensor, bias?: Float64Array): Promise<Tensor> {
    this.#open();
    const [b, n] = gemmOutputDims(x.dims, w.dims);
    const k = w.dims[0]!;
    checkLength(x, 'x', 'Gemm');
    checkLength(w, 'w', 'Gemm');
    if (bias !== undefined && bias.length !== n) throw new InvalidArgumentError(`Gemm: bias has ${bias.length} values, expected ${n}`);
    if (b * n === 0) return { dims: [b, n], data: new Float64Array(0) };
    const y = k === 0 ? new Float64Array(b * n) : await this.#matmulF64(ortSafe(x.data), [1, b, k], ortSafe(w.data), [1, k, n]);
    if (bias !== undefined) {
      for (let r = 0; r < b; r++) for (let j = 0, o = r * n; j < n; j++) y[o + j] += bias[j]!;
    }
    return { dims: [b, n], data: reduceInPlace(y) };
  }

  /** Releases every ORT session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sessions = await Promise.all([Promise.resolve(this.#f64), ...this.#convInt.values()]);
    this.#convInt.clear();
    this.#scratch = undefined;
    await Promise.all(sessions.map((s) => s.release()));
  }

  #takeScratch(bytes: number): ArrayBuffer {
    const s = this.#scratch;
    if (s !== undefined && s.byteLength >= bytes) {
      this.#scratch = undefined;
      return s;
    }
    return new ArrayBuffer(bytes);
  }

  #giveScratch(buf: ArrayBuffer): void {
    if (buf.byteLength > MAX_SCRATCH_BYTES || this.#closed) return;
    if (this.#scratch === undefined || this.#scratch.byteLength < buf.byteLength) this.#scratch = buf;
  }

  #open(): void {
    if (this.#closed) throw new InvalidArgumentError('OrtExactKernels used after close()');
  }

  async #matmulF64(a: Float64Array, aDims: readonly number[], b: Float64Array, bDims: readonly number[]): Promise<Float64Array> {
    const r = await this.#f64.run({ A: new ort.Tensor('float64', a, aDims), B: new ort.Tensor('float64', b, bDims) });
    const y = r.Y!.data;
    if (!(y instanceof Float64Array)) throw new TypeError('MatMul returned a non-float64 tensor');
    return y;
  }

  #convIntSession(attrs: ConvAttrs): Promise<ort.InferenceSession> {
    const key = attrsKey(attrs);
    let s = this.#convInt.get(key);
    if (s === undefined) {
      s = ort.InferenceSession.create(convIntegerModel(attrs), this.#options);
      this.#convInt.set(key, s);
      s.catch(() => this.#convInt.delete(key));
    }
    return s;
  }

  async #convBytes(g: ConvGeometry, attrs: ConvAttrs, x: Float64Array, w: Float64Array, bias: Float64Array | undefined): Promise<Float64Array> {
    const session = await this.#convIntSession(attrs);
    // Three byte planes of the canonical residues of x, stacked as batch [plane·N + n].
    const size = x.length;
    const scratch = this.#takeScratch(3 * size);
    const planes = new Uint8Array(scratch, 0, 3 * size);
    for (let i = 0; i < size; i++) {
      let v = x[i]!;
      if (!(v >= 0 && v < P)) v = mod(v);
      const r = v | 0;
      planes[i] = r & 255;
      planes[size + i] = (r >>> 8) & 255;
      planes[2 * size + i] = r >>> 16;
    }
    const wu = new Uint8Array(w.length);
    for (let i = 0; i < w.length; i++) wu[i] = w[i]! + 128;
    let res: ort.InferenceSession.ReturnType;
    try {
      res = await session.run({
        x: new ort.Tensor('uint8', planes, [3 * g.n, g.c, g.h, g.w]),
        w: new ort.Tensor('uint8', wu, [g.m, g.cg, g.kH, g.kW]),
        x_zero_point: this.#zp0,
        w_zero_point: this.#zp128,
      });
    } finally {
      this.#giveScratch(scratch);
    }
    const y = res.y!.data;
    const outSize = g.n * g.m * g.oh * g.ow;
    if (!(y instanceof Int32Array) || y.length !== 3 * outSize) throw new TypeError('ConvInteger returned an unexpected tensor');
    const out = new Float64Array(outSize);
    const t = g.oh * g.ow;
    for (let n = 0; n < g.n; n++) {
      for (let ch = 0; ch < g.m; ch++) {
        const o = (n * g.m + ch) * t;
        const b = bias === undefined ? 0 : bias[ch]!;
        for (let i = o, end = o + t; i < end; i++) out[i] = mod(y[i]! + 256 * y[outSize + i]! + 65536 * y[2 * outSize + i]! + b);
      }
    }
    return out;
  }

  async #convF64(g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined): Promise<Float64Array> {
    const t = g.oh * g.ow;
    const wa = ortSafe(w);
    const aDims = [g.group, g.mg, g.k];
    if (isPointwise(g)) {
      const xs = ortSafe(x);
      // The MatMul result [group, mg, t] of one image is that image's NCHW output.
      if (g.n === 1) return storeWhole(g, await this.#matmulF64(wa, aDims, xs, [g.group, g.k, t]), bias);
      const out = new Float64Array(g.n * g.m * t);
      for (let n = 0; n < g.n; n++) {
        const y = await this.#matmulF64(wa, aDims, xs.subarray(n * g.c * t, (n + 1) * g.c * t), [g.group, g.k, t]);
        storeChunk(g, y, n, 0, t, bias, out);
      }
      return out;
    }
    // Output rows per chunk, so that one chunk's im2col holds at most CHUNK_ELEMS doubles.
    const rows = Math.max(1, Math.min(g.oh, Math.floor(CHUNK_ELEMS / (g.group * g.k * g.ow))));
    const colElems = g.group * g.k * rows * g.ow;
    const scratch = this.#takeScratch(colElems * 8);
    const col = new Float64Array(scratch, 0, colElems);
    try {
      if (g.n === 1 && rows === g.oh) {
        for (let grp = 0; grp < g.group; grp++) im2colCols(g, x, 0, grp, 0, g.oh, col, grp * g.k * t, t);
        return storeWhole(g, await this.#matmulF64(wa, aDims, col, [g.group, g.k, t]), bias);
      }
      const out = new Float64Array(g.n * g.m * t);
      for (let n = 0; n < g.n; n++) {
        for (let oy0 = 0; oy0 < g.oh; oy0 += rows) {
          const oy1 = Math.min(g.oh, oy0 + rows);
          const r = (oy1 - oy0) * g.ow;
          for (let grp = 0; grp < g.group; grp++) im2colCols(g, x, n, grp, oy0, oy1, col, grp * g.k * r, r);
          const y = await this.#matmulF64(wa, aDims, col.subarray(0, g.group * g.k * r), [g.group, g.k, r]);
          storeChunk(g, y, n, oy0 * g.ow, r, bias, out);
        }
      }
      return out;
    } finally {
      this.#giveScratch(scratch);
    }
  }
}

/** The output of a single image computed in one MatMul ([M, OH·OW]): adds the bias and reduces in place. */
function storeWhole(g: ConvGeometry, y: Float64Array, bias: Float64Array | undefined): Float64Array {
  const t = g.oh * g.ow;
  for (let ch = 0; ch < g.m; ch++) {
    const b = bias === undefined ? 0 : bias[ch]!;
    for (let i = ch * t, end = i + t; i < end; i++) y[i] = mod(y[i]! + b);
  }
  return y;
}

/** out[n, ch, j0 + r] = (y[ch, r] + b[ch]) mod p for a chunk y [group·mg = M, rows]. */
function storeChunk(g: ConvGeometry, y: Float64Array, n: number, j0: number, rows: number, bias: Float64Array | undefined, out: Float64Array): void {
  const t = g.oh * g.ow;
  for (let ch = 0; ch < g.m; ch++) {
    const src = ch * rows;
    const dst = (n * g.m + ch) * t + j0;
    const b = bias === undefined ? 0 : bias[ch]!;
    for (let r = 0; r < rows; r++) out[dst + r] = mod(y[src + r]! + b);
  }
}

/**
 * Worst-case check of ConvInteger (uint8 × uint8, w_zero_point 128) on this CPU's kernels: a 1×1
 * convolution over K = MAX_BYTE_PLANE_K channels with x at 255 or alternating, weights at −128, 127
 * and mixed patterns; true when every output is exact.
 */
async function probeConvInteger(session: ort.InferenceSession): Promise<boolean> {
  const k = MAX_BYTE_PLANE_K;
  const m = 4;
  const pos = 4;
  const x = new Uint8Array(k * pos); // [1, k, 1, pos]
  const w = new Uint8Array(m * k); // [m, k, 1, 1], stored as w + 128
  for (let c = 0; c < k; c++) {
    x[c * pos] = 255;
    x[c * pos + 1] = c % 2 === 0 ? 255 : 0;
    x[c * pos + 2] = (c * 11) % 256;
    x[c * pos + 3] = 255 - (c % 7);
    w[c] = 0; // w = −128
    w[k + c] = 255; // w = 127
    w[2 * k + c] = c % 2 === 0 ? 0 : 255;
    w[3 * k + c] = (c * 37) % 256;
  }
  try {
    const res = await session.run({
      x: new ort.Tensor('uint8', x, [1, k, 1, pos]),
      w: new ort.Tensor('uint8', w, [m, k, 1, 1]),
      x_zero_point: new ort.Tensor('uint8', Uint8Array.of(0), []),
      w_zero_point: new ort.Tensor('uint8', Uint8Array.of(128), []),
    });
    const y = res.y!.data;
    if (!(y instanceof Int32Array) || y.length !== m * pos) return false;
    for (let o = 0; o < m; o++) {
      for (let j = 0; j < pos; j++) {
        let s = 0;
        for (let c = 0; c < k; c++) s += x[c * pos + j]! * (w[o * k + c]! - 128);
        if (y[o * pos + j] !== s) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}
