/**
 * Float pooling kernels against onnxruntime-node: MaxPool (opset 13), AveragePool (opset 13, and
 * opset 19 for dilations), global pools, output shapes including ceil_mode.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import {
  averagePool2d,
  globalAveragePool,
  globalMaxPool,
  maxPool2d,
  poolOutputDims,
  type PoolAttrs,
} from '../../../src/kernels/float/pool.js';
import { tensor, type Tensor } from '../../../src/tensor/tensor.js';
import { assertClose, randomTensor, rng, runSingleNode } from '../../helpers/single-node.js';

interface Case {
  dims: [number, number, number, number];
  kernel: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
}

const CASES: Case[] = [
  { dims: [1, 2, 7, 7], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1] },
  { dims: [2, 3, 8, 9], kernel: [3, 2], strides: [2, 3], pads: [2, 0, 0, 1], dilations: [1, 1] },
  { dims: [1, 2, 6, 5], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1] },
  { dims: [1, 1, 5, 5], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0], dilations: [1, 1] },
  { dims: [1, 2, 9, 8], kernel: [3, 3], strides: [1, 2], pads: [0, 2, 1, 0], dilations: [2, 1] },
  { dims: [1, 2, 10, 10], kernel: [2, 3], strides: [3, 2], pads: [1, 2, 1, 0], dilations: [3, 2] },
  { dims: [1, 1, 4, 4], kernel: [4, 4], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] },
  { dims: [1, 3, 11, 6], kernel: [1, 1], strides: [3, 2], pads: [0, 0, 0, 0], dilations: [1, 1] },
];

function attrsOf(c: Case, ceilMode: boolean): PoolAttrs {
  return { kernel: c.kernel, strides: c.strides, pads: c.pads, dilations: c.dilations, ceilMode };
}

function onnxAttrs(c: Case, ceilMode: boolean) {
  return { kernel_shape: c.kernel, strides: c.strides, pads: c.pads, dilations: c.dilations, ceil_mode: ceilMode ? 1 : 0 };
}

function label(c: Case, ceil: boolean, extra = ''): string {
  return `x[${c.dims}] k[${c.kernel}] s[${c.strides}] p[${c.pads}] d[${c.dilations}] ceil=${ceil}${extra}`;
}

describe('float pooling vs onnxruntime', () => {
  const random = rng(11);
  const inputs = CASES.map((c) => randomTensor(c.dims, random));

  it('MaxPool matches (strides, asymmetric pads, dilations, ceil_mode) and poolOutputDims agrees', async () => {
    for (const [i, c] of CASES.entries()) {
      for (const ceil of [false, true]) {
        const x = inputs[i]!;
        const [expected] = await runSingleNode('MaxPool', [{ name: 'x', tensor: x }], onnxAttrs(c, ceil));
        assert.deepEqual(poolOutputDims(x.dims, attrsOf(c, ceil)), expected!.dims, label(c, ceil));
        assertClose(maxPool2d(x, attrsOf(c, ceil)), expected!, 0, 0, label(c, ceil));
      }
    }
  });

  it('AveragePool matches with count_include_pad 0 and 1', async () => {
    for (const [i, c] of CASES.entries()) {
      const dilated = c.dilations[0] !== 1 || c.dilations[1] !== 1;
      for (const ceil of [false, true]) {
        for (const cip of [false, true]) {
          const x = inputs[i]!;
          // AveragePool gained dilations in opset 19; without them test the opset-13 kernel.
          const { dilations, ...common } = onnxAttrs(c, ceil);
          const [expected] = await runSingleNode(
            'AveragePool',
            [{ name: 'x', tensor: x }],
            { ...common, ...(dilated ? { dilations } : {}), count_include_pad: cip ? 1 : 0 },
            1,
            dilated ? 19 : 13,
          );
          assertClose(averagePool2d(x, { ...attrsOf(c, ceil), countIncludePad: cip }), expected!, 1e-5, 1e-6, label(c, ceil, ` cip=${cip}`));
        }
      }
    }
  });

  it('ceil_mode drops a last window that would start in the trailing padding', async () => {
    const x = tensor([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i));
    const attrs: PoolAttrs = { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1], ceilMode: true };
    assert.deepEqual(poolOutputDims(x.dims, attrs), [1, 1, 2, 2]);
    const [expected] = await runSingleNode('MaxPool', [{ name: 'x', tensor: x }], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], ceil_mode: 1 });
    assertClose(maxPool2d(x, attrs), expected!, 0, 0);
    assert.deepEqual([...maxPool2d(x, attrs).data], [5, 7, 13, 15]);
  });

  it('GlobalAveragePool and GlobalMaxPool match', async () => {
    for (const dims of [
      [2, 3, 5, 4],
      [1, 4, 1, 1],
      [1, 2, 7],
    ]) {
      const x = randomTensor(dims, random);
      const [avg] = await runSingleNode('GlobalAveragePool', [{ name: 'x', tensor: x }]);
      const [max] = await runSingleNode('GlobalMaxPool', [{ name: 'x', tensor: x }]);
      assertClose(globalAveragePool(x), avg!, 1e-5, 1e-6, `GlobalAveragePool [${dims}]`);
      assertClose(globalMaxPool(x), max!, 0, 0, `GlobalMaxPool [${dims}]`);
    }
  });
});

describe('MaxPool: exact maximum on awkward values', () => {
  it('equals a compare-based maximum on near-ties, huge values, ±∞, ±0 and NaN', () => {
    const random = rng(17);
    const awkward = [NaN, Infinity, -Infinity, 0, -0, 1, 1 + 2 ** -52, 1 - 2 ** -53, Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, -5e-324, 1e16, 1e16 + 2];
    const data = Float64Array.from({ length: 2 * 3 * 8 * 8 }, () => (random() < 0.5 ? awkward[Math.floor(random() * awkward.length)]! : (random() - 0.5) * 10));
    const attrs: PoolAttrs = { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceilMode: false };
    const y = maxPool2d(tensor([2, 3, 8, 8], data), attrs).data;
    let o = 0;
    for (let plane = 0; plane < 6; plane++) {
      for (let r = 0; r < 8; r += 2) {
        for (let c = 0; c < 8; c += 2, o++) {
          const window = [0, 1, 8, 9].map((d) => data[plane * 64 + r * 8 + c + d]!);
          const expected = window.some((v) => Number.isNaN(v)) ? NaN : window.reduce((a, b) => (b > a ? b : a));
          assert.ok(Object.is(y[o], expected) || (y[o] === 0 && expected === 0), `window ${window.join(', ')}: got ${y[o]}, expected ${expected}`);
        }
      }
    }
  });
});

describe('float pooling: invalid shapes', () => {
  const x: Tensor = tensor([1, 1, 3, 3]);
  const base: PoolAttrs = { kernel: [2, 2], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], ceilMode: false };

  it('rejects a window larger than the padded input', () => {
    assert.throws(() => maxPool2d(x, { ...base, kernel: [4, 2] }), InvalidArgumentError);
    assert.throws(() => poolOutputDims(x.dims, { ...base, dilations: [3, 1] }), InvalidArgumentError);
  });

  it('rejects pads not smaller than the kernel, bad strides and non-NCHW inputs', () => {
    assert.throws(() => maxPool2d(x, { ...base, pads: [0, 2, 0, 0] }), InvalidArgumentError);
    assert.throws(() => averagePool2d(x, { ...base, strides: [0, 1], countIncludePad: false }), InvalidArgumentError);
    assert.throws(() => maxPool2d(tensor([1, 3, 3]), base), InvalidArgumentError);
    assert.throws(() => globalAveragePool(tensor([3, 3])), InvalidArgumentError);
  });
});
