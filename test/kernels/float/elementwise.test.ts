/**
 * Float element-wise kernels against onnxruntime-node: Add / Sub / Mul / Div / Pow with
 * broadcasting (same shape, per-channel, scalars, two-sided), and the broadcast shape rule itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import { binary, broadcastDims, type BinaryOp } from '../../../src/kernels/float/elementwise.js';
import { assertClose, randomTensor, rng, runSingleNode } from '../../helpers/single-node.js';

const OPS: BinaryOp[] = ['Add', 'Sub', 'Mul', 'Div'];

const PAIRS: [number[], number[]][] = [
  [[2, 3, 4, 5], [2, 3, 4, 5]],
  [[2, 3, 4, 5], [1, 3, 1, 1]],
  [[1, 3, 1, 1], [2, 3, 4, 5]],
  [[2, 3, 4, 5], [3, 1, 1]],
  [[2, 3, 4, 5], []],
  [[], [2, 3, 4, 5]],
  [[2, 3, 4, 5], [1]],
  [[2, 3, 4, 5], [5]],
  [[2, 1, 4, 1], [1, 3, 1, 5]],
  [[3, 1], [1, 4]],
  [[4, 5], [2, 3, 4, 5]],
  [[2, 3, 1, 5], [1, 1, 4, 1]],
  [[1, 1, 1], [1]],
  [[4, 1, 5], [4, 1, 5]],
];

describe('float binary ops vs onnxruntime', () => {
  const random = rng(3);

  it('Add, Sub, Mul and Div match across broadcast patterns', async () => {
    for (const [da, db] of PAIRS) {
      const a = randomTensor(da, random);
      // Keep divisors away from zero: magnitudes in [0.5, 3) with random signs.
      const b = randomTensor(db, random, 0.5, 3);
      for (let i = 0; i < b.data.length; i++) if (random() < 0.5) b.data[i] = -b.data[i]!;
      for (const op of OPS) {
        const [expected] = await runSingleNode(op, [
          { name: 'a', tensor: a },
          { name: 'b', tensor: b },
        ]);
        assertClose(binary(op, a, b), expected!, 1e-6, 1e-7, `${op} [${da}] [${db}]`);
      }
    }
  });

  it('Pow matches across broadcast patterns (positive bases, exponents of either sign)', async () => {
    for (const [da, db] of PAIRS) {
      const a = randomTensor(da, random, 0.2, 3);
      const b = randomTensor(db, random, -2, 3);
      const [expected] = await runSingleNode('Pow', [
        { name: 'a', tensor: a },
        { name: 'b', tensor: b },
      ]);
      assertClose(binary('Pow', a, b), expected!, 1e-5, 1e-7, `Pow [${da}] [${db}]`);
    }
  });

  it('[C] against [N, C, H, W] broadcasts along W when C = W (as ONNX does), not per channel', async () => {
    const a = randomTensor([1, 3, 2, 3], random);
    const b = randomTensor([3], random);
    const [expected] = await runSingleNode('Mul', [
      { name: 'a', tensor: a },
      { name: 'b', tensor: b },
    ]);
    assertClose(binary('Mul', a, b), expected!, 1e-6, 1e-7);
  });

  it('[C] against [N, C, H, W] with C ≠ W fails, as it does in onnxruntime', async () => {
    const a = randomTensor([1, 3, 2, 4], random);
    const b = randomTensor([3], random);
    assert.throws(() => binary('Add', a, b), InvalidArgumentError);
    await assert.rejects(
      runSingleNode('Add', [
        { name: 'a', tensor: a },
        { name: 'b', tensor: b },
      ]),
    );
  });
});

describe('broadcastDims', () => {
  it('follows numpy multidirectional broadcasting', () => {
    assert.deepEqual(broadcastDims([2, 3, 4, 5], [1, 3, 1, 1]), [2, 3, 4, 5]);
    assert.deepEqual(broadcastDims([3, 1, 1], [2, 3, 4, 5]), [2, 3, 4, 5]);
    assert.deepEqual(broadcastDims([], [2, 3]), [2, 3]);
    assert.deepEqual(broadcastDims([2, 1], []), [2, 1]);
    assert.deepEqual(broadcastDims([3, 1], [1, 4]), [3, 4]);
    assert.deepEqual(broadcastDims([1], [2, 0]), [2, 0]);
    assert.deepEqual(broadcastDims([1, 1], [1]), [1, 1]);
  });

  it('rejects incompatible shapes', () => {
    assert.throws(() => broadcastDims([2, 3, 4, 5], [3]), InvalidArgumentError);
    assert.throws(() => broadcastDims([2, 3], [3, 2]), InvalidArgumentError);
    assert.throws(() => broadcastDims([0], [2]), InvalidArgumentError);
  });

  it('handles empty outputs', () => {
    const a = randomTensor([2, 0, 3], rng(1));
    const b = randomTensor([1, 1, 3], rng(2));
    const y = binary('Add', a, b);
    assert.deepEqual(y.dims, [2, 0, 3]);
    assert.equal(y.data.length, 0);
  });
});
