/**
 * ConvTranspose against onnxruntime fp32 (strides, pads, dilations, groups, output_padding,
 * output_shape, auto_pad, bias), the shape of its rewrite (ZeroInsert only where a stride or a crop
 * needs it, then a stride-1 Conv with the flipped, channel-transposed weight), and the refusals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedModelError, UnsupportedModelError } from '../../../src/errors.js';
import type { ConvNodeAttrs } from '../../../src/graph/ops/linear.js';
import { OnnxBuilder, type OnnxAttrValue } from '../../../src/onnx/build.js';
import { importOnnx } from '../../../src/graph/onnx/import.js';
import { convTransposeWeight } from '../../../src/graph/ops/conv-transpose.js';
import { tensor } from '../../../src/tensor/tensor.js';
import { assertAgreesWithOrt } from '../../helpers/ort-agree.js';
import { randomTensor, rng } from '../../helpers/single-node.js';

const random = rng(0xc0417);
const floats = (n: number): Float32Array => Float32Array.from({ length: n }, () => 2 * random() - 1);

interface Case {
  readonly x: [number, number, number, number];
  /** Output channels per group. */
  readonly m: number;
  readonly k: [number, number];
  readonly attrs: Record<string, OnnxAttrValue>;
  readonly bias?: boolean;
}

function model(c: Case, name = 'convt'): Uint8Array {
  const group = typeof c.attrs.group === 'number' ? c.attrs.group : 1;
  const wDims = [c.x[1], c.m, c.k[0], c.k[1]];
  const b = new OnnxBuilder('convt').input('x', c.x).initializer('w', wDims, floats(wDims.reduce((p, d) => p * d, 1)));
  if (c.bias) b.initializer('b', [c.m * group], floats(c.m * group));
  return b.node('ConvTranspose', c.bias ? ['x', 'w', 'b'] : ['x', 'w'], ['y'], c.attrs, name).output('y').toBytes();
}

const cases: [string, Case][] = [
  ['stride 1, no padding', { x: [1, 2, 5, 5], m: 3, k: [3, 3], attrs: {} }],
  ['stride 2, 3×3 (a typical decoder upsampling) with bias', { x: [2, 3, 4, 5], m: 2, k: [3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, bias: true }],
  ['stride 2, 4×4 kernel, pads 1 (DCGAN)', { x: [1, 4, 3, 3], m: 2, k: [4, 4], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } }],
  ['strides 3×2, asymmetric pads', { x: [1, 1, 3, 4], m: 2, k: [3, 3], attrs: { strides: [3, 2], pads: [1, 2, 0, 1] } }],
  ['dilations 2×3', { x: [1, 2, 4, 4], m: 2, k: [2, 3], attrs: { dilations: [2, 3], strides: [2, 1] } }],
  ['groups 2', { x: [1, 4, 3, 3], m: 3, k: [3, 3], attrs: { group: 2, strides: [2, 2] }, bias: true }],
  ['depthwise (groups = channels)', { x: [1, 3, 4, 4], m: 1, k: [3, 3], attrs: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] } }],
  ['pads wider than the kernel reach (crops in the zero insertion)', { x: [1, 2, 6, 6], m: 2, k: [2, 2], attrs: { strides: [2, 2], pads: [3, 2, 2, 3] } }],
  ['output_shape larger than the full output', { x: [1, 1, 3, 3], m: 2, k: [3, 3], attrs: { strides: [3, 2], output_shape: [10, 8] } }],
  ['output_shape smaller than the full output', { x: [1, 2, 4, 4], m: 2, k: [3, 3], attrs: { strides: [2, 2], output_shape: [8, 7] } }],
  ['auto_pad SAME_UPPER, even total padding', { x: [1, 2, 4, 4], m: 2, k: [4, 4], attrs: { strides: [2, 2], auto_pad: 'SAME_UPPER' } }],
  ['auto_pad SAME_LOWER, even total padding', { x: [1, 2, 4, 4], m: 2, k: [4, 4], attrs: { strides: [2, 2], auto_pad: 'SAME_LOWER' } }],
  ['auto_pad SAME_UPPER, odd total padding', { x: [1, 1, 3, 3], m: 2, k: [3, 3], attrs: { strides: [2, 2], auto_pad: 'SAME_UPPER' } }],
  ['auto_pad SAME_LOWER, odd total padding', { x: [1, 1, 3, 3], m: 2, k: [3, 3], attrs: { strides: [2, 2], auto_pad: 'SAME_LOWER' } }],
  ['auto_pad VALID', { x: [1, 2, 3, 4], m: 2, k: [3, 2], attrs: { strides: [2, 2], auto_pad: 'VALID' } }],
];

