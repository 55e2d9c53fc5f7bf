/**
 * Test helper: Pearson chi-square tests over Z_p for the blinding tests. Bucketing residues into B
 * ranges of (almost) equal size, goodness of fit against the exact bucket sizes, a two-sample test,
 * and the chi-square distribution's survival function and quantiles (regularized incomplete gamma,
 * Numerical Recipes §6.2: series below a + 1, continued fraction above).
 */
import { P } from '../../src/field/prime.js';

/** Bucket of residue v among `buckets` equal-ish ranges of [0, p): ⌊v·B/p⌋. */
export function bucketOf(v: number, buckets: number): number {
  return Math.floor((v * buckets) / P);
}

/** How many residues of Z_p fall into each bucket of `bucketOf`. */
export function zpBucketSizes(buckets: number): Float64Array {
  const sizes = new Float64Array(buckets);
  const lower = (b: number): number => Math.ceil((b * P) / buckets);
  for (let b = 0; b < buckets; b++) sizes[b] = lower(b + 1) - lower(b);
  return sizes;
}

/** Histogram of residues over `buckets` ranges of Z_p. */
export function zpHistogram(values: ArrayLike<number>, buckets: number): Float64Array {
  const h = new Float64Array(buckets);
  for (let i = 0; i < values.length; i++) h[bucketOf(values[i]!, buckets)]++;
  return h;
}

/** Histogram of the low 8 bits, with the exact number of residues of Z_p in each class. */
export function lowByteHistogram(values: ArrayLike<number>): { counts: Float64Array; sizes: Float64Array } {
  const counts = new Float64Array(256);
  for (let i = 0; i < values.length; i++) counts[values[i]! & 255]++;
  const sizes = new Float64Array(256);
  for (let c = 0; c < 256; c++) sizes[c] = Math.floor((P - 1 - c) / 256) + 1;
  return { counts, sizes };
}

export interface ChiSquare {
  readonly stat: number;
  readonly df: number;
  /** P(χ²_df ≥ stat). */
  readonly pValue: number;
}

/** Goodness of fit of `counts` to category weights `weights` (any positive scale). */
export function chiSquareGof(counts: ArrayLike<number>, weights: ArrayLike<number>): ChiSquare {
  let n = 0;
  let w = 0;
  for (let i = 0; i < counts.length; i++) {
    n += counts[i]!;
    w += weights[i]!;
  }
  let stat = 0;
  for (let i = 0; i < counts.length; i++) {
    const e = (n * weights[i]!) / w;
    stat += (counts[i]! - e) ** 2 / e;
  }
  const df = counts.length - 1;
  return { stat, df, pValue: chiSquareSurvival(stat, df) };
}

/** Two-sample test of homogeneity of two histograms over the same categories (empty categories dropped). */
export function chiSquareTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): ChiSquare {
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]!;
    nb += b[i]!;
  }
  const ka = Math.sqrt(nb / na);
  const kb = Math.sqrt(na / nb);
  let stat = 0;
  let used = 0;
  for (let i = 0; i < a.length; i++) {
    const s = a[i]! + b[i]!;
    if (s === 0) continue;
    used++;
    stat += (ka * a[i]! - kb * b[i]!) ** 2 / s;
  }
  const df = Math.max(used - 1, 1);
  return { stat, df, pValue: chiSquareSurvival(stat, df) };
}

function lnGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const cj of c) ser += cj / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Regularized upper incomplete gamma Q(a, x). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const gln = lnGamma(a);
  if (x < a + 1) {
    let ap = a;
    let sum = 1 / a;
    let del = sum;
    for (let n = 0; n < 10_000; n++) {
      del *= x / ++ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - gln) * h;
}

/** P(χ²_df ≥ x). */
export function chiSquareSurvival(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

/** The x with P(χ²_df ≥ x) = tail (bisection). */
export function chiSquareQuantile(tail: number, df: number): number {
  let lo = 0;
  let hi = df + 100 * Math.sqrt(2 * df) + 100;
  for (let k = 0; k < 200; k++) {
    const mid = (lo + hi) / 2;
    if (chiSquareSurvival(mid, df) > tail) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function formatChi(c: ChiSquare): string {
  return `χ² = ${c.stat.toFixed(1)} (df ${c.df}, p = ${c.pValue.toPrecision(3)}, 1e-6 critical value ${chiSquareQuantile(1e-6, c.df).toFixed(1)})`;
}
