/**
 * The trusted runtime's per-value passes in WebAssembly SIMD (AssemblyScript, built by
 * `npm run build:wasm` into build/simd.wasm; loaded by ../kernels.ts, which streams the data through
 * this module's memory in chunks). Plain TypeScript runs these passes at 3–6 ns per value: V8 does
 * not vectorize and converts each double on its own; here four residues move per instruction.
 *
 * Everything is exact integer arithmetic: residues are < p < 2^24, so they convert to int32 exactly,
 * a product of two is < 2^48, and dot products are reduced every BLOCK products per lane (< 2^53).
 * Pointers are byte offsets into this module's memory; results that are not written to memory are
 * read back through the exported getters.
 */

const P: i32 = 16777213; // 2^24 − 3, as src/field/prime.ts
const HALF_P: i32 = 8388606; // (p − 1)/2
const PF: f64 = 16777213.0;
const INV_P: f64 = 1.0 / PF;
/** Products of residues per lane between two reductions: 2p + 30·(p − 1)^2 < 2^53. */
const BLOCK: i32 = 30;

let resultA: f64 = 0;
let resultB: f64 = 0;
let worstMagnitude: i32 = 0;
let nextMagnitude: i32 = 0;

export function heapBase(): usize {
  return __heap_base;
}
export function lastA(): f64 {
  return resultA;
}
export function lastB(): f64 {
  return resultB;
}
export function lastWorst(): i32 {
  return worstMagnitude;
}
export function lastNextMax(): i32 {
  return nextMagnitude;
}

/** All ones in each lane holding an integer in [0, p) (−0 counts as 0); NaN fails every comparison. */
// @ts-ignore: decorator
@inline
function residueLanes(v: v128): v128 {
  return v128.and(v128.and(f64x2.eq(f64x2.trunc(v), v), f64x2.ge(v, f64x2.splat(0.0))), f64x2.lt(v, f64x2.splat(PF)));
}

/** 1 when every one of n doubles at `ptr` is an integer in [0, p) (−0 counts as 0), else 0. */
export function allResidues(ptr: usize, n: i32): i32 {
  let bad = i64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = ptr + (<usize>i << 3);
    bad = v128.or(bad, v128.not(v128.and(residueLanes(v128.load(at)), residueLanes(v128.load(at, 16)))));
  }
  let ok = v128.any_true(bad) ? 0 : 1;
  for (; i < n; i++) {
    const v = load<f64>(ptr + (<usize>i << 3));
    if (!(v >= 0 && v < PF && Math.trunc(v) == v)) ok = 0;
  }
  return ok;
}

/**
 * Quantization of n doubles at x into residues at out: q = floor(v·scale + 0.5) (round half up),
 * written as q mod p. Folds max |q| into lastNextMax (after resetMagnitudes) and returns 1 when some
 * q is not an int32 (NaN, ±Infinity, |q| ≥ 2^31: the caller reports it), else 0.
 */
export function quantize(x: usize, out: usize, n: i32, scale: f64): i32 {
  const pv = i32x4.splat(P);
  const scalev = f64x2.splat(scale);
  const halfv = f64x2.splat(0.5);
  // |q| < 2^31 holds for exactly the values an int32 holds, −2^31 aside (whose magnitude no int32
  // holds); NaN fails the comparison.
  const limit = f64x2.splat(2147483648.0);
  let inexact = i64x2.splat(0);
  let maxAbs = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = x + (<usize>i << 3);
    const a = f64x2.floor(f64x2.add(f64x2.mul(v128.load(at), scalev), halfv));
    const b = f64x2.floor(f64x2.add(f64x2.mul(v128.load(at, 16), scalev), halfv));
    inexact = v128.or(inexact, v128.not(v128.and(f64x2.lt(f64x2.abs(a), limit), f64x2.lt(f64x2.abs(b), limit))));
    const q = i8x16.shuffle(i32x4.trunc_sat_f64x2_s_zero(a), i32x4.trunc_sat_f64x2_s_zero(b), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    maxAbs = i32x4.max_s(maxAbs, i32x4.abs(q));
    storeInt4(out + (<usize>i << 3), i32x4.add(q, v128.and(pv, i32x4.shr_s(q, 31))));
  }
  let m = lanesMax(maxAbs);
  let bad = v128.any_true(inexact) ? 1 : 0;
  for (; i < n; i++) {
    const v = Math.floor(load<f64>(x + (<usize>i << 3)) * scale + 0.5);
    if (!(Math.abs(v) < 2147483648.0)) bad = 1;
    const q = <i32>v; // saturating: nontrapping-f2i
    m = max(m, abs(q));
    store<f64>(out + (<usize>i << 3), <f64>(q + (P & (q >> 31))));
  }
  nextMagnitude = max(nextMagnitude, m);
  return bad;
}

