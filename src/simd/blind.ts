/** Rejection sampling's count (assembly/blind.ts), for the keystream producer (blind/keystream.ts). */
import { simd } from './module.js';
import { withStaged } from './staging.js';

/** How many of the `words` 24-bit little-endian words in `bytes` are ≥ p (rejection sampling drops them). */
export function countRejected(bytes: Uint8Array, words: number): number {
  if (3 * words > bytes.length) throw new RangeError(`${words} words need ${3 * words} bytes, got ${bytes.length}`);
  return withStaged([{ view: bytes, use: 'in', slack: 16 }], (at) => simd().kernels.countRejected(at, words));
}
