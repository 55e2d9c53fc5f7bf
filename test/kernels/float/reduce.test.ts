/**
 * ReduceMean and LayerNormalization's row statistics on hand-checked values (onnxruntime
 * comparisons of the ops: test/graph/ops/normalization.test.ts), and the axis rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import { layerNormalization, statsDims } from '../../../src/kernels/float/normalize.js';
import { normalizeAxes, reduceMean, reducedDims, rowStats } from '../../../src/kernels/float/reduce.js';
import { tensor } from '../../../src/tensor/tensor.js';

// x[2,2,3] = 0 … 11
const x = tensor([2, 2, 3], Array.from({ length: 12 }, (_, i) => i));

describe('reduceMean', () => {
  it('over one axis, several, all, with and without keepdims', () => {
    assert.deepEqual(reduceMean(x, [2]), { dims: [2, 2, 1], data: Float64Array.from([1, 4, 7, 10]) });
    assert.deepEqual(reduceMean(x, [1], false), { dims: [2, 3], data: Float64Array.from([1.5, 2.5, 3.5, 7.5, 8.5, 9.5]) });
    assert.deepEqual(reduceMean(x, [0, 2], false), { dims: [2], data: Float64Array.from([4, 7]) });
    assert.deepEqual(reduceMean(x, [0, 1, 2]), { dims: [1, 1, 1], data: Float64Array.from([5.5]) });
  });

  it('no axes is a copy', () => {
    const y = reduceMean(x, []);
    assert.deepEqual(y, x);
    assert.notEqual(y.data, x.data);
  });

  it('axes: negative ones count from the end, repeats collapse, out of range is an error', () => {
    assert.deepEqual(normalizeAxes([-1, 0, 2], 3, 'ReduceMean'), [0, 2]);
    assert.throws(() => normalizeAxes([3], 3, 'ReduceMean'), InvalidArgumentError);
    assert.throws(() => normalizeAxes([-4], 3, 'ReduceMean'), InvalidArgumentError);
    assert.deepEqual(reducedDims([2, 3, 4], [0, 2], true), [1, 3, 1]);
    assert.deepEqual(reducedDims([2, 3, 4], [0, 2], false), [3]);
  });
});

describe('layerNormalization', () => {
  it('row statistics: mean and 1/√(variance + ε), two-pass (no cancellation at a large offset)', () => {
    const offset = 1e8;
    const { mean, invStdDev } = rowStats(Float64Array.from([offset + 1, offset + 2, offset + 3, offset + 4]), 1, 4, 0);
    assert.equal(mean[0], offset + 2.5);
    assert.equal(invStdDev[0], 1 / Math.sqrt(1.25));
  });

  it('normalizes the trailing axes, then scales and shifts', () => {
    const scale = tensor([3], [1, 2, 3]);
    const bias = tensor([3], [0, 1, 0]);
    const y = layerNormalization(x, { axis: 2, epsilon: 0, output: 'Y' }, scale, bias);
    const z = Math.sqrt(1.5); // each row is m−1, m, m+1: variance 2/3
    const expected = [-z, 1, 3 * z];
    for (let r = 0; r < 4; r++) for (let i = 0; i < 3; i++) assert.ok(Math.abs(y.data[r * 3 + i]! - expected[i]!) < 1e-12);
    const mean = layerNormalization(x, { axis: 1, epsilon: 0, output: 'Mean' });
    assert.deepEqual(mean, { dims: [2, 1, 1], data: Float64Array.from([2.5, 8.5]) });
    assert.deepEqual(statsDims([2, 3, 4, 5], 2), [2, 3, 1, 1]);
  });

  it('a scale of the wrong size is an error', () => {
    assert.throws(() => layerNormalization(x, { axis: 1, epsilon: 1e-5, output: 'Y' }, tensor([3], [1, 1, 1])), InvalidArgumentError);
  });
});