/** Four doubles (exact int32 values) at `at` as one i32x4. */
// @ts-ignore: decorator
@inline
function loadInt4(at: usize): v128 {
  const lo = i32x4.trunc_sat_f64x2_s_zero(v128.load(at));
  const hi = i32x4.trunc_sat_f64x2_s_zero(v128.load(at, 16));
  return i8x16.shuffle(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
}

/** One residue packed as 3 little-endian bytes at `at`. */
// @ts-ignore: decorator
@inline
function loadPacked1(at: usize): i32 {
  return <i32>load<u8>(at) | (<i32>load<u8>(at, 1) << 8) | (<i32>load<u8>(at, 2) << 16);
}

/** Four residues packed as 3 little-endian bytes each at `at` as one i32x4 (reads 16 bytes). */
// @ts-ignore: decorator
@inline
function loadPacked4(at: usize): v128 {
  return i8x16.swizzle(v128.load(at), i8x16(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
}

/** Stores an i32x4 as four doubles. */
// @ts-ignore: decorator
@inline
function storeInt4(at: usize, z: v128): void {
  v128.store(at, f64x2.convert_low_i32x4_s(z));
  v128.store(at, f64x2.convert_low_i32x4_s(i8x16.shuffle(z, z, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15)), 16);
}

/** max over the four lanes. */
// @ts-ignore: decorator
@inline
function lanesMax(v: v128): i32 {
  return max(max(i32x4.extract_lane(v, 0), i32x4.extract_lane(v, 1)), max(i32x4.extract_lane(v, 2), i32x4.extract_lane(v, 3)));
}

/**
 * Requantization of n outputs in place (src/quant/fixed-point.ts gives the semantics): per value
 * z = fx − u + bias mod p (u only when `subtract`: packed 3 bytes per residue, 16 bytes readable
 * past the last), centered to (−p/2, p/2), its magnitude folded into lastWorst; clamped to [lo, hi]; then with shift ≥ 0 rounded to the next layer's grid,
 * q = (z + 2^(shift−1)) >> shift, written as a residue (|q| folded into lastNextMax), else written
 * as z·scale — plus addend[i] (a residual Add's other input, when addend ≠ 0), then max(·, 0) when
 * `relu` (a ReLU after the Add): the same IEEE operations, in the same order, as the separate
 * passes. Values `first`… of a stream whose bias changes every `inner` values, cycling through
 * `channels` int32 residues at `bias`.
 */
export function finish(
  fx: usize, u: usize, n: i32, subtract: i32,
  first: i32, inner: i32, channels: i32, bias: usize,
  lo: i32, hi: i32, shift: i32, scale: f64,
  addend: usize, relu: i32,
): void {
  const zero = f64x2.splat(0.0);
  const pv = i32x4.splat(P);
  const lov = i32x4.splat(lo);
  const hiv = i32x4.splat(hi);
  const scalev = f64x2.splat(scale);
  const toNext = shift >= 0;
  const half = shift > 0 ? 1 << (shift - 1) : 0;
  const halfv = i32x4.splat(half);
  let worst = i32x4.splat(0);
  let nextMax = i32x4.splat(0);
  let block = first / inner;
  let offset = first - block * inner;
  let i = 0;
  while (i < n) {
    const run = min(inner - offset, n - i);
    const b = load<i32>(bias + (<usize>(block % channels) << 2)) - P;
    const bv = i32x4.splat(b);
    const end = i + run;
    for (; i + 4 <= end; i += 4) {
      const at = fx + (<usize>i << 3);
      let z = centered4(fx, u, i, bv, subtract);
      worst = i32x4.max_s(worst, i32x4.abs(z));
      z = i32x4.min_s(i32x4.max_s(z, lov), hiv);
      if (toNext) {
        const q = i32x4.shr_s(i32x4.add(z, halfv), shift);
        nextMax = i32x4.max_s(nextMax, i32x4.abs(q));
        storeInt4(at, i32x4.add(q, v128.and(pv, i32x4.shr_s(q, 31))));
      } else {
        let low = f64x2.mul(f64x2.convert_low_i32x4_s(z), scalev);
        let high = f64x2.mul(f64x2.convert_low_i32x4_s(i8x16.shuffle(z, z, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15)), scalev);
        if (addend) {
          low = f64x2.add(low, v128.load(addend + (<usize>i << 3)));
          high = f64x2.add(high, v128.load(addend + (<usize>i << 3), 16));
          if (relu) {
            low = f64x2.max(low, zero);
            high = f64x2.max(high, zero);
          }
        }
        v128.store(at, low);
        v128.store(at, high, 16);
      }
    }
    let w = lanesMax(worst);
    let m = lanesMax(nextMax);
    for (; i < end; i++) {
      const at = fx + (<usize>i << 3);
      let z = centered1(fx, u, i, b, subtract);
      w = max(w, abs(z));
      z = min(max(z, lo), hi);
      if (toNext) {
        const q = (z + half) >> shift;
        m = max(m, abs(q));
        store<f64>(at, <f64>(q + (P & (q >> 31))));
      } else {
        let v = <f64>z * scale;
        if (addend) {
          v += load<f64>(addend + (<usize>i << 3));
          if (relu) v = Math.max(v, 0.0);
        }
        store<f64>(at, v);
      }
    }
    worst = i32x4.splat(w);
    nextMax = i32x4.splat(m);
    offset = 0;
    block++;
  }
  worstMagnitude = max(worstMagnitude, lanesMax(worst));
  nextMagnitude = max(nextMagnitude, lanesMax(nextMax));
}

/**
 * finish followed by 2×2 max pooling with stride 2, for outputs whose activation (after the clamp)
 * feeds such a pool: max commutes with the clamp, the dequantization (a positive scale) and the
 * rounding shift (all monotone), so pooling the integers gives the same values as pooling the
 * dequantized doubles. Reads `pairs` pairs of rows of `width` values (width even) at fx, rows
 * firstRow… of planes of `height` rows (height even, so a pair never spans two planes; plane k has
 * bias k mod channels), and writes pairs·width/2 results at out. lastWorst covers every input value,
 * lastNextMax every result.
 */
export function finishPool2x2(
  fx: usize, u: usize, pairs: i32, width: i32, subtract: i32,
  firstRow: i32, height: i32, channels: i32, bias: usize,
  lo: i32, hi: i32, shift: i32, scale: f64, out: usize,
): void {
  const pv = i32x4.splat(P);
  const lov = i32x4.splat(lo);
  const hiv = i32x4.splat(hi);
  const scalev = f64x2.splat(scale);
  const toNext = shift >= 0;
  const half = shift > 0 ? 1 << (shift - 1) : 0;
  const halfv = i32x4.splat(half);
  const outWidth = width >> 1;
  let worst = i32x4.splat(0);
  let nextMax = i32x4.splat(0);
  for (let pair = 0; pair < pairs; pair++) {
    const b = load<i32>(bias + (<usize>(((firstRow + 2 * pair) / height) % channels) << 2)) - P;
    const bv = i32x4.splat(b);
    const top = 2 * pair * width;
    const bottom = top + width;
    const row = out + (<usize>(pair * outWidth) << 3);
    let o = 0;
    for (; o + 2 <= outWidth; o += 2) {
      // Four columns of both rows give two results.
      const zt = centered4(fx, u, top + 2 * o, bv, subtract);
      const zb = centered4(fx, u, bottom + 2 * o, bv, subtract);
      worst = i32x4.max_s(worst, i32x4.max_s(i32x4.abs(zt), i32x4.abs(zb)));
      const m = i32x4.min_s(i32x4.max_s(i32x4.max_s(zt, zb), lov), hiv);
      // Lanes 0, 1: max(m0, m1), max(m2, m3); lanes 2, 3 repeat them.
      const z = i32x4.max_s(
        i8x16.shuffle(m, m, 0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11),
        i8x16.shuffle(m, m, 4, 5, 6, 7, 12, 13, 14, 15, 4, 5, 6, 7, 12, 13, 14, 15),
      );
      if (toNext) {
        const q = i32x4.shr_s(i32x4.add(z, halfv), shift);
        nextMax = i32x4.max_s(nextMax, i32x4.abs(q));
        v128.store(row + (<usize>o << 3), f64x2.convert_low_i32x4_s(i32x4.add(q, v128.and(pv, i32x4.shr_s(q, 31)))));
      } else {
        v128.store(row + (<usize>o << 3), f64x2.mul(f64x2.convert_low_i32x4_s(z), scalev));
      }
    }
    if (o < outWidth) {
      const c = 2 * o;
      const t0 = centered1(fx, u, top + c, b, subtract);
      const t1 = centered1(fx, u, top + c + 1, b, subtract);
      const b0 = centered1(fx, u, bottom + c, b, subtract);
      const b1 = centered1(fx, u, bottom + c + 1, b, subtract);
      const w = max(max(abs(t0), abs(t1)), max(abs(b0), abs(b1)));
      worst = i32x4.max_s(worst, i32x4.splat(w));
      const z = min(max(max(max(t0, t1), max(b0, b1)), lo), hi);
      if (toNext) {
        const q = (z + half) >> shift;
        nextMax = i32x4.max_s(nextMax, i32x4.splat(abs(q)));
        store<f64>(row + (<usize>o << 3), <f64>(q + (P & (q >> 31))));
      } else {
        store<f64>(row + (<usize>o << 3), <f64>z * scale);
      }
    }
  }
  worstMagnitude = max(worstMagnitude, lanesMax(worst));
  nextMagnitude = max(nextMagnitude, lanesMax(nextMax));
}

/**
 * Values i…i+3 of fx (residues), minus u's (packed, when `subtract`), plus the bias (bv = b − p), as
 * centered residues in (−p/2, p/2]: fx, u < p, so the sum lies in (−2p, p) and two conditional
 * additions of p bring it to [0, p).
 */
// @ts-ignore: decorator
@inline
function centered4(fx: usize, u: usize, i: i32, bv: v128, subtract: i32): v128 {
  const pv = i32x4.splat(P);
  let z = i32x4.add(loadInt4(fx + (<usize>i << 3)), bv);
  if (subtract) z = i32x4.sub(z, loadPacked4(u + <usize>(3 * i)));
  z = i32x4.add(z, v128.and(pv, i32x4.shr_s(z, 31)));
  z = i32x4.add(z, v128.and(pv, i32x4.shr_s(z, 31)));
  return i32x4.sub(z, v128.and(pv, i32x4.gt_s(z, i32x4.splat(HALF_P))));
}

/** centered4 for the one value i (b = bias − p). */
// @ts-ignore: decorator
@inline
function centered1(fx: usize, u: usize, i: i32, b: i32, subtract: i32): i32 {
  let z = <i32>load<f64>(fx + (<usize>i << 3)) + b;
  if (subtract) z -= loadPacked1(u + <usize>(3 * i));
  z += P & (z >> 31);
  z += P & (z >> 31);
  return z - (P & ((HALF_P - z) >> 31));
}

/** Starts a new requantization: lastWorst and lastNextMax accumulate over finish calls until then. */
export function resetMagnitudes(): void {
  worstMagnitude = 0;
  nextMagnitude = 0;
}

/** v − floor(v/p)·p, within one p of the canonical residue (see src/verify/freivalds.ts looseMod). */
// @ts-ignore: decorator
@inline
function looseMod2(v: v128): v128 {
  return f64x2.sub(v, f64x2.mul(f64x2.floor(f64x2.mul(v, f64x2.splat(INV_P))), f64x2.splat(PF)));
}

// @ts-ignore: decorator
@inline
function lanesSum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/**
 * Freivalds' input side for two secrets: ⟨x, ta⟩ and ⟨x, tb⟩ over n residues (x as doubles, t as
 * float32, exact below 2^24), each left in lastA / lastB as a value congruent to it, |v| < 2^51.
 */
export function dotT2(x: usize, ta: usize, tb: usize, n: i32): void {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let b0 = f64x2.splat(0);
  let b1 = f64x2.splat(0);
  let i = 0;
  while (i + 4 <= n) {
    const stop = min(n & ~3, i + 4 * BLOCK);
    for (; i < stop; i += 4) {
      const x0 = v128.load(x + (<usize>i << 3));
      const x1 = v128.load(x + (<usize>i << 3), 16);
      const tA = v128.load(ta + (<usize>i << 2));
      const tB = v128.load(tb + (<usize>i << 2));
      a0 = f64x2.add(a0, f64x2.mul(x0, f64x2.promote_low_f32x4(tA)));
      a1 = f64x2.add(a1, f64x2.mul(x1, f64x2.promote_low_f32x4(i8x16.shuffle(tA, tA, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15))));
      b0 = f64x2.add(b0, f64x2.mul(x0, f64x2.promote_low_f32x4(tB)));
      b1 = f64x2.add(b1, f64x2.mul(x1, f64x2.promote_low_f32x4(i8x16.shuffle(tB, tB, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15))));
    }
    a0 = looseMod2(a0);
    a1 = looseMod2(a1);
    b0 = looseMod2(b0);
    b1 = looseMod2(b1);
  }
  let a = lanesSum(a0) + lanesSum(a1);
  let b = lanesSum(b0) + lanesSum(b1);
  for (; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    a += v * <f64>load<f32>(ta + (<usize>i << 2));
    b += v * <f64>load<f32>(tb + (<usize>i << 2));
  }
  resultA = a;
  resultB = b;
}

/**
 * Freivalds' output side for two secrets, row by row: for each of `rows` rows of `len` values at
 * y, Σ_q y[q]·sa[q] and Σ_q y[q]·sb[q] (sa, sb doubles), written to out[2·row] and out[2·row + 1] as
 * values congruent to them, |v| < 2^51. Returns 1 when every value of y is an integer in [0, p)
 * (as allResidues), else 0: the sums only mean something then.
 */
export function rowDots2(y: usize, rows: i32, len: i32, sa: usize, sb: usize, out: usize): i32 {
  let bad = i64x2.splat(0);
  let ok = 1;
  for (let row = 0; row < rows; row++) {
    const base = y + (<usize>(row * len) << 3);
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let b0 = f64x2.splat(0);
    let b1 = f64x2.splat(0);
    let q = 0;
    while (q + 4 <= len) {
      const stop = min(len & ~3, q + 4 * BLOCK);
      for (; q < stop; q += 4) {
        const y0 = v128.load(base + (<usize>q << 3));
        const y1 = v128.load(base + (<usize>q << 3), 16);
        bad = v128.or(bad, v128.not(v128.and(residueLanes(y0), residueLanes(y1))));
        a0 = f64x2.add(a0, f64x2.mul(y0, v128.load(sa + (<usize>q << 3))));
        a1 = f64x2.add(a1, f64x2.mul(y1, v128.load(sa + (<usize>q << 3), 16)));
        b0 = f64x2.add(b0, f64x2.mul(y0, v128.load(sb + (<usize>q << 3))));
        b1 = f64x2.add(b1, f64x2.mul(y1, v128.load(sb + (<usize>q << 3), 16)));
      }
      a0 = looseMod2(a0);
      a1 = looseMod2(a1);
      b0 = looseMod2(b0);
      b1 = looseMod2(b1);
    }
    let a = lanesSum(a0) + lanesSum(a1);
    let b = lanesSum(b0) + lanesSum(b1);
    for (; q < len; q++) {
      const v = load<f64>(base + (<usize>q << 3));
      if (!(v >= 0 && v < PF && Math.trunc(v) == v)) ok = 0;
      a += v * load<f64>(sa + (<usize>q << 3));
      b += v * load<f64>(sb + (<usize>q << 3));
    }
    store<f64>(out + (<usize>row << 4), a);
    store<f64>(out + (<usize>row << 4), b, 8);
  }
  return v128.any_true(bad) ? 0 : ok;
}

/**
 * 2×2 max pooling with stride 2 over `pairs` pairs of rows of `width` doubles (width even): each
 * pair gives one row of width/2 maxima at out. f64x2.max is Math.max: NaN propagates, +0 beats −0.
 */
export function maxPool2x2(x: usize, out: usize, pairs: i32, width: i32): void {
  const half = width >> 1;
  for (let pair = 0; pair < pairs; pair++) {
    const top = x + (<usize>(2 * pair * width) << 3);
    const bottom = top + (<usize>width << 3);
    const row = out + (<usize>(pair * half) << 3);
    let o = 0;
    for (; o + 2 <= half; o += 2) {
      const at = <usize>(2 * o) << 3;
      const m0 = f64x2.max(v128.load(top + at), v128.load(bottom + at));
      const m1 = f64x2.max(v128.load(top + at, 16), v128.load(bottom + at, 16));
      const evens = i8x16.shuffle(m0, m1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const odds = i8x16.shuffle(m0, m1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
      v128.store(row + (<usize>o << 3), f64x2.max(evens, odds));
    }
    if (o < half) {
      const at = <usize>(2 * o) << 3;
      const m = f64x2.max(v128.load(top + at), v128.load(bottom + at));
      store<f64>(row + (<usize>o << 3), Math.max(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1)));
    }
  }
}

/**
 * Blinding with keystream words: for groups of four values, the four 24-bit little-endian words in
 * the group's 12 keystream bytes are r, and out = x + r mod p (x residues, as doubles). Stops before
 * the first group holding a word ≥ p (rejection sampling drops such words, which shifts the rest:
 * the caller goes on word by word). Returns the groups done. Reads 4 bytes past the last group.
 */
export function addPadWords(ks: usize, x: usize, out: usize, groups: i32): i32 {
  const pv = i32x4.splat(P);
  const top = i32x4.splat(P - 1);
  for (let g = 0; g < groups; g++) {
    const r = loadPacked4(ks + <usize>(12 * g));
    if (v128.any_true(i32x4.gt_s(r, top))) return g;
    const at = <usize>g << 5;
    let d = i32x4.sub(i32x4.add(loadInt4(x + at), r), pv);
    d = i32x4.add(d, v128.and(pv, i32x4.shr_s(d, 31)));
    storeInt4(out + at, d);
  }
  return groups;
}

/** 1 when every one of n residues packed as 3 little-endian bytes is < p, else 0. Reads 16 bytes past the last group. */
export function packedBelowP(bytes: usize, n: i32): i32 {
  const top = i32x4.splat(P - 1);
  let over = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) over = v128.or(over, i32x4.gt_s(loadPacked4(bytes + <usize>(3 * i)), top));
  let ok = v128.any_true(over) ? 0 : 1;
  for (; i < n; i++) if (loadPacked1(bytes + <usize>(3 * i)) >= P) ok = 0;
  return ok;
}

/**
 * 3×3 max pooling with stride 2 and padding 1 on every side (the ResNet stem's), over `planes` planes
 * of h×w doubles at x, into planes of ⌊(h − 1)/2⌋ + 1 × ⌊(w − 1)/2⌋ + 1 at out. Separable: the max of
 * each window's three columns per input row into `rows` (h × out-width doubles of scratch), then of
 * three such rows. Padding never takes part; f64x2.max is Math.max (NaN propagates, +0 beats −0).
 */
export function maxPool3x3s2p1(x: usize, out: usize, planes: i32, h: i32, w: i32, rows: usize): void {
  const oh = (h - 1) / 2 + 1;
  const ow = (w - 1) / 2 + 1;
  for (let plane = 0; plane < planes; plane++) {
    const src = x + (<usize>(plane * h * w) << 3);
    const dst = out + (<usize>(plane * oh * ow) << 3);
    for (let r = 0; r < h; r++) {
      const row = src + (<usize>(r * w) << 3);
      const hrow = rows + (<usize>(r * ow) << 3);
      store<f64>(hrow, w > 1 ? Math.max(load<f64>(row), load<f64>(row, 8)) : load<f64>(row));
      let c = 1;
      // Two results from columns 2c − 1 … 2c + 3.
      for (; c + 1 < ow && 2 * c + 3 < w; c += 2) {
        const at = row + (<usize>(2 * c - 1) << 3);
        const v0 = v128.load(at); // 2c − 1, 2c
        const v1 = v128.load(at, 16); // 2c + 1, 2c + 2
        const v2 = v128.load(at, 24); // 2c + 2, 2c + 3
        const left = i8x16.shuffle(v0, v1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        const middle = i8x16.shuffle(v0, v1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        const right = i8x16.shuffle(v1, v2, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
        v128.store(hrow + (<usize>c << 3), f64x2.max(f64x2.max(left, middle), right));
      }
      for (; c < ow; c++) {
        let m = load<f64>(row + (<usize>(2 * c - 1) << 3));
        if (2 * c < w) m = Math.max(m, load<f64>(row + (<usize>(2 * c) << 3)));
        if (2 * c + 1 < w) m = Math.max(m, load<f64>(row + (<usize>(2 * c + 1) << 3)));
        store<f64>(hrow + (<usize>c << 3), m);
      }
    }
    for (let y = 0; y < oh; y++) {
      const first = max(2 * y - 1, 0);
      const last = min(2 * y + 1, h - 1);
      const target = dst + (<usize>(y * ow) << 3);
      let c = 0;
      for (; c + 2 <= ow; c += 2) {
        let m = v128.load(rows + (<usize>(first * ow + c) << 3));
        for (let r = first + 1; r <= last; r++) m = f64x2.max(m, v128.load(rows + (<usize>(r * ow + c) << 3)));
        v128.store(target + (<usize>c << 3), m);
      }
      for (; c < ow; c++) {
        let m = load<f64>(rows + (<usize>(first * ow + c) << 3));
        for (let r = first + 1; r <= last; r++) m = Math.max(m, load<f64>(rows + (<usize>(r * ow + c) << 3)));
        store<f64>(target + (<usize>c << 3), m);
      }
    }
  }
}
