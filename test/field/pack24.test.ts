/**
 * 24-bit residue packing against a byte-by-byte reference: every length mod 4 and one past two SIMD chunks, aligned and unaligned
 * views (the word path and the byte path), and detection of values ≥ p at any position.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packResidues } from '../../src/field/pack24.js';
import { CHUNK, unpackResidues } from '../../src/simd/kernels.js';
import { P } from '../../src/field/prime.js';
import { int, rng } from '../helpers/random.js';

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
        assert.deepEqual(reference(bytes, n), [...values]);
        const out = new Float64Array(n);
        assert.equal(unpackResidues(bytes, out), true);
        assert.deepEqual(out, values, `n=${n} offset=${offset}`);
      }
    }
  });

  it('refuses bytes too short for the residues asked for', () => {
    assert.throws(() => unpackResidues(new Uint8Array(8), new Float64Array(3)), RangeError);
  });

  it('reports a value in [p, 2^24) wherever it sits', () => {
    for (const n of [1, 4, 9, 64]) {
      for (let at = 0; at < n; at++) {
        for (const bad of [P, P + 1, 2 ** 24 - 1]) {
          const values = Float64Array.from({ length: n }, () => int(random, 0, P - 1));
          values[at] = bad;
          const bytes = packResidues(values, new Uint8Array(3 * n));
          assert.equal(unpackResidues(bytes, new Float64Array(n)), false, `n=${n} at=${at} value=${bad}`);
        }
      }
    }
  });
});
