/**
 * The tiled kernel: one output matrix Y[m, j] = Σ_k W[k, m]·X(k, j) per group, computed in
 * BM × BN tiles with workgroup-shared memory (a GEMM over an implicit im2col), in three modes that
 * differ only in how X(k, j) is read and Y is written:
 * - `conv`: any stride, padding, dilation and group. j = (image, output pixel), k = (channel, ky, kx)
 *   in w's layout; a per-layer tap table gives each k's input offset and (dy, dx) for the padding test;
 * - `pointwise` (1×1, stride 1, unpadded): X(k, j) is input channel k at pixel j, no table, no test;
 * - `dense` (Gemm, batched): j is the batch row, X(k, j) = x[j·K + k].
 *
 * Each workgroup (wgX × wgY threads) loads a KT × BN tile of X (split into limbs, limbs.ts) and a
 * KT × BM tile of W into shared memory per step; each thread accumulates tm × tn outputs in
 * registers (two i32 limb sums each, straight-line code generated here), folding them into a
 * residue every `foldTiles` steps (the segment of limbs.ts) and at the end. A thread loads a fixed
 * column j of X in every step, so the column's decomposition into (image, pixel) happens once.
 *
 * `arith: 'f32'` generates the same kernel in float32 (one multiply-add per MAC, no limbs, no fold):
 * the fp32 path on the same device that the benchmark's exactness tax compares against. Never used
 * for slalom's results.
 */
import { MIN_SEGMENT_TAPS } from '../limbs.js';
import { FIELD_WGSL, unrolled } from './common.js';
import { paramsStruct } from './params.js';
import { decodeColumn, readX, writeOutputs, type TiledMode } from './tiled-io.js';

export type { TiledMode };
export type Arithmetic = 'exact' | 'f32';

/** Threads per workgroup (wgX × wgY) and outputs per thread (tm rows × tn columns). */
export interface TileConfig {
  readonly wgX: number;
  readonly wgY: number;
  readonly tm: number;
  readonly tn: number;
}

/** Taps per shared-memory step: the segment granularity limbs.ts assumes. */
export const KT = MIN_SEGMENT_TAPS;

export const TILED_PARAMS = ['rows', 'cols', 'colBase', 'k', 'foldTiles', 'rowTiles', 'cIn', 'hw', 'h', 'w', 'ohw', 'ow', 'mOut', 'cg', 'sH', 'sW', 'padT', 'padL'] as const;
export type TiledParams = Record<(typeof TILED_PARAMS)[number], number>;

/** BM (output rows) and BN (columns) per workgroup. */
export function tileDims(cfg: TileConfig): { bm: number; bn: number } {
  return { bm: cfg.wgY * cfg.tm, bn: cfg.wgX * cfg.tn };
}

/** Throws unless every thread loads whole rows of both tiles (the fixed-column loading above needs it). */
export function checkTileConfig(cfg: TileConfig): void {
  const { bm, bn } = tileDims(cfg);
  const threads = cfg.wgX * cfg.wgY;
  const ok = [cfg.wgX, cfg.wgY, cfg.tm, cfg.tn].every((v) => Number.isInteger(v) && v >= 1) && threads % bn === 0 && threads % bm === 0 && KT % (threads / bn) === 0 && KT % (threads / bm) === 0;
  if (!ok) throw new RangeError(`tile config ${JSON.stringify(cfg)} is not usable: wgX·wgY must be a multiple of BM = wgY·tm and BN = wgX·tn, with KT = ${KT} a multiple of both quotients`);
}

/** Shared memory of one workgroup, in bytes. */
export function tiledSharedBytes(cfg: TileConfig, arith: Arithmetic): number {
  const { bm, bn } = tileDims(cfg);
  return KT * bn * (arith === 'exact' ? 8 : 4) + KT * bm * 4;
}

