/**
 * erf against Python's math.erf (erf-vectors.json, written by erf-vectors.py with CPython 3.11 /
 * glibc) to a few units in the last place, and against onnxruntime's Erf (float32) on a tensor.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { erf, erfTensor } from '../../../src/kernels/float/erf.js';
import { tensor } from '../../../src/tensor/tensor.js';
import { assertClose, randomTensor, rng, runSingleNode } from '../../helpers/single-node.js';

const vectors = JSON.parse(readFileSync(new URL('./erf-vectors.json', import.meta.url), 'utf8')) as { source: string; cases: [number, number][] };

/** Distance in units of the last place of `expected` (a double has 2^-52 relative spacing). */
function ulps(actual: number, expected: number): number {
  if (actual === expected) return 0;
  const spacing = expected === 0 ? Number.MIN_VALUE : 2 ** (Math.floor(Math.log2(Math.abs(expected))) - 52);
  return Math.abs(actual - expected) / spacing;
}

describe('erf (Cody)', () => {
  it(`matches Python's math.erf within 3 ulp on ${vectors.cases.length} points, far below float32's epsilon`, () => {
    assert.ok(vectors.cases.length > 400);
    let worstAbs = 0;
    for (const [x, expected] of vectors.cases) {
      const got = erf(x);
      const u = ulps(got, expected);
      assert.ok(u <= 3, `erf(${x}) = ${got}, Python ${expected} (${u.toFixed(1)} ulp)`);
      worstAbs = Math.max(worstAbs, Math.abs(got - expected));
    }
    assert.ok(worstAbs < 1e-15, `largest absolute error ${worstAbs}`);
  });

  it('is odd and exact at the special values', () => {
    assert.ok(Object.is(erf(0), 0) && Object.is(erf(-0), -0));
    assert.equal(erf(Infinity), 1);
    assert.equal(erf(-Infinity), -1);
    assert.ok(Number.isNaN(erf(NaN)));
    for (const x of [1e-300, 0.3, 0.46875, 0.5, 2, 4, 4.5, 30]) assert.equal(erf(-x), -erf(x));
  });

  it('agrees with onnxruntime Erf (float32) on a random tensor', async () => {
    const x = randomTensor([2, 3, 50], rng(17), -5, 5);
    const [ref] = await runSingleNode('Erf', [{ name: 'x', tensor: x }]);
    assertClose(erfTensor(x), ref!, 0, 2e-7, 'Erf');
  });

  it('keeps the shape', () => {
    assert.deepEqual(erfTensor(tensor([2, 1], [0, 1])).dims, [2, 1]);
  });
});
