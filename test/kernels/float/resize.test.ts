/**
 * The Resize kernel on hand-checked values, including the ONNX-reference behaviour that differs
 * from onnxruntime (align_corners with scales whose product with the length is not an integer) and
 * tf_crop_and_resize's extrapolation. onnxruntime comparisons of the op: test/graph/ops/resize.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resize, type ResizeAttrs } from '../../../src/kernels/float/resize.js';
import { tensor } from '../../../src/tensor/tensor.js';

const base: Omit<ResizeAttrs, 'outDims' | 'scales'> = { mode: 'nearest', coordinateTransform: 'asymmetric', nearestMode: 'floor', extrapolationValue: 0 };

describe('resize', () => {
  it('nearest, asymmetric, floor: each value repeated', () => {
    const y = resize(tensor([1, 1, 1, 2], [1, 2]), { ...base, outDims: [1, 1, 2, 4], scales: [1, 1, 2, 2] });
    assert.deepEqual(Array.from(y.data), [1, 1, 2, 2, 1, 1, 2, 2]);
  });

  it('linear, half_pixel: bilinear weights, edges clamped', () => {
    const y = resize(tensor([1, 1, 1, 2], [0, 4]), { ...base, mode: 'linear', coordinateTransform: 'half_pixel', outDims: [1, 1, 1, 4], scales: [1, 1, 1, 2] });
    // source coordinates −0.25, 0.25, 0.75, 1.25 → 0, 1, 3, 4
    assert.deepEqual(Array.from(y.data), [0, 1, 3, 4]);
  });

  it('align_corners with scales divides by scale·length − 1, as the ONNX reference does', () => {
    // 1×4 row, scale 0.6: output length ⌊2.4⌋ = 2; x = 1 maps to 1·3/1.4 (onnxruntime: 1·3/1 = 3).
    const y = resize(tensor([1, 1, 1, 4], [1, 2, 3, 4]), { ...base, mode: 'linear', coordinateTransform: 'align_corners', outDims: [1, 1, 1, 2], scales: [1, 1, 1, 0.6] });
    assert.equal(y.data[0], 1);
    assert.ok(Math.abs(y.data[1]! - (1 + 3 / 1.4)) < 1e-12);
  });

  it('tf_crop_and_resize writes the extrapolation value outside the input', () => {
    const y = resize(tensor([1, 1, 1, 3], [1, 2, 3]), {
      ...base,
      mode: 'linear',
      coordinateTransform: 'tf_crop_and_resize',
      outDims: [1, 1, 1, 3],
      scales: [1, 1, 1, 1],
      roi: [0, 0, 0, 0.5, 1, 1, 1, 1.5],
      extrapolationValue: -9,
    });
    // source coordinates 1, 2, 3 over an input of length 3 (indices 0…2)
    assert.deepEqual(Array.from(y.data), [2, 3, -9]);
  });

  it('every axis unchanged: a copy', () => {
    const x = tensor([1, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const y = resize(x, { ...base, outDims: [1, 2, 2, 2], scales: [1, 1, 1, 1] });
    assert.deepEqual(y, x);
    assert.notEqual(y.data, x.data);
  });
});
