/**
 * A linear layer as the WebGPU kernels hold it: which kernel family runs it, its weights in that
 * family's layout (as i32 for the 12-bit-limb kernels, packed bytes for the dot4 ones; each uploaded
 * once, when first needed, and resident on the GPU), its limb plan (limbs.ts) and, where its kernels
 * use packed dot products, its dot4 plan (dot4.ts), and the dispatches one request needs —
 * a pure description (shader, parameters, grid) that the engine encodes. Choosing the dispatches
 * here keeps engine.ts about the device only.
 */
/// <reference types="@webgpu/types" />
import { InvalidArgumentError } from '../../errors.js';
import { convGeometry, isPointwise, type ConvGeometry } from '../../kernels/conv.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';
import { formatDims } from '../../tensor/tensor.js';
import { packDot4Weights, planDot4, type Dot4Plan } from './dot4.js';
import type { WebGpuKernelPath } from './kernel-path.js';
import { planLayer, type LimbPlan } from './limbs.js';
import { depthwiseSharedBytes, depthwiseShader, DEPTHWISE_PARAMS, type DepthwiseShape, type DepthwiseTile } from './wgsl/depthwise.js';
import { denseDot4Shader } from './wgsl/dense-dot4.js';
import { denseShader, DENSE_PARAMS, reduceShader, REDUCE_PARAMS, REDUCE_THREADS, type DenseConfig } from './wgsl/dense.js';
import { packParams } from './wgsl/params.js';
import { tiledDot4Shader } from './wgsl/tiled-dot4.js';
import { KT, tiledShader, tileDims, TILED_PARAMS, type Arithmetic, type TileConfig, type TiledMode } from './wgsl/tiled.js';

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
  /** Present when the conv or dense kernels run this layer with packed dot products. */
  readonly dot4?: Dot4Plan;
  /** Weights by the layout they are in (weightData), uploaded when a dispatch first needs them. */
  readonly weights: { [K in WeightKind]?: GPUBuffer };
  /** Tap tables of the conv mode, per input "H×W". */
  readonly taps: Map<string, GPUBuffer>;
}

/** i32 in the family's layout (12-bit-limb kernels), packed byte quads (dot4 kernels), f32 (the float twin). */
export type WeightKind = 'exact' | 'dot4' | 'f32';

