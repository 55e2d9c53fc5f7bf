/**
 * TEMPORARY: the two entry points blind/ still imports from before the kernels were split by owner
 * (blind/ is being reworked elsewhere; its keystream and seal move onto the arena once that lands).
 */
import { P } from '../field/prime.js';
import { packedBelowP } from './residues.js';

/** True when every residue packed 3 bytes each in `bytes` is < p. */
export function packedResidues(bytes: Uint8Array): boolean {
  return packedBelowP(bytes);
}

/**
 * out[from + i] = values[from + i] + r_i mod p for groups of four 24-bit words r of `keystream`,
 * stopping before the first group holding a word ≥ p. Returns the values written.
 */
export function addPadWords(keystream: Uint8Array, groups: number, values: Float64Array, out: Float64Array, from: number): number {
  for (let g = 0; g < groups; g++) {
    const k = 12 * g;
    const at = from + 4 * g;
    for (let j = 0; j < 4; j++) if ((keystream[k + 3 * j]! | (keystream[k + 3 * j + 1]! << 8) | (keystream[k + 3 * j + 2]! << 16)) >= P) return 4 * g;
    for (let j = 0; j < 4; j++) {
      const r = keystream[k + 3 * j]! | (keystream[k + 3 * j + 1]! << 8) | (keystream[k + 3 * j + 2]! << 16);
      const d = (values[at + j]! | 0) + r - P;
      out[at + j] = d + (P & (d >> 31));
    }
  }
  return 4 * groups;
}
