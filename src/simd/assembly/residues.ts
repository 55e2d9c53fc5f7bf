/**
 * Range checks of residues (owner: src/boundary/accept.ts, the one gate, and src/field/residues.ts,
 * which says what a residue is): u32 values < p, doubles that are integers in [0, p) — the legacy
 * FP64 wire — and residues packed 3 bytes each (the sealed pad format).
 */
import { loadPacked1, loadPacked4, P } from './common';

/** 1 when every one of n u32 values at `at` is < p, else 0. */
export function residuesBelowP(at: usize, n: i32): i32 {
  const top = i32x4.splat(P - 1);
  let over = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) over = v128.or(over, i32x4.gt_u(v128.load(at + (<usize>i << 2)), top));
  let ok = v128.any_true(over) ? 0 : 1;
  for (; i < n; i++) if (load<u32>(at + (<usize>i << 2)) >= <u32>P) ok = 0;
  return ok;
}

/**
 * Doubles → u32 residues: out[i] = x[i] for n doubles at x that are integers in [0, p) (−0 counts as
 * 0; NaN fails every comparison). Returns 1 when all were, else 0 (out then holds nothing meaningful).
 */
export function residuesFromF64(x: usize, out: usize, n: i32): i32 {
  let bad = i64x2.splat(0);
  const zero = f64x2.splat(0.0);
  const pf = f64x2.splat(<f64>P);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(x + (<usize>i << 3));
    const b = v128.load(x + (<usize>i << 3), 16);
    const okA = v128.and(v128.and(f64x2.eq(f64x2.trunc(a), a), f64x2.ge(a, zero)), f64x2.lt(a, pf));
    const okB = v128.and(v128.and(f64x2.eq(f64x2.trunc(b), b), f64x2.ge(b, zero)), f64x2.lt(b, pf));
    bad = v128.or(bad, v128.not(v128.and(okA, okB)));
    v128.store(out + (<usize>i << 2), i8x16.shuffle(i32x4.trunc_sat_f64x2_u_zero(a), i32x4.trunc_sat_f64x2_u_zero(b), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
  }
  let ok = v128.any_true(bad) ? 0 : 1;
  for (; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    if (!(v >= 0 && v < <f64>P && Math.trunc(v) == v)) ok = 0;
    store<u32>(out + (<usize>i << 2), <u32>v);
  }
  return ok;
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
