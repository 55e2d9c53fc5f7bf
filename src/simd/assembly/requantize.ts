/**
 * Requantization's per-value math (owner: src/quant/fixed-point.ts, which states the semantics and
 * proves the fusions exact), as inline helpers of the boundary pass (boundary.ts, boundary-pool.ts).
 *
 * z = fx − u + b̃ mod p, centered to (−p/2, p/2): fx, u, b̃ < p, so fx + (b̃ − p) − u lies in
 * (−2p, p) and two conditional additions of p land it in [0, p) — i32 lanes, sign masks instead of
 * branches. The clamp bounds are ±2^30 at most, so z + 2^(shift−1) stays an int32 and the arithmetic
 * right shift is the rounding division of the next layer's quantization. Floats are rounded half up,
 * floor(v·2^lx + 0.5), and a result whose magnitude an int32 does not hold (NaN, ±∞, ≥ 2^31) is
 * flagged, never wrapped.
 */
import { HALF_P, loadPacked1, loadPacked4, P, residue1, residue4 } from './common';

/** Centered z for four reply residues fx, minus packed u at `u` (when u ≠ 0), plus bv = b̃ − p. */
// @ts-ignore: decorator
@inline
export function centered4(fx: v128, u: usize, bv: v128): v128 {
  let z = i32x4.add(fx, bv);
  if (u) z = i32x4.sub(z, loadPacked4(u));
  z = residue4(residue4(z));
  return i32x4.sub(z, v128.and(i32x4.splat(P), i32x4.gt_s(z, i32x4.splat(HALF_P))));
}

// @ts-ignore: decorator
@inline
export function centered1(fx: i32, u: usize, b: i32): i32 {
  let z = fx + b;
  if (u) z -= loadPacked1(u);
  z = residue1(residue1(z));
  return z - (P & ((HALF_P - z) >> 31));
}

/** (z + 2^(shift−1)) >> shift: round(z / 2^shift), half up (shift 0: z). */
// @ts-ignore: decorator
@inline
export function shiftRound4(z: v128, half: i32, shift: i32): v128 {
  return i32x4.shr_s(i32x4.add(z, i32x4.splat(half)), shift);
}

/** Four doubles (two f64x2) onto a grid: floor(v·scale + 0.5) as i32x4 (saturating), and a lane mask of those no int32 holds. */
// @ts-ignore: decorator
@inline
export function roundToGrid4(lo: v128, hi: v128, scale: f64): v128 {
  const s = f64x2.splat(scale);
  const half = f64x2.splat(0.5);
  const a = f64x2.floor(f64x2.add(f64x2.mul(lo, s), half));
  const b = f64x2.floor(f64x2.add(f64x2.mul(hi, s), half));
  // |q| < 2^31 holds for exactly the values an int32 holds, −2^31 aside (whose magnitude no int32
  // holds); NaN fails the comparison.
  const limit = f64x2.splat(2147483648.0);
  inexactLanes = v128.or(inexactLanes, v128.not(v128.and(f64x2.lt(f64x2.abs(a), limit), f64x2.lt(f64x2.abs(b), limit))));
  return i8x16.shuffle(i32x4.trunc_sat_f64x2_s_zero(a), i32x4.trunc_sat_f64x2_s_zero(b), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
}

/** Lanes of roundToGrid4 results that were not int32s, since the pass began (read by the pass itself). */
export let inexactLanes = i64x2.splat(0);

// @ts-ignore: decorator
@inline
export function roundToGrid1(v: f64, scale: f64): i32 {
  const q = Math.floor(v * scale + 0.5);
  if (!(Math.abs(q) < 2147483648.0)) inexactLanes = i64x2.splat(-1);
  return <i32>q; // saturating: nontrapping-f2i
}

/** The low and high pairs of an i32x4 as doubles. */
// @ts-ignore: decorator
@inline
export function lowF64(z: v128): v128 {
  return f64x2.convert_low_i32x4_s(z);
}

// @ts-ignore: decorator
@inline
export function highF64(z: v128): v128 {
  return f64x2.convert_low_i32x4_s(i8x16.shuffle(z, z, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
}