/** One compute dispatch: the pipeline (by key; `shader` builds it once), its parameters and grid. */
export interface Dispatch {
  readonly key: string;
  readonly shader: () => string;
  readonly params: Uint32Array;
  readonly grid: readonly [number, number, number];
  /** What binding 1 holds: the input x (and binding 2 the weights), or the split-K partial sums (no weights). */
  readonly input: 'x' | 'partial';
  /** Which weights binding 2 holds, when input is x. */
  readonly weights: WeightKind;
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

/** The weights of `kind` in the layout its kernels read, for upload. */
export function weightData(layer: RegisteredLayer, kind: WeightKind): Int32Array | Uint32Array | Float32Array {
  if (kind === 'f32') return Float32Array.from(weightLayout(layer.source, layer.family));
  if (kind === 'exact') return weightLayout(layer.source, layer.family);
  const src = layer.source.w.data;
  if (layer.family === 'dense') {
    const [k, n] = layer.source.w.dims as [number, number];
    return packDot4Weights(1, n, k, (_, o, t) => src[t * n + o]!);
  }
  const group = layer.source.conv!.group;
  const mg = layer.source.w.dims[0]! / group;
  const k = layer.plan.taps;
  return packDot4Weights(group, mg, k, (g, o, t) => src[(g * mg + o) * k + t]!);
}

/**
 * Checks a layer against the limb bound and its family, and, when the engine's path is dot4, plans
 * packed dot products for it (conv and dense families; depthwise stays on limbs). A layer outside
 * dot4's bound is refused when dot4 was forced, else left to the limb kernels. Throws
 * OverflowError / InvalidArgumentError naming the layer.
 */
export function planRegistration(layer: ExactLinearLayer, name: string, path: WebGpuKernelPath, forced: boolean): { family: KernelFamily; plan: LimbPlan; dot4?: Dot4Plan } {
  if (layer.op === 'Conv' && layer.conv === undefined) throw new InvalidArgumentError('a Conv layer without conv attributes', { layer: name });
  const family = familyOf(layer);
  const plan = planLayer(layer, name);
  if (path !== 'dot4' || family === 'depthwise') return { family, plan };
  try {
    return { family, plan, dot4: planDot4(layer, plan.taps, name) };
  } catch (e) {
    if (forced) throw e;
    return { family, plan };
  }
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

/** Steps between folds of the tiled kernels for a segment of `segment` taps (every step when the segment covers K). */
function foldTiles(segment: number, k: number): number {
  return segment >= k ? Math.ceil(k / KT) : Math.floor(segment / KT);
}

/** The tiled kernel's scheme for this layer and arithmetic: its pipeline, the weights it reads and its segment. */
function tiledScheme(l: RegisteredLayer, mode: TiledMode, arith: Arithmetic, tile: TileConfig): { dispatch: Pick<Dispatch, 'key' | 'shader' | 'weights'>; segment: number } {
  if (arith === 'f32') return { dispatch: { key: `tiled:${mode}:f32:${JSON.stringify(tile)}`, shader: () => tiledShader(mode, tile, 'f32'), weights: 'f32' }, segment: Infinity };
  if (l.dot4 !== undefined) return { dispatch: { key: `tiled-dot4:${mode}:${JSON.stringify(tile)}`, shader: () => tiledDot4Shader(mode, tile), weights: 'dot4' }, segment: l.dot4.segmentTaps };
  return { dispatch: { key: `tiled:${mode}:exact:${JSON.stringify(tile)}`, shader: () => tiledShader(mode, tile, 'exact'), weights: 'exact' }, segment: l.plan.segmentTaps };
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
    return { dispatches: [{ key, shader: () => depthwiseShader(shape, tile, arith), params, grid, input: 'x', weights: arith, output: 'y' }], inDims: dims, outDims, partialElems: 0 };
  }
  const mode = isPointwise(g) ? 'pointwise' : 'conv';
  const { bm, bn } = tileDims(limits.tile);
  const rowTiles = Math.ceil(g.mg / bm);
  const cols = g.n * g.oh * g.ow;
  const scheme = tiledScheme(l, mode, arith, limits.tile);
  const base = { rows: g.mg, cols, k: g.k, foldTiles: foldTiles(scheme.segment, g.k), rowTiles, cIn: g.c, hw: g.h * g.w, h: g.h, w: g.w, ohw: g.oh * g.ow, ow: g.ow, mOut: g.m, cg: g.cg, sH: g.sH, sW: g.sW, padT: g.padTop, padL: g.padLeft };
  const perDispatch = limits.maxWorkgroupsPerDimension * bn;
  const dispatches: Dispatch[] = [];
  for (let colBase = 0; colBase < cols; colBase += perDispatch) {
    const span = Math.min(perDispatch, cols - colBase);
    dispatches.push({
      ...scheme.dispatch,
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
  if (b > DENSE_MAX_ROWS) {
    const { bm, bn } = tileDims(limits.tile);
    const rowTiles = Math.ceil(n / bm);
    const scheme = tiledScheme(l, 'dense', arith, limits.tile);
    const params = packParams(TILED_PARAMS, { rows: n, cols: b, colBase: 0, k, foldTiles: foldTiles(scheme.segment, k), rowTiles, cIn: 0, hw: 0, h: 0, w: 0, ohw: 0, ow: 0, mOut: n, cg: 0, sH: 0, sW: 0, padT: 0, padL: 0 });
    const grid = gridCheck(l.name, [Math.ceil(b / bn), rowTiles, 1], limits);
    return { dispatches: [{ ...scheme.dispatch, params, grid, input: 'x', output: 'y' }], inDims: dims, outDims, partialElems: 0 };
  }
  const cfg = limits.dense;
  const colTiles = Math.ceil(n / cfg.cols);
  // Enough workgroups to fill a large GPU, each thread still with ≥ 64 taps of its own.
  const kSplit = Math.max(1, Math.min(Math.ceil(256 / colTiles), Math.floor(k / (cfg.slices * 64))));
  const dot4 = arith === 'exact' && l.dot4 !== undefined;
  // The dot4 kernel takes whole quads of taps per thread (its segments are whole quads already: dot4.ts).
  const kChunk = dot4 ? Math.ceil(k / (kSplit * cfg.slices * 4)) * 4 : Math.ceil(k / (kSplit * cfg.slices));
  const segment = arith === 'f32' ? k : dot4 ? l.dot4!.segmentTaps : l.plan.segmentTaps;
  const params = packParams(DENSE_PARAMS, { n, k, b, kChunk, foldTaps: Math.max(1, Math.min(segment, k)) });
  const grid = gridCheck(l.name, [colTiles, kSplit, Math.ceil(b / cfg.rowsPerGroup)], limits);
  const kernel: Pick<Dispatch, 'key' | 'shader' | 'weights'> = dot4
    ? { key: `dense-dot4:${JSON.stringify(cfg)}`, shader: () => denseDot4Shader(cfg), weights: 'dot4' }
    : { key: `dense:${arith}:${JSON.stringify(cfg)}`, shader: () => denseShader(cfg, arith), weights: arith };
  const main: Dispatch = { ...kernel, params, grid, input: 'x', output: kSplit > 1 ? 'partial' : 'y' };
  if (kSplit === 1) return { dispatches: [main], inDims: dims, outDims, partialElems: 0 };
  const count = b * n;
  const reduce: Dispatch = {
    key: `reduce:${arith}`,
    shader: () => reduceShader(arith),
    params: packParams(REDUCE_PARAMS, { count, splits: kSplit }),
    grid: gridCheck(l.name, [Math.ceil(count / REDUCE_THREADS), 1, 1], limits),
    input: 'partial',
    weights: arith,
    output: 'y',
  };
  return { dispatches: [main, reduce], inDims: dims, outDims, partialElems: kSplit * count };
}

/** The dispatches that compute `layer` on an input of shape `dims`. */
export function dispatchPlan(layer: RegisteredLayer, dims: readonly number[], arith: Arithmetic, limits: KernelLimits): DispatchPlan {
  return layer.family === 'dense' ? densePlan(layer, dims, arith, limits) : convPlan(layer, dims, arith, limits);
}
