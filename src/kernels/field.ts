/**
 * Exact linear layers over Z_p (docs/design.md §2): the double kernels of conv.ts and gemm.ts followed by
 * a reduction to canonical residues in [0, p).
 *
 * Why the double kernels are exact here. Take one output z = b + Σ_i x_i·w_i with integer x_i,
 * |x_i| ≤ p − 1 (any representatives, canonical or centered), integer weights w_i and an integer bias
 * b. Whatever order and blocking a kernel uses, every value it ever holds for that output is b (or 0)
 * plus a sub-sum of the products, hence an integer of magnitude at most
 *     (p − 1)·Σ_i |w_i| + |b| = (p − 1)·L1 + |b|.
 * If that is ≤ 2^53 − 1, every product and every addition has an exactly representable result, so
 * IEEE rounding never changes a value (a fused multiply-add, which rounds once, is exact too) and the
 * double result is the true integer z; reducing it mod p is then exact (modp.ts). `assertExact`
 * checks exactly this condition, with L1 the largest over output units (`weightRowL1`), and must pass
 * before a layer is run through `convField` / `gemmField` (the model loader does it once per layer).
 */
import { InvalidArgumentError, OverflowError } from '../errors.js';
import { linearIsExact, MAX_WEIGHT_L1 } from '../field/prime.js';
import { reduceInPlace } from '../field/modp.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv2d } from './conv.js';
import { gemm } from './gemm.js';
import type { ConvAttrs } from './names.js';

/** Which weight layout a layer uses: conv w [M, C/group, kH, kW], or gemm w [K, N]. */
export type LinearKind = 'conv' | 'gemm';

/** (x ∗ w + b) mod p in [0, p), for integer x with |x| < p, integer w and b under `assertExact`. */
export function convField(x: Tensor, w: Tensor, attrs: ConvAttrs, bias?: Float64Array): Tensor {
  const z = conv2d(x, w, attrs, bias);
  reduceInPlace(z.data);
  return z;
}

/** (x·w + b) mod p in [0, p), for integer x [B, K] with |x| < p, integer w [K, N], b [N] under `assertExact`. */
export function gemmField(x: Tensor, w: Tensor, bias?: Float64Array): Tensor {
  const z = gemm(x, w, bias);
  reduceInPlace(z.data);
  return z;
}

/**
 * The largest L1 norm of the weights feeding one output unit: per output channel over C/group·kH·kW
 * for a conv, per column of w [K, N] for a gemm.
 */
export function weightRowL1(w: Tensor, kind: LinearKind): number {
  const data = w.data;
  if (kind === 'conv') {
    if (w.dims.length !== 4) throw new InvalidArgumentError(`conv weights must be 4-D, got [${w.dims.join(', ')}]`);
    const m = w.dims[0]!;
    const per = m === 0 ? 0 : data.length / m;
    let max = 0;
    for (let o = 0; o < m; o++) {
      let s = 0;
      for (let i = o * per, end = i + per; i < end; i++) s += Math.abs(data[i]!);
      if (s > max) max = s;
    }
    return max;
  }
  if (w.dims.length !== 2) throw new InvalidArgumentError(`gemm weights must be 2-D [K, N], got [${w.dims.join(', ')}]`);
  const [k, n] = w.dims as [number, number];
  const sums = new Float64Array(n);
  for (let r = 0; r < k; r++) {
    const base = r * n;
    for (let j = 0; j < n; j++) sums[j] += Math.abs(data[base + j]!);
  }
  let max = 0;
  for (let j = 0; j < n; j++) if (sums[j]! > max) max = sums[j]!;
  return max;
}

/**
 * Throws OverflowError (naming the layer) unless every output of the layer is exact in doubles for
 * inputs |x| ≤ p − 1: (p − 1)·weightRowL1(w) + maxAbsBias ≤ 2^53 − 1. Throws InvalidArgumentError
 * for non-integer weights or bias bound.
 */
export function assertExact(w: Tensor, kind: LinearKind, maxAbsBias: number, layerName: string): void {
  for (let i = 0; i < w.data.length; i++) {
    if (!Number.isSafeInteger(w.data[i]!)) {
      throw new InvalidArgumentError(`weight ${w.data[i]} at index ${i} is not a safe integer`, { layer: layerName });
    }
  }
  if (!Number.isSafeInteger(maxAbsBias) || maxAbsBias < 0) {
    throw new InvalidArgumentError(`bias bound ${maxAbsBias} is not a non-negative safe integer`, { layer: layerName });
  }
  const l1 = weightRowL1(w, kind);
  if (!linearIsExact(l1, maxAbsBias)) {
    throw new OverflowError(
      `weight row L1 norm ${l1} (bias bound ${maxAbsBias}) exceeds the exact bound: (p − 1)·L1 + |b| must stay below 2^53, L1 ≤ ${MAX_WEIGHT_L1}`,
      { layer: layerName },
    );
  }
}
