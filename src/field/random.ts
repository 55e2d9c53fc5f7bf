/**
 * Secret randomness for the trusted runtime: uniform elements of a sample set S ⊆ Z_p drawn from the
 * operating system's CSPRNG (node:crypto). S is Z_p itself by default; a small set (e.g. {−1, 0, 1})
 * exists only so tests can measure a check's pass rate against theory. Never seeded, never constant.
 */
import { randomFillSync } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { mod } from './modp.js';
import { P } from './prime.js';

/** The set random check vectors are drawn from: all of Z_p, or an explicit small list (as residues). */
export type SampleSet = { readonly kind: 'field' } | { readonly kind: 'list'; readonly residues: readonly number[] };

export const FIELD_SET: SampleSet = Object.freeze({ kind: 'field' });

export function listSet(values: readonly number[]): SampleSet {
  const residues = [...new Set(values.map((v) => mod(v)))];
  if (residues.length < 2) throw new InvalidArgumentError('a sample set needs at least two distinct elements');
  return { kind: 'list', residues };
}

export function sampleSetSize(set: SampleSet): number {
  return set.kind === 'field' ? P : set.residues.length;
}

const CHUNK = 16_384;

/**
 * n uniform elements of S. For S = Z_p: 24-bit words with rejection of the 3 values ≥ p, so the
 * result is exactly uniform. For a list: bytes mod a power-of-two range with rejection likewise.
 */
export function randomElements(n: number, set: SampleSet = FIELD_SET): Float64Array {
  const out = new Float64Array(n);
  const bytes = new Uint8Array(CHUNK * 3);
  let filled = 0;
  if (set.kind === 'field') {
    while (filled < n) {
      randomFillSync(bytes);
      for (let i = 0; i + 2 < bytes.length && filled < n; i += 3) {
        const v = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16);
        if (v < P) out[filled++] = v;
      }
    }
    return out;
  }
  const size = set.residues.length;
  if (size > 256) throw new InvalidArgumentError('list sample sets hold at most 256 elements');
  const limit = 256 - (256 % size);
  while (filled < n) {
    randomFillSync(bytes);
    for (let i = 0; i < bytes.length && filled < n; i++) {
      if (bytes[i]! < limit) out[filled++] = set.residues[bytes[i]! % size]!;
    }
  }
  return out;
}
