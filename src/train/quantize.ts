/**
 * Per-tensor fixed point for one training step (docs/design.md §2, §8): a tensor x becomes integers
 * q = Q(x / scale) with |q| ≤ qmax = 2^(bits−1) − 1 and scale = max|x| / qmax, chosen afresh each step
 * from the tensor's own range. Activations and weights round to nearest; gradients round
 * stochastically (q = ⌊x/scale + u⌋ with u uniform in [0, 1) from the run's seeded stream,
 * train/stream.ts), so E[q·scale] = x and the rounding noise averages out over steps. Both keep
 * |q| ≤ qmax: x/scale ∈ [−qmax, qmax] and ⌊±qmax + u⌋ stays there.
 */
import { InvalidArgumentError } from '../errors.js';
import { P } from '../field/prime.js';

export interface QuantizedTensor {
  /** Integers (as doubles), same layout as the float tensor. */
  readonly q: Float64Array;
  /** Float value of one integer step. */
  readonly scale: number;
  /** max |q|: what the product bound of train/products.ts is computed from. */
  readonly maxAbs: number;
}

export function qmaxOf(bits: number): number {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw new InvalidArgumentError(`quantization bits must be an integer in [2, 16], got ${bits}`);
  return 2 ** (bits - 1) - 1;
}

function scaleOf(x: Float64Array, qmax: number): number {
  let m = 0;
  // Math.max carries a NaN through, so one non-finite value anywhere fails the check below.
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  if (!Number.isFinite(m)) throw new InvalidArgumentError('a training tensor holds NaN or ±∞ (diverged: lower --lr)');
  return m === 0 ? 1 : m / qmax;
}

function maxAbsOf(q: Float64Array): number {
  let m = 0;
  for (let i = 0; i < q.length; i++) m = Math.max(m, Math.abs(q[i]!));
  return m;
}

/** Round to nearest (ties away from zero). */
export function quantizeNearest(x: Float64Array, bits: number): QuantizedTensor {
  const qmax = qmaxOf(bits);
  const scale = scaleOf(x, qmax);
  const q = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! / scale;
    q[i] = Math.min(qmax, Math.max(-qmax, v < 0 ? -Math.round(-v) : Math.round(v)));
  }
  return { q, scale, maxAbs: maxAbsOf(q) };
}

/** Stochastic rounding with `u[i]` ∈ [0, 1) per value. */
export function quantizeStochastic(x: Float64Array, bits: number, u: Float64Array): QuantizedTensor {
  if (u.length < x.length) throw new InvalidArgumentError(`stochastic rounding needs ${x.length} uniforms, got ${u.length}`);
  const qmax = qmaxOf(bits);
  const scale = scaleOf(x, qmax);
  const q = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) q[i] = Math.min(qmax, Math.max(-qmax, Math.floor(x[i]! / scale + u[i]!)));
  return { q, scale, maxAbs: maxAbsOf(q) };
}

/** Canonical residues of small signed integers (|q| < p). */
export function residuesOf(q: Float64Array, out: Uint32Array = new Uint32Array(q.length)): Uint32Array {
  for (let i = 0; i < q.length; i++) {
    const v = q[i]!;
    out[i] = v < 0 ? v + P : v;
  }
  return out;
}
