/** Rejection sampling on keystream words (assembly/blind.ts), for blind/keystream.ts. */
import { simd } from './module.js';
import { withStaged } from './staging.js';

/** How many of the `words` 24-bit little-endian words in `bytes` are ≥ p (rejection sampling drops them). */
export function countRejected(bytes: Uint8Array, words: number): number {
  if (3 * words > bytes.length) throw new RangeError(`${words} words need ${3 * words} bytes, got ${bytes.length}`);
  return withStaged([{ view: bytes, use: 'in', slack: 16 }], (at) => simd().kernels.countRejected(at, words));
}

/** The first n words < p of the 24-bit words in `bytes`, as residues (rejection sampling's output). */
export function wordsToResidues(bytes: Uint8Array, n: number): Uint32Array {
  const out = new Uint32Array(n);
  withStaged([{ view: bytes, use: 'in', slack: 16 }, { view: out, use: 'out' }], (at, outAt) => simd().kernels.wordsToResidues(at, n, outAt));
  return out;
}
