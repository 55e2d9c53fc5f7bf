/**
 * Freivalds' checks of a claimed Y = f(X) mod p for one linear layer (DESIGN.md §3), in the three
 * variants of the design. `checkFresh`, `checkBatched` and `checkPreprocessed` run one repetition and
 * say whether it passed; `firstFailingPreprocessed` runs every repetition of the preprocessed check
 * in one pass (y's side from the gate's `OutputSums` when it read this very y) and names the first
 * that failed. Deciding is the Verifier's (verifier.ts): it throws IntegrityError, never returns a
 * verdict to ignore.
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
import { dotT2, rowDots2 } from '../simd/kernels.js';
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
 * The output side of the first two repetitions' preprocessed checks, sᵀ·Y_n per channel, computed
 * by the pass that validates a reply (boundary/accept.ts): that pass reads Y anyway, so the check
 * need not read it again. The sums count only for the very array they were read from.
 */
export class OutputSums {
  private sums = new Float64Array(0);
  private readFrom: Float64Array | undefined;

  constructor(
    private readonly pixels: number,
    private readonly a: PreprocessedSecret,
    private readonly b: PreprocessedSecret,
  ) {}

  /** Reads y once: returns whether every value is an integer in [0, p), and keeps the sums if so. */
  read(y: Float64Array): boolean {
    const rows = y.length / this.pixels;
    if (this.sums.length !== 2 * rows) this.sums = new Float64Array(2 * rows);
    const valid = rowDots2(y, 0, rows, this.pixels, this.a.s, this.b.s, this.sums, looseMod);
    this.readFrom = valid ? y : undefined;
    return valid;
  }

  /** The sums for y and these secrets, when read() computed them from y. */
  for(y: Float64Array, a: PreprocessedSecret, b: PreprocessedSecret): Float64Array | undefined {
    return y === this.readFrom && a === this.a && b === this.b ? this.sums : undefined;
  }
}

export function outputSumsFor(map: LinearMap, secrets: readonly PreprocessedSecret[]): OutputSums {
  return new OutputSums(map.g.oh * map.g.ow, secrets[0]!, secrets[1] ?? secrets[0]!);
}

/**
 * Runs every repetition's preprocessed check in one pass over x and y (two repetitions share each
 * read: memory traffic, not multiplications, bounds this check), the first two taking y's side from
 * `known` when it was read from this y. Returns the index of the first failing repetition, or −1.
 */
export function firstFailingPreprocessed(map: LinearMap, x: Float64Array, y: Float64Array, secrets: readonly PreprocessedSecret[], known?: OutputSums): number {
  for (let rep = 0; rep < secrets.length; rep += 2) {
    const a = secrets[rep]!;
    const b = secrets[rep + 1] ?? a;
    const ok = checkPair(map, x, y, a, b, known?.for(y, a, b));
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

/**
 * 0 when both secrets' identities hold for every item; 1 or 2 names the first that fails (y not all
 * residues fails the first). The dot products run in the SIMD kernels (simd/kernels.ts), two
 * secrets per read of x and y: memory traffic, not multiplications, bounds this check. `ySums`, when
 * given, holds y's per-channel sums for these secrets (OutputSums), so y is not read again.
 */
function checkPair(map: LinearMap, x: Float64Array, y: Float64Array, a: PreprocessedSecret, b: PreprocessedSecret, ySums?: Float64Array): number {
  const items = x.length / map.inSize;
  const pixels = map.g.oh * map.g.ow;
  const channels = map.g.m;
  let sums = ySums;
  if (sums === undefined) {
    sums = new Float64Array(2 * items * channels);
    if (!rowDots2(y, 0, items * channels, pixels, a.s, b.s, sums, looseMod)) return 1;
  }
  for (let n = 0; n < items; n++) {
    // ⟨X_n, T⟩ for both secrets.
    const [la, lb] = dotT2(x, n * map.inSize, a.t, b.t, map.inSize, looseMod);
    // sᵀ·Y_n·r = Σ_m r_m·(Σ_o s_o·Y[n, m, o]): the inner sums per channel, then r; each inner sum is
    // reduced (|d| < 2p) so that its product with r_m stays exact (< 2^49).
    let ra = 0;
    let rb = 0;
    const row = n * channels;
    for (let m = 0; m < channels; m++) {
      ra = looseMod(ra + looseMod(sums[2 * (row + m)]!) * a.r[m]!);
      rb = looseMod(rb + looseMod(sums[2 * (row + m) + 1]!) * b.r[m]!);
    }
    if (canonical(la) !== canonical(ra)) return 1;
    if (canonical(lb) !== canonical(rb)) return 2;
  }
  return 0;
}
