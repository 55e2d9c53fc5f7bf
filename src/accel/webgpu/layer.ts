/**
 * A linear layer as the WebGPU kernels hold it: which kernel family runs it, its weights in that
 * family's layout (as i32, uploaded once, resident on the GPU), its limb plan (limbs.ts), and the
 * dispatches one request needs — a pure description (shader, parameters, grid) that the engine
 * encodes. Choosing the dispatches here keeps engine.ts about the device only.
 */
/// <reference types="@webgpu/types" />
import { InvalidArgumentError } from '../../errors.js';
import { convGeometry, isPointwise, type ConvGeometry } from '../../kernels/conv.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';
import { formatDims } from '../../tensor/tensor.js';
import { planLayer, type LimbPlan } from './limbs.js';
import { depthwiseSharedBytes, depthwiseShader, DEPTHWISE_PARAMS, type DepthwiseShape, type DepthwiseTile } from './wgsl/depthwise.js';
import { denseShader, DENSE_PARAMS, reduceShader, REDUCE_PARAMS, REDUCE_THREADS, type DenseConfig } from './wgsl/dense.js';
import { packParams } from './wgsl/params.js';
import { KT, tiledShader, tileDims, TILED_PARAMS, type Arithmetic, type TileConfig } from './wgsl/tiled.js';

/** conv: the tiled kernel (conv or pointwise mode); depthwise: C/group = 1; dense: Gemm. */
export type KernelFamily = 'conv' | 'depthwise' | 'dense';

/** Batches up to this many rows take the dense (GEMV-like) kernel; larger ones the tiled kernel. */
export const DENSE_MAX_ROWS = 16;

/** What the engine needs to know of the device to size dispatches. */
export interface KernelLimits {
  readonly tile: TileConfig;
  readonly dense: DenseConfig;
  readonly maxSharedBytes: number;
  readonly maxInvocations: number;
  readonly maxWorkgroupsPerDimension: number;
}

export interface RegisteredLayer {
  readonly name: string;
  readonly source: ExactLinearLayer;
  readonly family: KernelFamily;
  readonly plan: LimbPlan;
  /** Weights in the family's layout, i32 (exact kernels) and, once the benchmark asks, f32. */
  readonly weights: { exact: GPUBuffer; f32?: GPUBuffer };
  /** Tap tables of the conv mode, per input "H×W". */
  readonly taps: Map<string, GPUBuffer>;
}

/** One compute dispatch: the pipeline (by key; `shader` builds it once), its parameters and grid. */
export interface Dispatch {
  readonly key: string;
  readonly shader: () => string;
  readonly params: Uint32Array;
  readonly grid: readonly [number, number, number];
  /** What binding 1 holds: the input x (and binding 2 the weights), or the split-K partial sums (no weights). */
  readonly input: 'x' | 'partial';
  readonly output: 'y' | 'partial';
  /** Needs the layer's tap table for input "H×W". */
  readonly taps?: ConvGeometry;
}

export interface DispatchPlan {
  readonly dispatches: readonly Dispatch[];
  readonly inDims: readonly number[];
  readonly outDims: readonly number[];
  /** Elements of the split-K partial buffer (0: none). */
  readonly partialElems: number;
}

/** Which family runs a layer; depthwise is decided by the weights (C/group = 1), as on the CPU. */
export function familyOf(layer: ExactLinearLayer): KernelFamily {
  if (layer.op === 'Gemm') return 'dense';
  return layer.w.dims[1] === 1 ? 'depthwise' : 'conv';
}

/** Weights laid out for `family`: dense [K, N] as given; depthwise [M, kH·kW] as given; conv [group][K][M/group]. */
export function weightLayout(layer: ExactLinearLayer, family: KernelFamily): Int32Array {
  const src = layer.w.data;
  if (family !== 'conv') return Int32Array.from(src);
  const [m, cg, kH, kW] = layer.w.dims as [number, number, number, number];
  const group = layer.conv!.group;
  const mg = m / group;
  const k = cg * kH * kW;
  const out = new Int32Array(src.length);
  for (let g = 0; g < group; g++) {
    for (let o = 0; o < mg; o++) {
      const row = (g * mg + o) * k;
      for (let t = 0; t < k; t++) out[(g * k + t) * mg + o] = src[row + t]!;
    }
  }
  return out;
}

