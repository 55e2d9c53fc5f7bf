/**
 * Residues of Z_p in 32 bits (docs/design.md §2, §7): every canonical residue is an integer in [0, p),
 * p < 2^24, so a Uint32Array holds it exactly in half the bytes of a double, and every pass over the
 * activations moves half the memory. This module is the one place that says what a residue is: the
 * validation gate, the accelerator host and the service's tensor codec all ask `isResidue` /
 * `firstNonResidue`, so the range check exists once.
 */
import { P } from './prime.js';

/** Canonical residues in [0, p), one per element. */
export type Residues = Uint32Array;

/** An integer in [0, p) (−0 counts as 0); NaN, ±∞, fractions and anything not a number are not. */
export function isResidue(v: unknown): v is number {
  return typeof v === 'number' && v >= 0 && v < P && Math.floor(v) === v;
}

/** The index of the first value that is not a residue, or −1 when all are. */
export function firstNonResidue(values: ArrayLike<unknown>): number {
  for (let i = 0; i < values.length; i++) if (!isResidue(values[i])) return i;
  return -1;
}

/** Residues from numbers that must already be residues (a RangeError names the first that is not). */
export function toResidues(values: ArrayLike<number>): Residues {
  const bad = firstNonResidue(values);
  if (bad >= 0) throw new RangeError(`value ${String(values[bad])} at index ${bad} is not a residue in [0, p)`);
  return Uint32Array.from(values);
}
