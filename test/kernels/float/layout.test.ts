/**
 * Float layout kernels and shape rules against onnxruntime-node (opset 13; Reshape's allowzero at
 * opset 14): Concat, Transpose, Pad, Reshape, Flatten, Slice, Gather, Squeeze, Unsqueeze.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import {
  concat,
  flattenDims,
  gather,
  gatherDims,
  pad,
  reshapeDims,
  slice,
  sliceDims,
  squeezeDims,
  transpose,
  unsqueezeDims,
  type PadMode,
} from '../../../src/kernels/float/layout.js';
import { tensor, type Tensor } from '../../../src/tensor/tensor.js';
import { assertClose, randomTensor, rng, runSingleNode, type NodeInput } from '../../helpers/single-node.js';

const random = rng(5);
const ints = (values: readonly number[]): Tensor => tensor([values.length], values);
const i64 = (name: string, values: readonly number[]): NodeInput => ({ name, tensor: ints(values), dtype: 'int64' });

async function ortOne(op: string, inputs: NodeInput[], attrs: Record<string, number | number[] | string> = {}, opset = 13): Promise<Tensor> {
  const [y] = await runSingleNode(op, inputs, attrs, 1, opset);
  return y!;
}

const INT64_MAX = 2 ** 63;
const INT64_MIN = -(2 ** 63);

describe('float layout kernels vs onnxruntime', () => {
  it('Concat along positive and negative axes', async () => {
    const a = randomTensor([2, 3, 4], random);
    const b = randomTensor([2, 1, 4], random);
    const c = randomTensor([2, 2, 4], random);
    for (const axis of [1, -2]) {
      const y = await ortOne('Concat', [{ name: 'a', tensor: a }, { name: 'b', tensor: b }, { name: 'c', tensor: c }], { axis });
      assertClose(concat([a, b, c], axis), y, 0, 0, `axis ${axis}`);
    }
    const d = randomTensor([2, 3, 2], random);
    for (const axis of [2, -1]) {
      const y = await ortOne('Concat', [{ name: 'a', tensor: a }, { name: 'd', tensor: d }], { axis });
      assertClose(concat([a, d], axis), y, 0, 0, `axis ${axis}`);
    }
    const e = randomTensor([1, 3, 4], random);
    const y0 = await ortOne('Concat', [{ name: 'a', tensor: a }, { name: 'e', tensor: e }], { axis: 0 });
    assertClose(concat([a, e], 0), y0, 0, 0, 'axis 0');
    assert.throws(() => concat([a, b], 0), InvalidArgumentError);
    assert.throws(() => concat([a, b], 3), InvalidArgumentError);
    assert.throws(() => concat([], 0), InvalidArgumentError);
  });

  it('Transpose with explicit and default perms', async () => {
    const x = randomTensor([2, 3, 4, 5], random);
    for (const perm of [[0, 2, 3, 1], [3, 1, 0, 2], [0, 1, 2, 3], [1, 0, 3, 2]]) {
      assertClose(transpose(x, perm), await ortOne('Transpose', [{ name: 'x', tensor: x }], { perm }), 0, 0, `perm [${perm}]`);
    }
    assertClose(transpose(x), await ortOne('Transpose', [{ name: 'x', tensor: x }]), 0, 0, 'default perm');
    assert.throws(() => transpose(x, [0, 1, 1, 2]), InvalidArgumentError);
    assert.throws(() => transpose(x, [0, 1, 2]), InvalidArgumentError);
  });

  it('Pad in constant, reflect and edge modes, including negative pads', async () => {
    const x = randomTensor([1, 2, 4, 5], random);
    const cases: { pads: number[]; mode: PadMode; value?: number }[] = [
      { pads: [0, 0, 1, 2, 0, 0, 2, 1], mode: 'constant' },
      { pads: [0, 1, 1, 0, 1, 0, 0, 3], mode: 'constant', value: -2.5 },
      { pads: [0, 0, 3, 2, 0, 0, 1, 4], mode: 'reflect' },
      { pads: [0, 0, 2, 1, 0, 0, 3, 2], mode: 'edge' },
      { pads: [0, 0, -1, 2, 0, 0, 1, -2], mode: 'constant', value: 7 },
      { pads: [0, 0, -1, 2, 0, 0, 1, -1], mode: 'reflect' },
      { pads: [0, 0, 2, -3, 0, 0, -1, 3], mode: 'edge' },
    ];
    for (const { pads, mode, value } of cases) {
      const inputs: NodeInput[] = [{ name: 'x', tensor: x }, i64('pads', pads)];
      if (value !== undefined) inputs.push({ name: 'value', tensor: tensor([], [value]) });
      const y = await ortOne('Pad', inputs, { mode });
      assertClose(pad(x, pads, mode, value ?? 0), y, 0, 0, `${mode} [${pads}]`);
    }
    assert.throws(() => pad(x, [0, 0, 4, 0, 0, 0, 0, 0], 'reflect'), InvalidArgumentError);
    assert.throws(() => pad(x, [0, 0, 0, 0], 'constant'), InvalidArgumentError);
    assert.throws(() => pad(x, [0, 0, -3, 0, 0, 0, -2, 0], 'constant'), InvalidArgumentError);
  });

  it('Reshape shape inference (0 copies, −1 infers, allowzero)', async () => {
    const x = randomTensor([2, 3, 4], random);
    for (const shape of [[4, -1], [0, 12], [0, 0, -1], [-1], [2, 0, 2, 2], [24, 1]]) {
      const y = await ortOne('Reshape', [{ name: 'x', tensor: x }, i64('shape', shape)]);
      assert.deepEqual(reshapeDims(x.dims, shape, false), y.dims, `shape [${shape}]`);
    }
    const empty = tensor([2, 0, 3]);
    for (const shape of [[0, 6], [3, 0, 2]]) {
      const y = await ortOne('Reshape', [{ name: 'x', tensor: empty }, i64('shape', shape)], { allowzero: 1 }, 14);
      assert.deepEqual(reshapeDims(empty.dims, shape, true), y.dims, `allowzero [${shape}]`);
    }
    assert.throws(() => reshapeDims([2, 3, 4], [5, -1], false), InvalidArgumentError);
    assert.throws(() => reshapeDims([2, 3, 4], [-1, -1], false), InvalidArgumentError);
    assert.throws(() => reshapeDims([2, 3, 4], [2, 3, 5], false), InvalidArgumentError);
    assert.throws(() => reshapeDims([2, 3], [0, 0, 0], false), InvalidArgumentError);
    assert.throws(() => reshapeDims([2, 0, 3], [0, -1], true), InvalidArgumentError);
    assert.throws(() => reshapeDims([2, 3, 4], [-2, 12], false), InvalidArgumentError);
  });

  it('Flatten shapes for every axis', async () => {
    const x = randomTensor([2, 3, 4, 5], random);
    for (const axis of [0, 1, 2, 4, -1, -4]) {
      const y = await ortOne('Flatten', [{ name: 'x', tensor: x }], { axis });
      assert.deepEqual(flattenDims(x.dims, axis), y.dims, `axis ${axis}`);
    }
    assert.throws(() => flattenDims(x.dims, 5), InvalidArgumentError);
  });

  it('Slice with steps, negative steps, negative axes and INT64 sentinels', async () => {
    const x = randomTensor([4, 5, 6], random);
    const cases: { starts: number[]; ends: number[]; axes?: number[]; steps?: number[] }[] = [
      { starts: [1, 0], ends: [3, 4] },
      { starts: [0, 1, 2], ends: [4, 5, 6], axes: [0, 1, 2], steps: [2, 3, 1] },
      { starts: [-1], ends: [INT64_MIN], axes: [2], steps: [-1] },
      { starts: [INT64_MAX, 3], ends: [INT64_MIN, -10], axes: [0, -1], steps: [-2, -1] },
      { starts: [-2, 10], ends: [-5, -100], axes: [-2, 0], steps: [-1, -3] },
      { starts: [0], ends: [INT64_MAX], axes: [1], steps: [2] },
      { starts: [3], ends: [1], axes: [1] },
      { starts: [1], ends: [3], axes: [2], steps: [-1] },
      { starts: [-100, 2], ends: [100, -1], axes: [2, 1] },
      { starts: [5], ends: [0], axes: [2], steps: [-2] },
    ];
    for (const { starts, ends, axes, steps } of cases) {
      const inputs: NodeInput[] = [{ name: 'x', tensor: x }, i64('starts', starts), i64('ends', ends)];
      inputs.push(axes !== undefined ? i64('axes', axes) : { name: 'axes', tensor: null });
      if (steps !== undefined) inputs.push(i64('steps', steps));
      const y = await ortOne('Slice', inputs);
      const what = `starts [${starts}] ends [${ends}] axes [${axes}] steps [${steps}]`;
      assertClose(slice(x, starts, ends, axes, steps), y, 0, 0, what);
      assert.deepEqual(sliceDims(x.dims, starts, ends, axes, steps), y.dims, what);
    }
    assert.throws(() => slice(x, [0], [1], [0], [0]), InvalidArgumentError);
    assert.throws(() => slice(x, [0, 0], [1, 1], [1, -2]), InvalidArgumentError);
    assert.throws(() => slice(x, [0], [1], [3]), InvalidArgumentError);
  });

  it('Gather along axes with negative and scalar indices', async () => {
    const x = randomTensor([3, 4, 5], random);
    const cases: { dims: number[]; values: number[]; axis: number }[] = [
      { dims: [4], values: [0, -1, 2, -3], axis: 0 },
      { dims: [2, 3], values: [-4, 3, 0, 1, -1, 2], axis: 1 },
      { dims: [], values: [-2], axis: 2 },
      { dims: [2], values: [4, -5], axis: -1 },
      { dims: [0], values: [], axis: 1 },
    ];
    for (const { dims, values, axis } of cases) {
      const indices = tensor(dims, values);
      const y = await ortOne('Gather', [{ name: 'x', tensor: x }, { name: 'i', tensor: indices, dtype: 'int64' }], { axis });
      assertClose(gather(x, indices, axis), y, 0, 0, `indices [${values}] axis ${axis}`);
      assert.deepEqual(gatherDims(x.dims, dims, axis), y.dims);
    }
    assert.throws(() => gather(x, ints([3]), 0), InvalidArgumentError);
    assert.throws(() => gather(x, ints([-4]), 0), InvalidArgumentError);
    assert.throws(() => gather(x, ints([0]), 3), InvalidArgumentError);
  });

  it('Squeeze and Unsqueeze shapes', async () => {
    const x = randomTensor([1, 3, 1, 2, 1], random);
    for (const axes of [[0], [2, -1], [0, 2, 4], undefined]) {
      const y = await ortOne('Squeeze', [{ name: 'x', tensor: x }, axes === undefined ? { name: 'axes', tensor: null } : i64('axes', axes)]);
      assert.deepEqual(squeezeDims(x.dims, axes), y.dims, `squeeze [${axes}]`);
    }
    assert.throws(() => squeezeDims(x.dims, [1]), InvalidArgumentError);
    assert.throws(() => squeezeDims(x.dims, [0, -5]), InvalidArgumentError);
    const z = randomTensor([3, 2], random);
    for (const axes of [[0], [-1], [0, 3], [1, -1], [3, 1, 0]]) {
      const y = await ortOne('Unsqueeze', [{ name: 'z', tensor: z }, i64('axes', axes)]);
      assert.deepEqual(unsqueezeDims(z.dims, axes), y.dims, `unsqueeze [${axes}]`);
    }
    assert.throws(() => unsqueezeDims(z.dims, [4]), InvalidArgumentError);
    assert.throws(() => unsqueezeDims(z.dims, [1, -3]), InvalidArgumentError);
  });
});