describe('ConvTranspose against onnxruntime', () => {
  for (const [title, c] of cases) {
    it(title, async () => {
      const { graph } = await assertAgreesWithOrt(model(c), [randomTensor(c.x, random)], 1e-5, 1e-5, title);
      const ops = graph.nodes.map((n) => n.op);
      const strided = Array.isArray(c.attrs.strides) && (c.attrs.strides as number[]).some((s) => s > 1);
      assert.deepEqual(ops, strided ? ['ZeroInsert', 'Conv'] : ['Conv']);
      const conv = graph.nodes.at(-1)!.attrs as ConvNodeAttrs;
      assert.deepEqual(conv.strides, [1, 1], 'the Conv has stride 1');
      assert.ok(conv.pads.every((p) => p >= 0));
    });
  }
});

describe('ConvTranspose rewrite', () => {
  it('flips the kernel and swaps input and output channels, group by group', () => {
    // W [C=4, M/g=1, 1, 2] with groups 2 → W′ [M=2, C/g=2, 1, 2].
    const w = tensor([4, 1, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const wt = convTransposeWeight(w, 2);
    assert.deepEqual(wt.dims, [2, 2, 1, 2]);
    assert.deepEqual(Array.from(wt.data), [2, 1, 4, 3, 6, 5, 8, 7]);
  });

  it('a model naming the internal ZeroInsert op is refused', () => {
    const bytes = new OnnxBuilder('z').input('x', [1, 1, 2, 2]).node('ZeroInsert', ['x'], ['y'], {}, 'sneaky').output('y').toBytes();
    assert.throws(() => importOnnx(bytes), (e: unknown) => e instanceof UnsupportedModelError && /sneaky.*internal/.test(e.message));
  });

  it('1-D and 3-D transposed convolutions are refused naming the node', () => {
    const bytes = new OnnxBuilder('c1').input('x', [1, 1, 5]).initializer('w', [1, 2, 3], floats(6)).node('ConvTranspose', ['x', 'w'], ['y'], {}, 'ct1d').output('y').toBytes();
    assert.throws(() => importOnnx(bytes), (e: unknown) => e instanceof UnsupportedModelError && /ct1d.*2-D/.test(e.message));
  });

  it('a weight that is not a constant, or a wrong bias, is refused', () => {
    const dyn = new OnnxBuilder('c').input('x', [1, 2, 3, 3]).input('w', [2, 2, 3, 3]).node('ConvTranspose', ['x', 'w'], ['y'], {}, 'ct').output('y').toBytes();
    assert.throws(() => importOnnx(dyn), (e: unknown) => e instanceof UnsupportedModelError && /'ct'.*constant/.test(e.message));
    const c: Case = { x: [1, 2, 3, 3], m: 3, k: [3, 3], attrs: {} };
    const wrongBias = new OnnxBuilder('c').input('x', c.x).initializer('w', [2, 3, 3, 3], floats(54)).initializer('b', [2], floats(2)).node('ConvTranspose', ['x', 'w', 'b'], ['y'], {}, 'ct').output('y').toBytes();
    assert.throws(() => importOnnx(wrongBias), (e: unknown) => e instanceof MalformedModelError && /'ct'.*bias has 2 values, expected 3/.test(e.message));
  });
});
