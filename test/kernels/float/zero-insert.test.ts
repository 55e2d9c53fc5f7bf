/** Zero insertion (the first half of the ConvTranspose rewrite) on a hand-checked example. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import { zeroInsert, zeroInsertDims } from '../../../src/kernels/float/zero-insert.js';
import { tensor } from '../../../src/tensor/tensor.js';

describe('zeroInsert', () => {
  const x = tensor([1, 1, 2, 3], [1, 2, 3, 4, 5, 6]);

  it('puts stride − 1 zeros between neighbours along H and W', () => {
    const y = zeroInsert(x, { strides: [2, 3], crops: [0, 0, 0, 0] });
    assert.deepEqual(y.dims, [1, 1, 3, 7]);
    // prettier-ignore
    assert.deepEqual(Array.from(y.data), [
      1, 0, 0, 2, 0, 0, 3,
      0, 0, 0, 0, 0, 0, 0,
      4, 0, 0, 5, 0, 0, 6,
    ]);
  });

  it('crops rows and columns off the edges after inserting', () => {
    const y = zeroInsert(x, { strides: [2, 2], crops: [1, 1, 0, 2] });
    assert.deepEqual(y.dims, [1, 1, 2, 2]);
    assert.deepEqual(Array.from(y.data), [0, 0, 0, 5]);
  });

  it('keeps planes apart and refuses what is not NCHW or crops everything', () => {
    const two = tensor([2, 1, 1, 2], [1, 2, 3, 4]);
    assert.deepEqual(Array.from(zeroInsert(two, { strides: [1, 2], crops: [0, 0, 0, 0] }).data), [1, 0, 2, 3, 0, 4]);
    assert.throws(() => zeroInsertDims([1, 2, 3], { strides: [2, 2], crops: [0, 0, 0, 0] }), InvalidArgumentError);
    assert.throws(() => zeroInsert(x, { strides: [1, 1], crops: [1, 0, 1, 0] }), InvalidArgumentError);
  });
});
