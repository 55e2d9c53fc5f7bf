/**
 * Freivalds' dot products (owner: src/verify/freivalds.ts, which proves what they decide): the
 * weighted sums of a layer's output rows and of its input items, two secrets per read. u32
 * residues times u32 weights into u64 lanes: each product is < 2^48, a lane adds at most
 * LANE_PRODUCTS of them before it is folded mod p (common.ts), so every sum is exact.
 */
import { lanesModP, LANE_PRODUCTS, mulAddHigh, mulAddLow, P64 } from './common';

/** acc + Σ over four lanes of x·w (two u64 lanes, two products each). */
// @ts-ignore: decorator
@inline
export function dot4(acc: v128, x: v128, w: v128): v128 {
  return mulAddHigh(mulAddLow(acc, x, w), x, w);
}

/** Values a dot product may run over between two folds of its lanes (two products per lane per four values). */
export const SEGMENT: i32 = 2 * LANE_PRODUCTS;

/**
 * Σ_q x[q]·wa[q] and Σ_q x[q]·wb[q] mod p over n u32 values at x, as two u32 at out (the standalone
 * form, for checks not fused into a boundary pass). Weights are residues < p.
 */
export function dots2(x: usize, wa: usize, wb: usize, n: i32, out: usize): void {
  let sa: u64 = 0;
  let sb: u64 = 0;
  let i = 0;
  while (i < n) {
    const stop = min(n, i + SEGMENT);
    let a = i64x2.splat(0);
    let b = i64x2.splat(0);
    for (; i + 4 <= stop; i += 4) {
      const at = <usize>i << 2;
      const v = v128.load(x + at);
      a = dot4(a, v, v128.load(wa + at));
      b = dot4(b, v, v128.load(wb + at));
    }
    for (; i < stop; i++) {
      const at = <usize>i << 2;
      const v = <u64>load<u32>(x + at);
      sa += v * <u64>load<u32>(wa + at);
      sb += v * <u64>load<u32>(wb + at);
    }
    sa = (sa % P64) + lanesModP(a);
    sb = (sb % P64) + lanesModP(b);
  }
  store<u32>(out, <u32>(sa % P64));
  store<u32>(out, <u32>(sb % P64), 4);
}
