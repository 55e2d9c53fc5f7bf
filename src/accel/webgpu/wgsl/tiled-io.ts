/**
 * What the tiled kernels' modes (wgsl/tiled.ts: conv, pointwise, dense) differ in, shared by both
 * exact schemes (12-bit limbs, tiled.ts; packed dot products, tiled-dot4.ts) and the float32 twin:
 * how a thread's column j of X is decomposed, how X(k, j) is read, and where Y[m, j] is written.
 */
import { unrolled } from './common.js';

export type TiledMode = 'conv' | 'pointwise' | 'dense';

/** Decomposes the loading thread's column `jl` (of group `g`) once: `xbase` and, for conv, the window origin. */
export function decodeColumn(mode: TiledMode): string {
  return {
    conv: `let n = jl / prm.ohw;
  let r = jl % prm.ohw;
  let iy0 = i32((r / prm.ow) * prm.sH) - i32(prm.padT);
  let ix0 = i32((r % prm.ow) * prm.sW) - i32(prm.padL);
  let xbase = i32((n * prm.cIn + g * prm.cg) * prm.hw) + iy0 * i32(prm.w) + ix0;`,
    pointwise: `let xbase = (jl / prm.ohw * prm.cIn + g * prm.cg) * prm.hw + jl % prm.ohw;`,
    dense: `let xbase = jl * prm.k;`,
  }[mode];
}

/** Statements setting `v` to load(index of X(k, j)) — left as it was where conv padding reads nothing. */
export function readX(mode: TiledMode, load: (index: string) => string): string {
  return {
    conv: `let tap = taps[k];
        let iy = iy0 + tap.y;
        let ix = ix0 + tap.z;
        if (iy >= 0 && iy < i32(prm.h) && ix >= 0 && ix < i32(prm.w)) { v = ${load('u32(xbase + tap.x)')}; }`,
    pointwise: `v = ${load('xbase + k * prm.hw')};`,
    dense: `v = ${load('xbase + k')};`,
  }[mode];
}

/** The end of a tiled kernel: each thread writes its tm × tn outputs `result(i, j)` where they exist. */
export function writeOutputs(mode: TiledMode, cfg: { wgX: number; wgY: number; tm: number; tn: number }, result: (i: number, j: number) => string): string {
  const { wgX, wgY, tm, tn } = cfg;
  const outIndex = mode === 'dense' ? (j: number) => `jc${j} * prm.rows + m` : (j: number) => `(jn${j} * prm.mOut + g * prm.rows + m) * prm.ohw + jr${j}`;
  const decodeOut = (j: number): string => (mode === 'dense' ? '' : `  let jn${j} = jc${j} / prm.ohw;\n  let jr${j} = jc${j} % prm.ohw;\n`);
  return `${unrolled(tn, (j) => `let jc${j} = j0 + lid.x + ${j * wgX}u;`, '  ')}
${Array.from({ length: tn }, (_, j) => decodeOut(j)).join('')}${Array.from({ length: tm }, (_, i) => `  {
    let m = m0 + lid.y + ${i * wgY}u;
    if (m < prm.rows) {
${unrolled(tn, (j) => `if (jc${j} < prm.cols) { y[${outIndex(j)}] = ${result(i, j)}; }`, '      ')}
    }
  }`).join('\n')}`;
}
