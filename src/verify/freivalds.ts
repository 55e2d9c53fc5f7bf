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
  readonly t: Float64Array;
}

export function drawPreprocessedSecret(map: LinearMap, set: SampleSet): PreprocessedSecret {
  const r = randomElements(map.g.m, set);
  const s = randomElements(map.g.oh * map.g.ow, set);
  return { r, s, t: transposeCollapsed(map, s, collapse(map, r)) };
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

/** 0 when both secrets' identities hold for every item; 1 or 2 names the first that fails. */
function checkPair(map: LinearMap, x: Float64Array, y: Float64Array, a: PreprocessedSecret, b: PreprocessedSecret): number {
  const items = x.length / map.inSize;
  const pixels = map.g.oh * map.g.ow;
  const channels = map.g.m;
  const ta = a.t;
  const tb = b.t;
  for (let n = 0; n < items; n++) {
    // ⟨X_n, T⟩: products < 2^48, reduced every 31 terms.
    let la = 0;
    let lb = 0;
    const xBase = n * map.inSize;
    for (let i = 0; i < map.inSize; i += 31) {
      const end = Math.min(map.inSize, i + 31);
      for (let j = i; j < end; j++) {
        const v = x[xBase + j]!;
        la += v * ta[j]!;
        lb += v * tb[j]!;
      }
      la %= P;
      lb %= P;
    }
    // sᵀ·Y_n·r = Σ_m r_m·(Σ_o s_o·Y[n, m, o]).
    let ra = 0;
    let rb = 0;
    const yBase = n * map.outSize;
    for (let m = 0; m < channels; m++) {
      const off = yBase + m * pixels;
      let da = 0;
      let db = 0;
      for (let o = 0; o < pixels; o += 31) {
        const end = Math.min(pixels, o + 31);
        for (let q = o; q < end; q++) {
          const v = y[off + q]!;
          da += v * a.s[q]!;
          db += v * b.s[q]!;
        }
        da %= P;
        db %= P;
      }
      ra = (ra + da * a.r[m]!) % P;
      rb = (rb + db * b.r[m]!) % P;
    }
    if (la !== ra) return 1;
    if (lb !== rb) return 2;
  }
  return 0;
}
