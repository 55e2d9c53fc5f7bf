/** The float max pools of kernels/float/pool.ts in SIMD (assembly/pool.ts). */
import { alloc, release } from './arena.js';
import { simd } from './module.js';
import { withStaged } from './staging.js';

/**
 * 2×2 max pooling with stride 2 of `rows` rows of `width` values (both even; rows of consecutive
 * planes may follow each other, as no window spans two planes), into out (rows/2 × width/2 values).
 */
export function maxPool2x2(x: Float64Array, rows: number, width: number, out: Float64Array): void {
  withStaged([{ view: x, use: 'in' }, { view: out, use: 'out' }], (xAt, outAt) => simd().kernels.maxPool2x2(xAt, outAt, rows / 2, width));
}

/**
 * 3×3 max pooling with stride 2 and padding 1 on every side of `planes` planes of h×w values, into
 * out (planes of ⌊(h − 1)/2⌋ + 1 × ⌊(w − 1)/2⌋ + 1 values).
 */
export function maxPool3x3s2p1(x: Float64Array, planes: number, h: number, w: number, out: Float64Array): void {
  const ow = Math.floor((w - 1) / 2) + 1;
  const rows = alloc(h * ow * 8);
  try {
    withStaged([{ view: x, use: 'in', slack: 16 }, { view: out, use: 'out' }], (xAt, outAt) => simd().kernels.maxPool3x3s2p1(xAt, outAt, planes, h, w, rows.at));
  } finally {
    release(rows);
  }
}
