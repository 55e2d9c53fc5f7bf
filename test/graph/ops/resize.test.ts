/**
 * Resize (nearest with every nearest_mode, linear; every coordinate transform; scales or sizes;
 * opset 18's axes and keep_aspect_ratio_policy, opset 19's half_pixel_symmetric) against
 * onnxruntime fp32 on NCHW tensors, and the refusals (cubic, antialias, non-constant sizes,
 * Resize-10). Scales here are ones where scale·length is an integer: where it is not,
 * align_corners / pytorch_half_pixel / tf_crop_and_resize follow the ONNX reference (and its
 * backend test data) rather than onnxruntime — see kernels/float/resize.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsupportedModelError } from '../../../src/errors.js';
import { OnnxBuilder, type OnnxAttrValue } from '../../../src/onnx/build.js';
import { importOnnx } from '../../../src/graph/onnx/import.js';
import { assertAgreesWithOrt } from '../../helpers/ort-agree.js';
import { randomTensor, rng } from '../../helpers/single-node.js';

const random = rng(0x7e51);
const IN = [1, 2, 4, 5];

interface Case {
  readonly attrs: Record<string, OnnxAttrValue>;
  readonly scales?: number[];
  readonly sizes?: number[];
  readonly roi?: number[];
  readonly opset?: number;
}

function model(c: Case, name = 'resize'): Uint8Array {
  const b = new OnnxBuilder('resize', { opset: c.opset ?? 13 }).input('x', IN);
  const inputs = ['x', '', '', ''];
  if (c.roi) {
    b.initializer('roi', [c.roi.length], new Float32Array(c.roi));
    inputs[1] = 'roi';
  }
  if (c.scales) {
    b.initializer('scales', [c.scales.length], new Float32Array(c.scales));
    inputs[2] = 'scales';
  }
  if (c.sizes) {
    b.initializer('sizes', [c.sizes.length], BigInt64Array.from(c.sizes.map(BigInt)));
    inputs[3] = 'sizes';
  }
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return b.node('Resize', inputs, ['y'], c.attrs, name).output('y').toBytes();
}

/** onnxruntime takes scale = size/length in float32: its coordinates, so its linear weights, are off by ~1e-7. */
async function check(c: Case): Promise<void> {
  await assertAgreesWithOrt(model(c), [randomTensor(IN, random)], 1e-5, 5e-6, JSON.stringify(c));
}

const SIZES = { up: [1, 2, 7, 9], down: [1, 2, 3, 2] };

describe('Resize nearest against onnxruntime', () => {
  const transforms = ['half_pixel', 'asymmetric', 'align_corners', 'pytorch_half_pixel', 'tf_half_pixel_for_nn'];
  for (const nearest_mode of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']) {
    for (const coordinate_transformation_mode of transforms) {
      for (const [which, sizes] of Object.entries(SIZES)) {
        it(`${nearest_mode}, ${coordinate_transformation_mode}, sizes ${which} [${sizes}]`, () =>
          check({ attrs: { mode: 'nearest', nearest_mode, coordinate_transformation_mode }, sizes }));
      }
    }
  }
  it('integer scales ×2 and ×3 (the default modes)', () => check({ attrs: {}, scales: [1, 1, 2, 3] }));
  it('scales ½ on a length divisible by 2', async () => {
    const bytes = new OnnxBuilder('r').input('x', [1, 1, 4, 6]).initializer('s', [4], new Float32Array([1, 1, 0.5, 0.5])).node('Resize', ['x', '', 's'], ['y'], { mode: 'nearest' }).output('y').toBytes();
    await assertAgreesWithOrt(bytes, [randomTensor([1, 1, 4, 6], random)], 0, 0);
  });
});

describe('Resize linear (bilinear on NCHW) against onnxruntime', () => {
  for (const coordinate_transformation_mode of ['half_pixel', 'asymmetric', 'align_corners', 'pytorch_half_pixel']) {
    for (const [which, sizes] of Object.entries(SIZES)) {
      it(`${coordinate_transformation_mode}, sizes ${which} [${sizes}]`, () => check({ attrs: { mode: 'linear', coordinate_transformation_mode }, sizes }));
    }
    it(`${coordinate_transformation_mode}, scales ×2`, () => check({ attrs: { mode: 'linear', coordinate_transformation_mode }, scales: [1, 1, 2, 2] }));
  }
  it('tf_crop_and_resize with an roi reaching outside and an extrapolation value', () =>
    check({ attrs: { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: 7.5 }, sizes: [1, 2, 5, 6], roi: [0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3] }));
  it('opset 18 axes: sizes for H and W only', () => check({ attrs: { mode: 'linear', axes: [2, 3] }, sizes: [8, 3], opset: 18 }));
  it('opset 18 axes with negative indices and scales', () => check({ attrs: { mode: 'nearest', axes: [-1, -2] }, scales: [2, 3], opset: 18 }));
  for (const keep_aspect_ratio_policy of ['not_larger', 'not_smaller']) {
    it(`opset 18 keep_aspect_ratio_policy ${keep_aspect_ratio_policy}`, () => check({ attrs: { mode: 'linear', keep_aspect_ratio_policy, axes: [2, 3] }, sizes: [9, 7], opset: 18 }));
  }
  it('opset 19 half_pixel_symmetric', () => check({ attrs: { mode: 'linear', coordinate_transformation_mode: 'half_pixel_symmetric' }, sizes: [1, 2, 7, 3], opset: 19 }));
});

describe('Resize refusals', () => {
  const refused = (c: Case, reason: RegExp) => {
    assert.throws(() => importOnnx(model(c, 'my_resize')), (e: unknown) => e instanceof UnsupportedModelError && e.message.includes("'my_resize' (Resize)") && reason.test(e.message));
  };
  it('cubic mode', () => refused({ attrs: { mode: 'cubic' }, scales: [1, 1, 2, 2] }, /cubic/));
  it('antialias', () => refused({ attrs: { mode: 'linear', antialias: 1 }, scales: [1, 1, 0.5, 0.5], opset: 18 }, /antialias/));
  it('Resize-10', () => {
    const bytes = new OnnxBuilder('r', { opset: 10 }).input('x', IN).initializer('s', [4], new Float32Array([1, 1, 2, 2])).node('Resize', ['x', 's'], ['y'], {}, 'my_resize').output('y').toBytes();
    assert.throws(() => importOnnx(bytes), (e: unknown) => e instanceof UnsupportedModelError && /my_resize.*opset 11/.test(e.message));
  });
  it('sizes that are not constant', () => {
    const bytes = new OnnxBuilder('r').input('x', IN).input('sizes', [4], 'int64').node('Resize', ['x', '', '', 'sizes'], ['y'], {}, 'my_resize').output('y').toBytes();
    assert.throws(() => importOnnx(bytes), (e: unknown) => e instanceof UnsupportedModelError && /my_resize.*sizes must be a constant/.test(e.message));
  });
});
