/** The element-wise math kernels against onnxruntime single-node models (float32 inputs). */
import { describe, it } from 'node:test';
import * as unary from '../../../src/kernels/float/unary.js';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { assertClose, randomTensor, rng, runSingleNode } from '../../helpers/single-node.js';

const random = rng(99);

describe('unary kernels vs onnxruntime', () => {
  const cases: [string, (x: Tensor) => Tensor, number, number, Record<string, string>, number][] = [
    ['Tanh', unary.tanh, -8, 8, {}, 13],
    ['Erf', unary.erf, -4, 4, {}, 13],
    ['Gelu', (x) => unary.gelu(x), -8, 8, {}, 20],
    ['Gelu', (x) => unary.gelu(x, 'tanh'), -8, 8, { approximate: 'tanh' }, 20],
    ['Sqrt', unary.sqrt, 0, 100, {}, 13],
    ['Reciprocal', unary.reciprocal, 0.01, 10, {}, 13],
    ['Neg', unary.neg, -5, 5, {}, 13],
  ];
  for (const [op, f, lo, hi, attrs, opset] of cases) {
    it(`${op}${attrs.approximate ? ` (${attrs.approximate})` : ''}`, async () => {
      const x = randomTensor([3, 200], random, lo, hi);
      const [expected] = await runSingleNode(op, [{ name: 'x', tensor: x }], attrs, 1, opset);
      assertClose(f(x), expected!, 2e-6, 5e-7, op); // atol: float32 cancellation in 1 + tanh(·) near −1
    });
  }
});