/** Per tap k = (c, ky, kx) of w's layout: (input offset c·H·W + ky·dH·W + kx·dW, ky·dH, kx·dW, 0). */
export function tapTable(g: ConvGeometry): Int32Array {
  const out = new Int32Array(g.k * 4);
  let i = 0;
  for (let c = 0; c < g.cg; c++) {
    for (let ky = 0; ky < g.kH; ky++) {
      for (let kx = 0; kx < g.kW; kx++, i += 4) {
        out[i] = c * g.h * g.w + ky * g.dH * g.w + kx * g.dW;
        out[i + 1] = ky * g.dH;
        out[i + 2] = kx * g.dW;
      }
    }
  }
  return out;
}

/** Checks a layer against the limb bound and its family; throws OverflowError / InvalidArgumentError naming it. */
export function planRegistration(layer: ExactLinearLayer, name: string): { family: KernelFamily; plan: LimbPlan } {
  if (layer.op === 'Conv' && layer.conv === undefined) throw new InvalidArgumentError('a Conv layer without conv attributes', { layer: name });
  return { family: familyOf(layer), plan: planLayer(layer, name) };
}

const DEPTHWISE_TILES: readonly DepthwiseTile[] = [
  { tw: 16, th: 16, rowsPerThread: 2 },
  { tw: 8, th: 8, rowsPerThread: 1 },
  { tw: 4, th: 4, rowsPerThread: 1 },
  { tw: 1, th: 1, rowsPerThread: 1 },
];

function gridCheck(layer: string, grid: readonly number[], limits: KernelLimits): readonly [number, number, number] {
  for (const d of grid) {
    if (d > limits.maxWorkgroupsPerDimension) {
      throw new InvalidArgumentError(`a dispatch of ${grid.join(' × ')} workgroups exceeds the device's ${limits.maxWorkgroupsPerDimension} per dimension; send fewer items per request`, { layer });
    }
  }
  return grid as [number, number, number];
}

function convPlan(l: RegisteredLayer, dims: readonly number[], arith: Arithmetic, limits: KernelLimits): DispatchPlan {
  const conv = l.source.conv!;
  const g = convGeometry(dims, l.source.w.dims, conv);
  const outDims = [g.n, g.m, g.oh, g.ow];
  const segment = arith === 'exact' ? l.plan.segmentTaps : g.k;
  if (l.family === 'depthwise') {
    const shape: DepthwiseShape = { kH: g.kH, kW: g.kW, sH: g.sH, sW: g.sW, dH: g.dH, dW: g.dW };
    const tile = DEPTHWISE_TILES.find((t) => depthwiseSharedBytes(shape, t, arith) <= limits.maxSharedBytes && t.tw * (t.th / t.rowsPerThread) <= limits.maxInvocations);
    if (tile === undefined) throw new InvalidArgumentError(`the depthwise kernel's input patch (${g.kH}×${g.kW}, dilation ${g.dH}×${g.dW}) does not fit the device's shared memory`, { layer: l.name });
    const tilesX = Math.ceil(g.ow / tile.tw);
    const params = packParams(DEPTHWISE_PARAMS, { cIn: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, mOut: g.m, mg: g.mg, tilesX, padT: g.padTop, padL: g.padLeft, foldTaps: Math.min(segment, g.k) });
    const grid = gridCheck(l.name, [tilesX * Math.ceil(g.oh / tile.th), g.m, g.n], limits);
    const key = `depthwise:${arith}:${JSON.stringify(shape)}:${JSON.stringify(tile)}`;
    return { dispatches: [{ key, shader: () => depthwiseShader(shape, tile, arith), params, grid, input: 'x', output: 'y' }], inDims: dims, outDims, partialElems: 0 };
  }
  const mode = isPointwise(g) ? 'pointwise' : 'conv';
  const { bm, bn } = tileDims(limits.tile);
  const steps = Math.ceil(g.k / KT);
  const rowTiles = Math.ceil(g.mg / bm);
  const cols = g.n * g.oh * g.ow;
  const base = { rows: g.mg, cols, k: g.k, foldTiles: segment >= g.k ? steps : Math.floor(segment / KT), rowTiles, cIn: g.c, hw: g.h * g.w, h: g.h, w: g.w, ohw: g.oh * g.ow, ow: g.ow, mOut: g.m, cg: g.cg, sH: g.sH, sW: g.sW, padT: g.padTop, padL: g.padLeft };
  const key = `tiled:${mode}:${arith}:${JSON.stringify(limits.tile)}`;
  const perDispatch = limits.maxWorkgroupsPerDimension * bn;
  const dispatches: Dispatch[] = [];
  for (let colBase = 0; colBase < cols; colBase += perDispatch) {
    const span = Math.min(perDispatch, cols - colBase);
    dispatches.push({
      key,
      shader: () => tiledShader(mode, limits.tile, arith),
      params: packParams(TILED_PARAMS, { ...base, colBase }),
      grid: gridCheck(l.name, [Math.ceil(span / bn), rowTiles * g.group, 1], limits),
      input: 'x',
      output: 'y',
      ...(mode === 'conv' ? { taps: g } : {}),
    });
  }
  return { dispatches, inDims: dims, outDims, partialElems: 0 };
}

