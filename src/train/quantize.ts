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
import type { KnownOperand } from './products.js';

export interface QuantizedTensor {
  /** Integers (as doubles), same layout as the float tensor. */
  readonly q: Float64Array;
  /** Float value of one integer step. */
  readonly scale: number;
  /** max |q|: what the product bound of train/products.ts is computed from. */
  readonly maxAbs: number;
  /** Where a layer wrote them with q (im2col rows): q's residues and max_r Σ |q_r·| over its rows. */
  readonly known?: KnownOperand;
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

/** Round to nearest (ties away from zero), into `q` (a fresh array by default). */
export function quantizeNearest(x: Float64Array, bits: number, q: Float64Array = new Float64Array(x.length)): QuantizedTensor {
  const qmax = qmaxOf(bits);
  const scale = scaleOf(x, qmax);
  let maxAbs = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! / scale;
    const r = Math.min(qmax, Math.max(-qmax, v < 0 ? -Math.round(-v) : Math.round(v)));
    q[i] = r;
    if (Math.abs(r) > maxAbs) maxAbs = Math.abs(r);
  }
  return { q, scale, maxAbs };
}

/**
 * Stochastic rounding with u = words[i] / 2^32 ∈ [0, 1) per value (the stream's 32-bit draws, read
 * in place: the same u as SeededStream.uniforms), into `q` (a fresh array by default).
 */
export function quantizeStochastic(x: Float64Array, bits: number, words: Uint32Array, q: Float64Array = new Float64Array(x.length)): QuantizedTensor {
  if (words.length < x.length) throw new InvalidArgumentError(`stochastic rounding needs ${x.length} uniforms, got ${words.length}`);
  const qmax = qmaxOf(bits);
  const scale = scaleOf(x, qmax);
  let maxAbs = 0;
  for (let i = 0; i < x.length; i++) {
    const r = Math.min(qmax, Math.max(-qmax, Math.floor(x[i]! / scale + words[i]! / 4294967296)));
    q[i] = r;
    if (Math.abs(r) > maxAbs) maxAbs = Math.abs(r);
  }
  return { q, scale, maxAbs };
}

/** Canonical residues of small signed integers (|q| < p). */
export function residuesOf(q: Float64Array, out: Uint32Array = new Uint32Array(q.length)): Uint32Array {
  for (let i = 0; i < q.length; i++) {
    const v = q[i]!;
    out[i] = v < 0 ? v + P : v;
  }
  return out;
}
