/**
 * Soundness arithmetic for Freivalds' checks (docs/design.md §3). A wrong output passes one repetition
 * with probability at most 1/|S| for a one-sided check (random r only: a nonzero error row E has
 * E·r = 0 with probability ≤ 1/|S|) and 2/|S| for a two-sided one (random s and r: sᵀEr is a
 * nonzero polynomial of degree 2, Schwartz–Zippel). k independent repetitions multiply; a whole
 * inference is bounded by the union over its layers.
 */
import { InvalidArgumentError } from '../errors.js';

export type CheckVariant = 'fresh' | 'batched' | 'preprocessed';
export const CHECK_VARIANTS: readonly CheckVariant[] = ['fresh', 'batched', 'preprocessed'];

/** Soundness target when none is given: a wrong result survives an inference with probability ≤ 2^-40. */
export const DEFAULT_SOUNDNESS_BITS = 40;

/** log2 of the probability that a wrong output passes one repetition. */
export function log2ErrorPerRepetition(variant: CheckVariant, setSize: number): number {
  return Math.log2((variant === 'fresh' ? 1 : 2) / setSize);
}

/** The fewest repetitions k such that `layers` layers together err with probability ≤ 2^-bits. */
export function repetitionsFor(variant: CheckVariant, setSize: number, layers: number, bits = DEFAULT_SOUNDNESS_BITS): number {
  const perRep = log2ErrorPerRepetition(variant, setSize);
  if (perRep >= 0) throw new InvalidArgumentError(`a sample set of ${setSize} elements gives no soundness for '${variant}' checks`);
  return Math.max(1, Math.ceil((bits + Math.log2(Math.max(1, layers))) / -perRep));
}

/** log2 of the union bound Σ_layers (error per repetition)^k: the soundness error of one inference. */
export function log2ErrorPerInference(variant: CheckVariant, setSize: number, layers: number, k: number): number {
  return k * log2ErrorPerRepetition(variant, setSize) + Math.log2(Math.max(1, layers));
}