export function tiledShader(mode: TiledMode, cfg: TileConfig, arith: Arithmetic): string {
  checkTileConfig(cfg);
  const { wgX, wgY, tm, tn } = cfg;
  const { bm, bn } = tileDims(cfg);
  const threads = wgX * wgY;
  const xLoads = KT / (threads / bn);
  const wLoads = KT / (threads / bm);
  const exact = arith === 'exact';
  const elem = exact ? 'u32' : 'f32';
  const wElem = exact ? 'i32' : 'f32';
  const xsElem = exact ? 'vec2<i32>' : 'f32';
  const zeroX = exact ? 'vec2<i32>(0, 0)' : '0.0';
  const zeroW = exact ? '0i' : '0.0';
  const loadX = (e: string): string => (exact ? `limbs(x[${e}])` : `x[${e}]`);
  const outs: [number, number][] = [];
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) outs.push([i, j]);

  const result = (i: number, j: number): string => (exact ? `fold(t_${i}_${j}, lo_${i}_${j}, hi_${i}_${j})` : `a_${i}_${j}`);

  return /* wgsl */ `// slalom tiled ${mode} kernel (${arith}), ${wgX}×${wgY} threads, ${tm}×${tn} outputs each, KT = ${KT}
${exact ? FIELD_WGSL : ''}
${paramsStruct(TILED_PARAMS)}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> x: array<${elem}>;
@group(0) @binding(2) var<storage, read> w: array<${wElem}>;
@group(0) @binding(3) var<storage, read_write> y: array<${elem}>;
${mode === 'conv' ? '@group(0) @binding(4) var<storage, read> taps: array<vec4<i32>>;' : ''}

const BM = ${bm}u;
const BN = ${bn}u;
const KT = ${KT}u;

var<workgroup> xs: array<${xsElem}, ${KT * bn}>;
var<workgroup> ws: array<${wElem}, ${KT * bm}>;

@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.y * ${wgX}u + lid.x;
  let rowTile = wid.y % prm.rowTiles;
  let g = wid.y / prm.rowTiles;
  let m0 = rowTile * BM;
  let j0 = prm.colBase + wid.x * BN;

  // The column of X this thread loads in every step, decomposed once.
  let ljj = t % BN;
  let lkk = t / BN;
  let jl = j0 + ljj;
  let colOk = jl < prm.cols;
  ${decodeColumn(mode)}
  // The row of W it loads.
  let lmm = t % BM;
  let lkw = t / BM;
  let wOk = m0 + lmm < prm.rows;
  let wbase = g * prm.k * prm.rows + m0 + lmm;

${outs.map(([i, j]) => (exact ? `  var t_${i}_${j} = 0u;\n  var lo_${i}_${j} = 0i;\n  var hi_${i}_${j} = 0i;` : `  var a_${i}_${j} = 0.0;`)).join('\n')}
  var steps = 0u;
  for (var k0 = 0u; k0 < prm.k; k0 += KT) {
${unrolled(xLoads, (i) => `{
      let kk = lkk + ${i * (threads / bn)}u;
      let k = k0 + kk;
      var v = ${zeroX};
      if (colOk && k < prm.k) {
        ${readX(mode, loadX)}
      }
      xs[kk * BN + ljj] = v;
    }`)}
${unrolled(wLoads, (i) => `{
      let kk = lkw + ${i * (threads / bm)}u;
      let k = k0 + kk;
      var v = ${zeroW};
      if (wOk && k < prm.k) { v = w[wbase + k * prm.rows]; }
      ws[kk * BM + lmm] = v;
    }`)}
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
${unrolled(tn, (j) => `let xv${j} = xs[kk * BN + lid.x + ${j * wgX}u];`, '      ')}
${unrolled(tm, (i) => `let wv${i} = ws[kk * BM + lid.y + ${i * wgY}u];`, '      ')}
${outs.map(([i, j]) => (exact ? `      lo_${i}_${j} += wv${i} * xv${j}.x;\n      hi_${i}_${j} += wv${i} * xv${j}.y;` : `      a_${i}_${j} = fma(wv${i}, xv${j}, a_${i}_${j});`)).join('\n')}
    }
    workgroupBarrier();
${
  exact
    ? `    steps += 1u;
    if (steps == prm.foldTiles) {
      steps = 0u;
${outs.map(([i, j]) => `      t_${i}_${j} = fold(t_${i}_${j}, lo_${i}_${j}, hi_${i}_${j});\n      lo_${i}_${j} = 0i;\n      hi_${i}_${j} = 0i;`).join('\n')}
    }`
    : ''
}
  }

${writeOutputs(mode, cfg, result)}
}
`;
}
