/**
 * Constants and lane helpers shared by the trusted runtime's WebAssembly SIMD kernels (the files
 * beside this one, one per owner; index.ts is the module). Pointers are byte offsets into the
 * module's memory, which the trusted runtime owns (src/simd/arena.ts).
 *
 * Exactness, for every kernel: residues are u32 values < p < 2^24, so they are exact in i32 lanes,
 * sums and differences of two or three stay in (−2^26, 2^26), and a product of two residues is
 * < 2^48, exact in a u64 lane; a u64 lane may therefore add 2^15 such products (< 2^63) before it
 * must be reduced, and the sum of two lanes stays below 2^64.
 */

export const P: i32 = 16777213; // 2^24 − 3, as src/field/prime.ts
export const HALF_P: i32 = 8388606; // (p − 1)/2
export const P64: u64 = 16777213;
/** Products of residues a u64 lane may add between reductions: 2^15·(p − 1)^2 < 2^63. */
export const LANE_PRODUCTS: i32 = 32768;

/** One residue packed as 3 little-endian bytes at `at`. */
// @ts-ignore: decorator
@inline
export function loadPacked1(at: usize): i32 {
  return <i32>load<u8>(at) | (<i32>load<u8>(at, 1) << 8) | (<i32>load<u8>(at, 2) << 16);
}

/** Four residues packed as 3 little-endian bytes each at `at` as one i32x4 (reads 16 bytes). */
// @ts-ignore: decorator
@inline
export function loadPacked4(at: usize): v128 {
  return i8x16.swizzle(v128.load(at), i8x16(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
}

/** A signed value of (−p, p) (any int32 whose magnitude is below p) as its canonical residue. */
// @ts-ignore: decorator
@inline
export function residue4(q: v128): v128 {
  return i32x4.add(q, v128.and(i32x4.splat(P), i32x4.shr_s(q, 31)));
}

// @ts-ignore: decorator
@inline
export function residue1(q: i32): i32 {
  return q + (P & (q >> 31));
}

/** max over the four i32 lanes. */
// @ts-ignore: decorator
@inline
export function lanesMax(v: v128): i32 {
  return max(max(i32x4.extract_lane(v, 0), i32x4.extract_lane(v, 1)), max(i32x4.extract_lane(v, 2), i32x4.extract_lane(v, 3)));
}

/** The two u64 lanes' sum mod p (each lane < 2^63, so the sum does not wrap). */
// @ts-ignore: decorator
@inline
export function lanesModP(v: v128): u64 {
  return (<u64>i64x2.extract_lane(v, 0) + <u64>i64x2.extract_lane(v, 1)) % P64;
}

/** acc + a·b per u64 lane for the four u32 lanes of a and b (two accumulators: low and high lanes). */
// @ts-ignore: decorator
@inline
export function mulAddLow(acc: v128, a: v128, b: v128): v128 {
  return i64x2.add(acc, i64x2.extmul_low_i32x4_u(a, b));
}

// @ts-ignore: decorator
@inline
export function mulAddHigh(acc: v128, a: v128, b: v128): v128 {
  return i64x2.add(acc, i64x2.extmul_high_i32x4_u(a, b));
}
