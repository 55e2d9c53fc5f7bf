/**
 * Freivalds' checks of a claimed Y = f(X) mod p for one linear layer (DESIGN.md §3), in the three
 * variants of the design; each returns true when one repetition passes.
 *
 * - fresh:        new r over output channels; Y·r = conv(X, W·r) at every output pixel of every item.
 *                 Cost |Y| + |W| + one single-output conv. One-sided.
 * - batched:      new r and s over the batch; (Σ_n s_n Y_n)·r = conv(Σ_n s_n X_n, W·r).
 *                 Cost |X| + |Y| + |W| + a single-output conv of one item. Two-sided.
 * - preprocessed: secret r over channels and s over output pixels drawn once, T = convᵀ(s ⊗ W·r)
 *                 precomputed; per item ⟨X_n, T⟩ = sᵀ·Y_n·r. Cost |X| + |Y|. Two-sided.
 * Bias is not part of f: the accelerator computes f(x) and the trusted runtime adds the bias.
 */
import { P } from '../field/prime.js';
import { randomElements, type SampleSet } from '../field/random.js';
import { applyCollapsed, collapse, combineOutputs, transposeCollapsed, type LinearMap } from './linear-map.js';

const INV_P = 1 / P;

function equal(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkFresh(map: LinearMap, x: Float64Array, y: Float64Array, set: SampleSet): boolean {
  const r = randomElements(map.g.m, set);
  return equal(combineOutputs(map, y, r), applyCollapsed(map, x, collapse(map, r)));
}

/** Σ_n s_n·A_n mod p over items of `size` elements. */
function combineItems(a: Float64Array, size: number, s: Float64Array): Float64Array {
  const out = new Float64Array(size);
  let since = 0;
  for (let n = 0; n < s.length; n++) {
    const sn = s[n]!;
    const base = n * size;
    for (let i = 0; i < size; i++) out[i] += a[base + i]! * sn;
    if (++since === 31) {
      for (let i = 0; i < size; i++) out[i] %= P;
      since = 0;
    }
  }
  for (let i = 0; i < size; i++) out[i] %= P;
  return out;
}

export function checkBatched(map: LinearMap, x: Float64Array, y: Float64Array, set: SampleSet): boolean {
  const items = x.length / map.inSize;
  const r = randomElements(map.g.m, set);
  const s = randomElements(items, set);
  const xs = combineItems(x, map.inSize, s);
  const ys = combineItems(y, map.outSize, s);
  return equal(combineOutputs(map, ys, r), applyCollapsed(map, xs, collapse(map, r)));
}

/** One repetition's secrets for the preprocessed check. Never leaves the trusted runtime. */
export interface PreprocessedSecret {
  readonly r: Float64Array;
  readonly s: Float64Array;
  /** Residues < p < 2^24, which float32 holds exactly: half the memory traffic of the check's largest read. */
  readonly t: Float32Array;
}

export function drawPreprocessedSecret(map: LinearMap, set: SampleSet): PreprocessedSecret {
  const r = randomElements(map.g.m, set);
  const s = randomElements(map.g.oh * map.g.ow, set);
  return { r, s, t: Float32Array.from(transposeCollapsed(map, s, collapse(map, r))) };
}

export function checkPreprocessed(map: LinearMap, x: Float64Array, y: Float64Array, secret: PreprocessedSecret): boolean {
  return firstFailingPreprocessed(map, x, y, [secret]) < 0;
}

/**
 * Runs every repetition's preprocessed check in one pass over x and y (two repetitions share each
 * read: memory traffic, not multiplications, bounds this check). Returns the index of the first
 * failing repetition, or −1.
 */
export function firstFailingPreprocessed(map: LinearMap, x: Float64Array, y: Float64Array, secrets: readonly PreprocessedSecret[]): number {
  for (let rep = 0; rep < secrets.length; rep += 2) {
    const a = secrets[rep]!;
    const b = secrets[rep + 1] ?? a;
    const ok = checkPair(map, x, y, a, b);
    if (ok !== 0) return ok === 1 ? rep : rep + 1;
  }
  return -1;
}

/**
 * A value congruent to v in [−p, 2p), for |v| < 2^53, without fmod (a libm call, ~30 ns): v·(1/p) is
 * within 2^−23 of v/p, so its floor is at most one off. Sums restarted from such a value stay below
 * 2^53 for another 30 products of residues (2p + 30·(p − 1)^2 < 2^53).
 */
function looseMod(v: number): number {
  return v - Math.floor(v * INV_P) * P;
}

/** The canonical residue of an exact integer |v| < 2^53. */
function canonical(v: number): number {
  const r = v % P;
  return r < 0 ? r + P : r;
}

/** Products of residues per accumulator between two reductions (see looseMod). */
const BLOCK = 30;

/** 0 when both secrets' identities hold for every item; 1 or 2 names the first that fails. */
function checkPair(map: LinearMap, x: Float64Array, y: Float64Array, a: PreprocessedSecret, b: PreprocessedSecret): number {
  const items = x.length / map.inSize;
  const pixels = map.g.oh * map.g.ow;
  const channels = map.g.m;
  const ta = a.t;
  const tb = b.t;
  const sa = a.s;
  const sb = b.s;
  for (let n = 0; n < items; n++) {
    // ⟨X_n, T⟩ for both secrets. Two accumulators per secret (even and odd terms) halve the chain of
    // dependent additions; this check is bound by that chain and memory, not by multiplications.
    let la0 = 0;
    let la1 = 0;
    let lb0 = 0;
    let lb1 = 0;
    const xBase = n * map.inSize;
    for (let i = 0; i < map.inSize; i += 2 * BLOCK) {
      const end = Math.min(map.inSize, i + 2 * BLOCK);
      let j = i;
      for (; j + 1 < end; j += 2) {
        const v = x[xBase + j]!;
        const w = x[xBase + j + 1]!;
        la0 += v * ta[j]!;
        lb0 += v * tb[j]!;
        la1 += w * ta[j + 1]!;
        lb1 += w * tb[j + 1]!;
      }
      if (j < end) {
        const v = x[xBase + j]!;
        la0 += v * ta[j]!;
        lb0 += v * tb[j]!;
      }
      la0 = looseMod(la0);
      la1 = looseMod(la1);
      lb0 = looseMod(lb0);
      lb1 = looseMod(lb1);
    }
    // sᵀ·Y_n·r = Σ_m r_m·(Σ_o s_o·Y[n, m, o]), two channels at a time: four independent chains, and
    // each s_o read serves both.
    let ra = 0;
    let rb = 0;
    const yBase = n * map.outSize;
    let m = 0;
    for (; m + 1 < channels; m += 2) {
      const off0 = yBase + m * pixels;
      const off1 = off0 + pixels;
      let da0 = 0;
      let db0 = 0;
      let da1 = 0;
      let db1 = 0;
      for (let o = 0; o < pixels; o += BLOCK) {
        const end = Math.min(pixels, o + BLOCK);
        for (let q = o; q < end; q++) {
          const u = y[off0 + q]!;
          const v = y[off1 + q]!;
          const su = sa[q]!;
          const sv = sb[q]!;
          da0 += u * su;
          db0 += u * sv;
          da1 += v * su;
          db1 += v * sv;
        }
        da0 = looseMod(da0);
        db0 = looseMod(db0);
        da1 = looseMod(da1);
        db1 = looseMod(db1);
      }
      // |d| < 2p, so d·r_m < 2^49: the running sums stay far below 2^53 between reductions.
      ra = looseMod(ra + da0 * a.r[m]! + da1 * a.r[m + 1]!);
      rb = looseMod(rb + db0 * b.r[m]! + db1 * b.r[m + 1]!);
    }
    if (m < channels) {
      const off = yBase + m * pixels;
      let da = 0;
      let db = 0;
      for (let o = 0; o < pixels; o += BLOCK) {
        const end = Math.min(pixels, o + BLOCK);
        for (let q = o; q < end; q++) {
          const v = y[off + q]!;
          da += v * sa[q]!;
          db += v * sb[q]!;
        }
        da = looseMod(da);
        db = looseMod(db);
      }
      ra = looseMod(ra + da * a.r[m]!);
      rb = looseMod(rb + db * b.r[m]!);
    }
    if (canonical(la0 + la1) !== canonical(ra)) return 1;
    if (canonical(lb0 + lb1) !== canonical(rb)) return 2;
  }
  return 0;
}
