/**
 * 24-bit residue packing against a byte-by-byte reference, at every length mod 4 and one past two
 * SIMD chunks, at aligned and unaligned offsets; and the SIMD check that packed values are residues,
 * which must find a value ≥ p at any position.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packResidues } from '../../src/field/pack24.js';
import { packedBelowP as packedResidues } from '../../src/simd/residues.js';
import { P } from '../../src/field/prime.js';
import { int, rng } from '../helpers/random.js';

/** Lengths around the old streaming chunk (64 Ki values) still probe the vector body's end. */
const CHUNK = 65_536;

const random = rng(24);

function reference(bytes: Uint8Array, n: number): number[] {
  return Array.from({ length: n }, (_, i) => bytes[3 * i]! + 256 * bytes[3 * i + 1]! + 65536 * bytes[3 * i + 2]!);
}

describe('pack24', () => {
  it('round-trips residues of every length mod 4, at aligned and unaligned offsets', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 101, 4096, 2 * CHUNK + 5]) {
      for (const offset of [0, 1, 2, 3, 4]) {
        const values = Float64Array.from({ length: n }, () => int(random, 0, P - 1));
        const backing = new Uint8Array(offset + 3 * n + 5);
        const bytes = packResidues(values, backing.subarray(offset, offset + 3 * n));
        assert.deepEqual(reference(bytes, n), [...values], `n=${n} offset=${offset}`);
        assert.equal(packedResidues(bytes), true);
      }
    }
  });

  it('reports a value in [p, 2^24) wherever it sits', () => {
    for (const n of [1, 4, 9, 64, CHUNK + 3]) {
      for (const at of n > 64 ? [0, CHUNK - 1, CHUNK, n - 1] : Array.from({ length: n }, (_, i) => i)) {
        for (const bad of [P, P + 1, 2 ** 24 - 1]) {
          const values = Float64Array.from({ length: n }, () => int(random, 0, P - 1));
          values[at] = bad;
          const bytes = packResidues(values, new Uint8Array(3 * n));
          assert.equal(packedResidues(bytes), false, `n=${n} at=${at} value=${bad}`);
        }
      }
    }
  });
});
