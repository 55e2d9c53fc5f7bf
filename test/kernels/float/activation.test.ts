/**
 * Float activation kernels against onnxruntime-node (opset 13; HardSwish at opset 14).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import { clip, hardSigmoid, hardSwish, leakyRelu, relu, sigmoid, softmax } from '../../../src/kernels/float/activation.js';
import { tensor } from '../../../src/tensor/tensor.js';
import { assertClose, randomTensor, rng, runSingleNode } from '../../helpers/single-node.js';

const random = rng(7);
const x = randomTensor([2, 3, 4, 5], random, -8, 8);

async function ort(op: string, attrs: Record<string, number> = {}, opset = 13) {
  const [y] = await runSingleNode(op, [{ name: 'x', tensor: x }], attrs, 1, opset);
  return y!;
}

describe('float activations vs onnxruntime', () => {
  it('Relu', async () => {
    assertClose(relu(x), await ort('Relu'), 0, 0);
  });

  it('Relu is exactly max(v, 0) on edge values (NaN, ±∞, ±0, subnormals, near overflow)', () => {
    const edge = [NaN, -Infinity, Infinity, -0, 0, 5e-324, -5e-324, 2 ** 1023, 1.5 * 2 ** 1023, -(2 ** 1023), Number.MAX_VALUE, 1 / 3, -1 / 3];
    const y = relu(tensor([edge.length], Float64Array.from(edge))).data;
    edge.forEach((v, i) => assert.ok(Object.is(y[i], Math.max(v, 0)), `relu(${v}) = ${y[i]}`));
  });

  it('LeakyRelu (default and explicit alpha)', async () => {
    assertClose(leakyRelu(x), await ort('LeakyRelu'), 1e-6, 1e-7);
    assertClose(leakyRelu(x, 0.3), await ort('LeakyRelu', { alpha: 0.3 }), 1e-6, 1e-7);
  });

  it('Sigmoid', async () => {
    assertClose(sigmoid(x), await ort('Sigmoid'), 1e-5, 1e-6);
    const extreme = tensor([4], [-800, -40, 40, 800]);
    assert.deepEqual([...sigmoid(extreme).data].map((v) => Math.round(v)), [0, 0, 1, 1]);
    assert.ok(sigmoid(extreme).data.every(Number.isFinite));
  });

  it('HardSigmoid (default and explicit alpha, beta)', async () => {
    assertClose(hardSigmoid(x), await ort('HardSigmoid'), 1e-6, 1e-6);
    assertClose(hardSigmoid(x, 0.3, 0.4), await ort('HardSigmoid', { alpha: 0.3, beta: 0.4 }), 1e-6, 1e-6);
  });

  it('HardSwish', async () => {
    assertClose(hardSwish(x), await ort('HardSwish', {}, 14), 1e-5, 1e-6);
  });

  it('Clip with both, one or no bounds, and min > max', async () => {
    const bounds: [number | null, number | null][] = [
      [-1.5, 2.25],
      [null, 0.5],
      [-0.75, null],
      [null, null],
      [2, -1],
    ];
    for (const [min, max] of bounds) {
      const [expected] = await runSingleNode('Clip', [
        { name: 'x', tensor: x },
        { name: 'min', tensor: min === null ? null : tensor([], [min]) },
        { name: 'max', tensor: max === null ? null : tensor([], [max]) },
      ]);
      assertClose(clip(x, min ?? -Infinity, max ?? Infinity), expected!, 0, 0, `clip(${min}, ${max})`);
    }
  });

  it('Softmax along every axis, negative axes and the default', async () => {
    for (const axis of [0, 1, 2, 3, -1, -2, -4]) {
      assertClose(softmax(x, axis), await ort('Softmax', { axis }), 1e-5, 1e-7, `axis ${axis}`);
    }
    assertClose(softmax(x), await ort('Softmax'), 1e-5, 1e-7, 'default axis');
    const v = randomTensor([7], random, -50, 50);
    const [expected] = await runSingleNode('Softmax', [{ name: 'x', tensor: v }], { axis: 0 });
    assertClose(softmax(v, 0), expected!, 1e-5, 1e-7, 'rank 1');
  });

  it('Softmax rejects an out-of-range axis', () => {
    assert.throws(() => softmax(x, 4), InvalidArgumentError);
    assert.throws(() => softmax(x, -5), InvalidArgumentError);
    assert.throws(() => softmax(tensor([], [1])), InvalidArgumentError);
  });
});
