/** Flag parsing shared by the commands (cli/options.ts): per-input values and preprocessing flags. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseDims, perInputFlag, preprocessFromFlags } from '../../src/cli/options.js';

describe('perInputFlag', () => {
  it('one plain value is the first input’s; name=value pairs make a record; paths with = stay paths', () => {
    assert.equal(perInputFlag(undefined, '--input', (s) => s), undefined);
    assert.equal(perInputFlag(['x.npy'], '--input', (s) => s), 'x.npy');
    assert.equal(perInputFlag(['./a=b.npy'], '--input', (s) => s), './a=b.npy');
    assert.deepEqual(perInputFlag(['image=a.npy', 'input.1=b.npy'], '--input', (s) => s), { image: 'a.npy', 'input.1': 'b.npy' });
    assert.deepEqual(perInputFlag(['x=1,3,8,8'], '--input-shape', parseDims), { x: [1, 3, 8, 8] });
    assert.throws(() => perInputFlag(['a.npy', 'b.npy'], '--input', (s) => s), /--input given several times needs name=value/);
    assert.throws(() => perInputFlag(['x=a', 'x=b'], '--input', (s) => s), /names input 'x' twice/);
  });
});

describe('preprocessFromFlags', () => {
  it('turns --size/--resize/--crop/--mean/--std/--scale/--channels/--layout into preprocessing fields', () => {
    assert.deepEqual(preprocessFromFlags({}), {});
    assert.deepEqual(preprocessFromFlags({ size: '32,48', resize: '0', crop: 'none', mean: '0.5', std: '0.5', scale: '1', channels: '3', layout: 'nhwc' }), {
      size: [32, 48],
      resize: 0,
      crop: 'none',
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      scale: 1,
      channels: 3,
      layout: 'NHWC',
    });
    for (const [flags, message] of [
      [{ size: '32' }, /--size must be height,width/],
      [{ resize: '-1' }, /--resize/],
      [{ crop: 'left' }, /--crop must be center or none/],
      [{ mean: 'a,b' }, /--mean must be numbers/],
      [{ channels: '2' }, /--channels must be 1 or 3/],
      [{ layout: 'CHW' }, /--layout must be NCHW or NHWC/],
    ] as const) {
      assert.throws(() => preprocessFromFlags(flags), message);
    }
  });
});
