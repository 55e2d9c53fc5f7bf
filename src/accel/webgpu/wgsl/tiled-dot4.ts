/**
 * The tiled kernel (wgsl/tiled.ts: modes, tiling, shared memory, fold points) in the packed-dot-
 * product scheme of dot4.ts: per KT-tap step a workgroup loads X as three byte planes packed four
 * taps to a u32 (one u32 per plane, column and quad of taps) and W as the host-packed pair of byte
 * quads of w + 2^15 (dot4.ts `packDot4Weights`); each thread then spends six dot4U8Packed per output
 * and quad (C0…C3) and three per column (the Σx the offset needs), and folds every `foldTiles`
 * steps and at the end (common.ts `fold4`). Needs the WGSL language feature
 * packed_4x8_integer_dot_product.
 */
import { DOT4_FIELD_WGSL, unrolled } from './common.js';
import { paramsStruct } from './params.js';
import { decodeColumn, readX, writeOutputs, type TiledMode } from './tiled-io.js';
import { KT, TILED_PARAMS, checkTileConfig, tileDims, type TileConfig } from './tiled.js';

/** Quads of taps per shared-memory step. */
const KQ = KT / 4;

/** Throws unless every thread loads whole quads of both tiles (on top of checkTileConfig). */
export function checkDot4TileConfig(cfg: TileConfig): void {
  checkTileConfig(cfg);
  const { bm, bn } = tileDims(cfg);
  const threads = cfg.wgX * cfg.wgY;
  if (KQ % (threads / bn) !== 0 || KQ % (threads / bm) !== 0) {
    throw new RangeError(`tile config ${JSON.stringify(cfg)} is not usable by the dot4 kernel: KT/4 = ${KQ} must be a multiple of wgX·wgY / BN and of wgX·wgY / BM`);
  }
}

/** Shared memory of one workgroup, in bytes: three u32 planes of X and a u32 pair of W per quad. */
export function tiledDot4SharedBytes(cfg: TileConfig): number {
  const { bm, bn } = tileDims(cfg);
  return KQ * bn * 3 * 4 + KQ * bm * 8;
}

export function tiledDot4Shader(mode: TiledMode, cfg: TileConfig): string {
  checkDot4TileConfig(cfg);
  const { wgX, wgY, tm, tn } = cfg;
  const { bm, bn } = tileDims(cfg);
  const threads = wgX * wgY;
  const xLoads = KQ / (threads / bn);
  const wLoads = KQ / (threads / bm);
  const outs: [number, number][] = [];
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) outs.push([i, j]);
  const reset = (i: number, j: number): string => `c_${i}_${j} = vec4<u32>(0u);`;

  return /* wgsl */ `// slalom tiled ${mode} kernel (exact, packed 4×8-bit dot products), ${wgX}×${wgY} threads, ${tm}×${tn} outputs each, KT = ${KT}
${DOT4_FIELD_WGSL}
${paramsStruct(TILED_PARAMS)}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
${mode === 'conv' ? '@group(0) @binding(4) var<storage, read> taps: array<vec4<i32>>;' : ''}

const BM = ${bm}u;
const BN = ${bn}u;
const KT = ${KT}u;

// X's byte planes (x & 255, x >> 8 & 255, x >> 16), four taps per u32; W's byte quads (low, high).
var<workgroup> xs0: array<u32, ${KQ * bn}>;
var<workgroup> xs1: array<u32, ${KQ * bn}>;
var<workgroup> xs2: array<u32, ${KQ * bn}>;
var<workgroup> ws: array<vec2<u32>, ${KQ * bm}>;

@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.y * ${wgX}u + lid.x;
  let rowTile = wid.y % prm.rowTiles;
  let g = wid.y / prm.rowTiles;
  let m0 = rowTile * BM;
  let j0 = prm.colBase + wid.x * BN;
  let quads = (prm.k + 3u) / 4u;

  // The column of X this thread loads in every step, decomposed once.
  let ljj = t % BN;
  let lqq = t / BN;
  let jl = j0 + ljj;
  let colOk = jl < prm.cols;
  ${decodeColumn(mode)}
  // The row of W it loads.
  let lmm = t % BM;
  let lqw = t / BM;
  let wOk = m0 + lmm < prm.rows;
  let wbase = g * quads * prm.rows + m0 + lmm;

${outs.map(([i, j]) => `  var t_${i}_${j} = 0u;\n  var c_${i}_${j} = vec4<u32>(0u);`).join('\n')}
${unrolled(tn, (j) => `var s${j} = vec3<u32>(0u);`, '  ')}
  var steps = 0u;
  for (var k0 = 0u; k0 < prm.k; k0 += KT) {
${unrolled(xLoads, (i) => `{
      let qq = lqq + ${i * (threads / bn)}u;
      var quad = vec4<u32>(0u);
${unrolled(4, (tt) => `{
        let k = k0 + qq * 4u + ${tt}u;
        var v = 0u;
        if (colOk && k < prm.k) {
          ${readX(mode, (e) => `x[${e}]`)}
        }
        quad[${tt}] = v;
      }`, '      ')}
      let a = planes(quad);
      xs0[qq * BN + ljj] = a.x;
      xs1[qq * BN + ljj] = a.y;
      xs2[qq * BN + ljj] = a.z;
    }`)}
${unrolled(wLoads, (i) => `{
      let qq = lqw + ${i * (threads / bm)}u;
      let q = k0 / 4u + qq;
      var v = vec2<u32>(0u);
      if (wOk && q < quads) { v = w[wbase + q * prm.rows]; }
      ws[qq * BM + lmm] = v;
    }`)}
    workgroupBarrier();
    for (var qq = 0u; qq < ${KQ}u; qq++) {
${unrolled(tn, (j) => `let a${j} = vec3<u32>(xs0[qq * BN + lid.x + ${j * wgX}u], xs1[qq * BN + lid.x + ${j * wgX}u], xs2[qq * BN + lid.x + ${j * wgX}u]);`, '      ')}
${unrolled(tm, (i) => `let b${i} = ws[qq * BM + lid.y + ${i * wgY}u];`, '      ')}
${unrolled(tn, (j) => `s${j} += quadSums(a${j});`, '      ')}
${outs.map(([i, j]) => `      c_${i}_${j} += quadProducts(a${j}, b${i});`).join('\n')}
    }
    workgroupBarrier();
    steps += 1u;
    if (steps == prm.foldTiles) {
      steps = 0u;
${outs.map(([i, j]) => `      t_${i}_${j} = fold4(t_${i}_${j}, c_${i}_${j}, s${j});\n      ${reset(i, j)}`).join('\n')}
${unrolled(tn, (j) => `s${j} = vec3<u32>(0u);`, '      ')}
    }
  }

${writeOutputs(mode, cfg, (i, j) => `fold4(t_${i}_${j}, c_${i}_${j}, s${j})`)}
}
`;
}
