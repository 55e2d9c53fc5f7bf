/**
 * verify/dense-product.ts: Freivalds' check of C = A·B with A as residues or as signed integers read
 * in place from a wider matrix accepts the exact product (BigInt reference) and rejects it once any
 * entry is off by one, for odd and even repetition counts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { P } from '../../src/field/prime.js';
import { denseProductHolds, signedProductHolds } from '../../src/verify/dense-product.js';
import { Rng } from '../../src/util/seeded-rng.js';

const rng = new Rng(21);
const ints = (n: number, max: number): Float64Array => Float64Array.from({ length: n }, () => ((rng.nextI32() >>> 0) % (2 * max + 1)) - max);
const residue = (v: bigint): number => Number(((v % BigInt(P)) + BigInt(P)) % BigInt(P));

describe('dense product check', () => {
  const [rows, wide, k0, inner, cols] = [7, 300, 37, 200, 5];
  const a = ints(rows * wide, 2 ** 15 - 1);
  const b = ints(inner * cols, 127);
  const c = new Uint32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j++) {
      let sum = 0n;
      for (let k = 0; k < inner; k++) sum += BigInt(a[r * wide + k0 + k]!) * BigInt(b[k * cols + j]!);
      c[r * cols + j] = residue(sum);
    }
  const aResidues = new Uint32Array(rows * inner);
  for (let r = 0; r < rows; r++) for (let k = 0; k < inner; k++) aResidues[r * inner + k] = residue(BigInt(a[r * wide + k0 + k]!));

  for (const repetitions of [1, 2, 3]) {
    test(`k = ${repetitions}: the exact product passes, an entry off by one fails`, () => {
      assert.equal(signedProductHolds(a, wide, k0, b, c, rows, inner, cols, repetitions), true);
      assert.equal(denseProductHolds(aResidues, b, c, rows, inner, cols, repetitions), true);
      const wrong = Uint32Array.from(c);
      const at = (rng.nextI32() >>> 0) % wrong.length;
      wrong[at] = (wrong[at]! + 1) % P;
      assert.equal(signedProductHolds(a, wide, k0, b, wrong, rows, inner, cols, repetitions), false);
      assert.equal(denseProductHolds(aResidues, b, wrong, rows, inner, cols, repetitions), false);
    });
  }
});
