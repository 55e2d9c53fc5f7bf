/**
 * train/layers.ts: each layer's backward pass is the gradient of its forward pass. The linear layers
 * (their products on 12-bit operands, so quantization error stays below 0.5 %) against central
 * differences of the float convolution and matrix product; BatchNorm, ReLU, pooling and the residual
 * block (no products) against central differences of their own forward pass; and the loss's
 * gradient against its own differences.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conv2d } from '../../src/kernels/conv.js';
import { BatchNorm, Conv, Dense, Pool2, Relu, Residual, Sequential, softmaxCrossEntropy, type Module } from '../../src/train/layers.js';
import { close, dot, layerContext, normalsFrom, numericGradient } from '../helpers/gradients.js';

const ctx = layerContext();
const normals = normalsFrom(3);

const attrs = { strides: [1, 1] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], dilations: [1, 1] as [number, number], group: 1 };

describe('training layers', () => {
  test('Conv: forward, input and weight gradients', async () => {
    const dims = [2, 2, 5, 5];
    const x = normals(100);
    const conv = new Conv(0, 'c', 2, 3, 3, true, normals(54));
    const w = Float64Array.from(conv.weight.value);
    const y = await conv.forward({ dims, data: x }, ctx);
    const floatConv = (xv: Float64Array, wv: Float64Array): Float64Array => conv2d({ dims, data: xv }, { dims: [3, 2, 3, 3], data: wv }, attrs).data;
    close(y.data, floatConv(x, w), 5e-3, 'y');
    const r = normals(y.data.length);
    const dx = await conv.backward({ dims: y.dims, data: r }, ctx);
    close(dx!.data, await numericGradient((xv) => floatConv(xv, w), x, r, 1e-3), 5e-3, 'dx');
    close(conv.weight.grad, await numericGradient((wv) => floatConv(x, wv), w, r, 1e-3), 5e-3, 'dw');
  });

  test('Dense: forward, input, weight and bias gradients', async () => {
    const x = normals(3 * 6);
    const dense = new Dense(0, 'fc', 6, 4, true, normals(24), normals(4));
    const w = Float64Array.from(dense.weight.value);
    const b = Float64Array.from(dense.bias.value);
    const floatDense = (xv: Float64Array, wv: Float64Array, bv: Float64Array): Float64Array => {
      const out = new Float64Array(12);
      for (let n = 0; n < 3; n++) for (let o = 0; o < 4; o++) out[n * 4 + o] = bv[o]! + dot(xv.subarray(n * 6, n * 6 + 6), wv.subarray(o * 6, o * 6 + 6));
      return out;
    };
    const y = await dense.forward({ dims: [3, 6], data: x }, ctx);
    close(y.data, floatDense(x, w, b), 5e-3, 'y');
    const r = normals(12);
    const dx = await dense.backward({ dims: [3, 4], data: r }, ctx);
    close(dx!.data, await numericGradient((xv) => floatDense(xv, w, b), x, r, 1e-3), 5e-3, 'dx');
    close(dense.weight.grad, await numericGradient((wv) => floatDense(x, wv, b), w, r, 1e-3), 5e-3, 'dw');
    close(dense.bias.grad, await numericGradient((bv) => floatDense(x, w, bv), b, r, 1e-3), 1e-9, 'db');
  });

  const floatModules: [string, () => Module, number[]][] = [
    ['BatchNorm', () => new BatchNorm('bn', 2, { gamma: normals(2), beta: normals(2) }), [3, 2, 2, 2]],
    ['Relu', () => new Relu(), [2, 3, 2, 2]],
    ['MaxPool 2×2', () => new Pool2('max'), [1, 2, 5, 5]],
    ['AveragePool 2×2', () => new Pool2('average'), [1, 2, 5, 5]],
    ['Residual(BatchNorm, Relu)', () => new Residual(new Sequential([new BatchNorm('bn', 2, { gamma: normals(2), beta: normals(2) }), new Relu()])), [2, 2, 3, 3]],
  ];
  for (const [name, make, dims] of floatModules) {
    test(`${name}: backward is the gradient of forward`, async () => {
      const m = make();
      const x = normals(dims.reduce((a, b) => a * b, 1));
      const y = await m.forward({ dims, data: x }, ctx);
      const r = normals(y.data.length);
      const dx = (await m.backward({ dims: y.dims, data: r }, ctx))!;
      // The same module's forward again (its output depends on x alone; only its saved state changes).
      const f = async (xv: Float64Array): Promise<Float64Array> => (await m.forward({ dims, data: xv }, ctx)).data;
      close(dx.data, await numericGradient(f, x, r, 1e-6), 1e-5, 'dx');
    });
  }

  test('BatchNorm folds batch statistics into the running ones only when committed', async () => {
    const bn = new BatchNorm('bn', 1);
    await bn.forward({ dims: [4, 1, 1, 1], data: Float64Array.of(1, 2, 3, 4) });
    assert.deepEqual([bn.runningMean[0], bn.runningVar[0]], [0, 1]);
    bn.commitRunning();
    assert.ok(Math.abs(bn.runningMean[0]! - 0.25) < 1e-12 && Math.abs(bn.runningVar[0]! - (0.9 + 0.1 * (5 / 3))) < 1e-12);
  });

  test('softmax cross-entropy: mean loss and its gradient', () => {
    const logits = normals(3 * 4);
    const labels = [2, 0, 3];
    const { loss, grad } = softmaxCrossEntropy({ dims: [3, 4], data: logits }, labels);
    const lossOf = (l: Float64Array): number => softmaxCrossEntropy({ dims: [3, 4], data: l }, labels).loss;
    const want = logits.map((_, i) => {
      const hi = Float64Array.from(logits);
      const lo = Float64Array.from(logits);
      hi[i] += 1e-6;
      lo[i] -= 1e-6;
      return (lossOf(hi) - lossOf(lo)) / 2e-6;
    });
    close(grad.data, want, 1e-6, 'dlogits');
    assert.ok(loss > 0);
  });
});
