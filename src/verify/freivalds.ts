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
import { dotMod } from '../field/modp.js';
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
  const items = x.length / map.inSize;
  const pixels = map.g.oh * map.g.ow;
  const yr = combineOutputs(map, y, secret.r);
  for (let n = 0; n < items; n++) {
    const lhs = dotMod(x, secret.t, n * map.inSize, 0, map.inSize);
    const rhs = dotMod(yr, secret.s, n * pixels, 0, pixels);
    if (lhs !== rhs) return false;
  }
  return true;
}