function densePlan(l: RegisteredLayer, dims: readonly number[], arith: Arithmetic, limits: KernelLimits): DispatchPlan {
  const [kW, n] = l.source.w.dims as [number, number];
  if (dims.length !== 2 || dims[1] !== kW) throw new InvalidArgumentError(`Gemm: x ${formatDims(dims)} does not match w [${kW}, ${n}]`, { layer: l.name });
  const [b, k] = dims as [number, number];
  const outDims = [b, n];
  const segment = arith === 'exact' ? l.plan.segmentTaps : k;
  if (b > DENSE_MAX_ROWS) {
    const { bm, bn } = tileDims(limits.tile);
    const steps = Math.ceil(k / KT);
    const rowTiles = Math.ceil(n / bm);
    const params = packParams(TILED_PARAMS, { rows: n, cols: b, colBase: 0, k, foldTiles: segment >= k ? steps : Math.floor(segment / KT), rowTiles, cIn: 0, hw: 0, h: 0, w: 0, ohw: 0, ow: 0, mOut: n, cg: 0, sH: 0, sW: 0, padT: 0, padL: 0 });
    const grid = gridCheck(l.name, [Math.ceil(b / bn), rowTiles, 1], limits);
    return { dispatches: [{ key: `tiled:dense:${arith}:${JSON.stringify(limits.tile)}`, shader: () => tiledShader('dense', limits.tile, arith), params, grid, input: 'x', output: 'y' }], inDims: dims, outDims, partialElems: 0 };
  }
  const cfg = limits.dense;
  const colTiles = Math.ceil(n / cfg.cols);
  // Enough workgroups to fill a large GPU, each thread still with ≥ 64 taps of its own.
  const kSplit = Math.max(1, Math.min(Math.ceil(256 / colTiles), Math.floor(k / (cfg.slices * 64))));
  const kChunk = Math.ceil(k / (kSplit * cfg.slices));
  const params = packParams(DENSE_PARAMS, { n, k, b, kChunk, foldTaps: Math.max(1, Math.min(segment, k)) });
  const key = `dense:${arith}:${JSON.stringify(cfg)}`;
  const grid = gridCheck(l.name, [colTiles, kSplit, Math.ceil(b / cfg.rowsPerGroup)], limits);
  const main: Dispatch = { key, shader: () => denseShader(cfg, arith), params, grid, input: 'x', output: kSplit > 1 ? 'partial' : 'y' };
  if (kSplit === 1) return { dispatches: [main], inDims: dims, outDims, partialElems: 0 };
  const count = b * n;
  const reduce: Dispatch = {
    key: `reduce:${arith}`,
    shader: () => reduceShader(arith),
    params: packParams(REDUCE_PARAMS, { count, splits: kSplit }),
    grid: gridCheck(l.name, [Math.ceil(count / REDUCE_THREADS), 1, 1], limits),
    input: 'partial',
    output: 'y',
  };
  return { dispatches: [main, reduce], inDims: dims, outDims, partialElems: kSplit * count };
}

/** The dispatches that compute `layer` on an input of shape `dims`. */
export function dispatchPlan(layer: RegisteredLayer, dims: readonly number[], arith: Arithmetic, limits: KernelLimits): DispatchPlan {
  return layer.family === 'dense' ? densePlan(layer, dims, arith, limits) : convPlan(layer, dims, arith, limits);
}
