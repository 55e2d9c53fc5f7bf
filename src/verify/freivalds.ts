/**
 * Freivalds' checks of a claimed Y = f(X) mod p for one linear layer (docs/design.md §3), in the three
 * variants of the design. `checkFresh`, `checkBatched` and `checkPreprocessed` run one repetition and
 * say whether it passed; `firstFailingPreprocessed` runs every repetition of the preprocessed check
 * and names the first that failed; `outputSide` is y's side of the fused check from the sums the
 * boundary pass took while it read this very y. Deciding is the Verifier's (verifier.ts): it throws
 * IntegrityError, never returns a verdict to ignore.
 *
 * - fresh:        new r over output channels; Y·r = conv(X, W·r) at every output pixel of every item.
 *                 Cost |Y| + |W| + one single-output conv. One-sided.
 * - batched:      new r and s over the batch; (Σ_n s_n Y_n)·r = conv(Σ_n s_n X_n, W·r).
 *                 Cost |X| + |Y| + |W| + a single-output conv of one item. Two-sided.
 * - preprocessed: secret r over channels and s over output pixels drawn once, T = convᵀ(s ⊗ W·r)
 *                 precomputed; per item ⟨X_n, T⟩ = sᵀ·Y_n·r. Cost |X| + |Y|. Two-sided.
 * Bias is not part of f: the accelerator computes f(x) and the trusted runtime adds the bias.
 *
 * The preprocessed check is what the boundary pass fuses (boundary/pass-plan.ts): its output side
 * sᵀ·Y_n per channel is a weighted row sum of the reply the pass reads anyway, its input side ⟨X, T⟩
 * a weighted sum of the request the previous pass writes anyway. For a Conv the pass's rows are the
 * output planes (weights s, combined with r here); for a Gemm (a 1×1 conv over a 1×1 image) they are
 * the items, with weights r_m·s_0. Those sums are exact in u64 lanes (simd/assembly/freivalds.ts);
 * the combinations here are exact in doubles (looseMod keeps every sum below 2^53).
 */
import { P } from '../field/prime.js';
import { randomElements, type SampleSet } from '../field/random.js';
import type { Residues } from '../field/residues.js';
import { applyCollapsed, collapse, combineOutputs, transposeCollapsed, type LinearMap } from './linear-map.js';

const INV_P = 1 / P;

function equal(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkFresh(map: LinearMap, x: Residues, y: Residues, set: SampleSet): boolean {
  const r = randomElements(map.g.m, set);
  return equal(combineOutputs(map, y, r), applyCollapsed(map, x, collapse(map, r)));
}

/** Σ_n s_n·A_n mod p over items of `size` elements. */
function combineItems(a: Residues, size: number, s: Float64Array): Float64Array {
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

export function checkBatched(map: LinearMap, x: Residues, y: Residues, set: SampleSet): boolean {
  const items = x.length / map.inSize;
  const r = randomElements(map.g.m, set);
  const s = randomElements(items, set);
  const xs = Uint32Array.from(combineItems(x, map.inSize, s));
  const ys = Uint32Array.from(combineItems(y, map.outSize, s));
  return equal(combineOutputs(map, ys, r), applyCollapsed(map, xs, collapse(map, r)));
}

/** One repetition's secrets for the preprocessed check. Never leaves the trusted runtime. */
export interface PreprocessedSecret {
  readonly r: Float64Array;
  readonly s: Float64Array;
  /** T = convᵀ(s ⊗ W·r): residues, one per input value of an item. */
  readonly t: Uint32Array;
  /** The boundary pass's output-side weights: s (a Conv's pixels) or r_m·s_0 (a Gemm's features). */
  readonly weights: Uint32Array;
}

export function drawPreprocessedSecret(map: LinearMap, set: SampleSet): PreprocessedSecret {
  const r = randomElements(map.g.m, set);
  const s = randomElements(map.g.oh * map.g.ow, set);
  const t = Uint32Array.from(transposeCollapsed(map, s, collapse(map, r)));
  const weights = map.op === 'Gemm' ? Uint32Array.from(r, (rm) => (rm * s[0]!) % P) : Uint32Array.from(s);
  return { r, s, t, weights };
}

/**
 * The boundary pass's rows over a layer's outputs (dims [N, M, OH, OW] or [N, M]): a Conv's planes
 * (N·M rows of OH·OW: one channel's bias and one check row each), a Gemm's items (N rows of M). The
 * output side's weights are laid out along these rows.
 */
export function rowLayout(spec: { readonly op: 'Conv' | 'Gemm'; readonly outDims: readonly number[] }): { rows: number; rowLen: number } {
  const d = spec.outDims;
  const rowLen = spec.op === 'Gemm' ? d[d.length - 1]! : d[2]! * d[3]!;
  return { rows: d.reduce((a, b) => a * b, 1) / rowLen, rowLen };
}

/**
 * sᵀ·Y_n·r mod p per item from the pass's row sums of one secret (`sums` holds two secrets
 * interleaved; `which` picks one): a Conv combines its channels' sums with r, a Gemm's rows are the
 * items already.
 */
export function outputSide(map: LinearMap, secret: PreprocessedSecret, sums: Uint32Array, which: 0 | 1, items: number): Float64Array {
  const out = new Float64Array(items);
  const channels = map.op === 'Gemm' ? 1 : map.g.m;
  for (let n = 0; n < items; n++) {
    if (map.op === 'Gemm') {
      out[n] = sums[2 * n + which]!;
      continue;
    }
    // Each row sum is < p, so its product with r_m is < 2^48 and a reduced accumulator plus one stays exact.
    let acc = 0;
    for (let m = 0; m < channels; m++) acc = looseMod(acc + sums[2 * (n * channels + m) + which]! * secret.r[m]!);
    out[n] = canonical(acc);
  }
  return out;
}

export function checkPreprocessed(map: LinearMap, x: Residues, y: Residues, secret: PreprocessedSecret): boolean {
  return firstFailingPreprocessed(map, x, y, [secret]) < 0;
}

/**
 * Every repetition's preprocessed check on whole arrays (the standalone form: tests, and layers
 * whose check is not fused into their boundary pass). The index of the first failing repetition, or −1.
 */
export function firstFailingPreprocessed(map: LinearMap, x: Residues, y: Residues, secrets: readonly PreprocessedSecret[]): number {
  const items = x.length / map.inSize;
  const rowLen = map.op === 'Gemm' ? map.g.m : map.g.oh * map.g.ow;
  const rows = y.length / rowLen;
  for (let rep = 0; rep < secrets.length; rep++) {
    const secret = secrets[rep]!;
    const sums = new Uint32Array(2 * rows);
    for (let row = 0; row < rows; row++) sums[2 * row] = weightedSum(y, row * rowLen, secret.weights);
    const right = outputSide(map, secret, sums, 0, items);
    for (let n = 0; n < items; n++) if (weightedSum(x, n * map.inSize, secret.t) !== right[n]) return rep;
  }
  return -1;
}

/** Σ_q a[offset + q]·w[q] mod p over w's length (residues, exact in doubles by reduction every 30 products). */
function weightedSum(a: Residues, offset: number, w: Uint32Array): number {
  let acc = 0;
  for (let q = 0; q < w.length; q++) {
    acc += a[offset + q]! * w[q]!;
    if (q % 30 === 29) acc = looseMod(acc);
  }
  return canonical(acc);
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
