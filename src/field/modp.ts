/**
 * Arithmetic in Z_p on integer-valued doubles (docs/design.md §2). Residues are canonical in [0, p);
 * signed quantities are centered in [−(p−1)/2, (p−1)/2]. Every function here takes integers of
 * magnitude below 2^53 (see prime.ts for when a kernel's sums satisfy that) and is exact.
 */
import { HALF_P, P } from './prime.js';

/** 2^53 − 288 is the largest multiple of p below 2^53 (2^53 ≡ 288 mod p). */
const TOP_MULTIPLE = (2 ** 53 - 288) / P;
/** Below this, floor(v/p)·p could pass 2^53 in magnitude; such v take the fmod path. */
const FLOOR_SAFE_MIN = -(TOP_MULTIPLE - 1) * P;
const INV_P = 1 / P;

/**
 * The canonical residue of an integer |v| ≤ 2^53 − 1, mostly without a (slow: ~30 ns) fmod.
 * q = floor(v·(1/p)) is within one of floor(v/p) (the product's relative error is below 2^−52, so its
 * absolute error is below 2^−23); for FLOOR_SAFE_MIN ≤ v ≤ 2^53 − 1 the multiple q·p then lies in
 * [−(2^53 − 288), 2^53 − 288], so q·p and r = v − q·p ∈ [−p, 2p) are exact, and one correction lands
 * r in [0, p). The p + 287 most negative integers take the exact fmod path.
 */
export function mod(v: number): number {
  if (v < FLOOR_SAFE_MIN) {
    const r = v % P;
    return r < 0 ? r + P : r + 0; // + 0 turns the −0 of (−k·p) % p into +0
  }
  let r = v - Math.floor(v * INV_P) * P;
  if (r < 0) r += P;
  else if (r >= P) r -= P;
  return r + 0;
}

/** The centered representative of a residue in [0, p). */
export function centered(r: number): number {
  return r > HALF_P ? r - P : r;
}

/** (a + b) mod p for residues a, b ∈ [0, p). */
export function addResidues(a: number, b: number): number {
  const s = a + b;
  return s >= P ? s - P : s;
}

/** (a − b) mod p for residues a, b ∈ [0, p). */
export function subResidues(a: number, b: number): number {
  const d = a - b;
  return d < 0 ? d + P : d;
}

/** (a·b) mod p for residues a, b ∈ [0, p): the product is < 2^48, so exact in a double. */
export function mulResidues(a: number, b: number): number {
  return (a * b) % P;
}

/** Reduces every integer of `values` (|v| < 2^53) to its canonical residue, in place. */
export function reduceInPlace(values: Float64Array): Float64Array {
  for (let i = 0; i < values.length; i++) values[i] = mod(values[i]!);
  return values;
}

/** Maps residues to centered representatives, in place. */
export function centerInPlace(values: Float64Array): Float64Array {
  for (let i = 0; i < values.length; i++) {
    const r = values[i]!;
    if (r > HALF_P) values[i] = r - P;
  }
  return values;
}

/*
 * The two element-wise ops below work in int32 (residues < 2^24, so sums and differences fit): a
 * sign mask (d >> 31) selects the correction without a branch. A float compare-and-select compiles
 * to a branch here, which mispredicts half the time on random residues (~6× slower).
 */

/** out[i] = (a[i] + b[i]) mod p for residue arrays of one length. */
export function addMod(a: Float64Array, b: Float64Array, out: Float64Array = new Float64Array(a.length)): Float64Array {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i]! | 0) + (b[i]! | 0) - P;
    out[i] = d + (P & (d >> 31));
  }
  return out;
}

/** out[i] = (a[i] − b[i]) mod p for residue arrays of one length. */
export function subMod(a: Float64Array, b: Float64Array, out: Float64Array = new Float64Array(a.length)): Float64Array {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i]! | 0) - (b[i]! | 0);
    out[i] = d + (P & (d >> 31));
  }
  return out;
}

/**
 * Σ a[i]·b[i] mod p for residue arrays. Each product is < 2^48; the running sum is reduced every
 * 31 terms so it stays below 32·2^48 = 2^53.
 */
export function dotMod(a: Float64Array, b: Float64Array, aOffset = 0, bOffset = 0, length = a.length - aOffset): number {
  let acc = 0;
  let pending = 0;
  for (let i = 0; i < length; i++) {
    acc += a[aOffset + i]! * b[bOffset + i]!;
    if (++pending === 31) {
      acc %= P;
      pending = 0;
    }
  }
  return acc % P;
}
