/**
 * ReduceMean (axes as an attribute up to opset 17, as an input from 18; keepdims;
 * noop_with_empty_axes) and LayerNormalization (opset 17: axis, epsilon, optional bias, broadcast
 * scale, the Mean and InvStdDev outputs) against onnxruntime fp32, plus the LayerNorm decomposition
 * PyTorch exports below opset 17 and the refusals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedModelError, UnsupportedModelError } from '../../../src/errors.js';
import { OnnxBuilder } from '../../../src/onnx/build.js';
import { importOnnx } from '../../../src/graph/onnx/import.js';
import { assertAgreesWithOrt } from '../../helpers/ort-agree.js';
import { randomTensor, rng } from '../../helpers/single-node.js';

const random = rng(0xbeef);
const DIMS = [2, 3, 4, 5];
const floats = (n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * random());

describe('ReduceMean against onnxruntime', () => {
  const axesCases: (number[] | undefined)[] = [undefined, [1], [-1], [2, 3], [0, 2], [3, 1, 0], [0, 1, 2, 3]];
  for (const axes of axesCases) {
    for (const keepdims of [1, 0]) {
      it(`opset 13 attribute axes ${axes ? `[${axes}]` : '(all)'}, keepdims ${keepdims}`, async () => {
        const b = new OnnxBuilder('rm').input('x', DIMS);
        b.node('ReduceMean', ['x'], ['y'], axes ? { axes, keepdims } : { keepdims });
        await assertAgreesWithOrt(b.output('y').toBytes(), [randomTensor(DIMS, random)], 1e-5, 1e-6);
      });
      it(`opset 18 input axes ${axes ? `[${axes}]` : '(absent: all)'}, keepdims ${keepdims}`, async () => {
        const b = new OnnxBuilder('rm', { opset: 18 }).input('x', DIMS);
        if (axes) b.initializer('axes', [axes.length], BigInt64Array.from(axes.map(BigInt)));
        b.node('ReduceMean', axes ? ['x', 'axes'] : ['x'], ['y'], { keepdims });
        await assertAgreesWithOrt(b.output('y').toBytes(), [randomTensor(DIMS, random)], 1e-5, 1e-6);
      });
    }
  }

  it('opset 18 noop_with_empty_axes: empty axes are the identity', async () => {
    const b = new OnnxBuilder('rm', { opset: 18 }).input('x', DIMS).initializer('axes', [0], new BigInt64Array(0));
    b.node('ReduceMean', ['x', 'axes'], ['y'], { noop_with_empty_axes: 1 });
    const x = randomTensor(DIMS, random);
    const { ours } = await assertAgreesWithOrt(b.output('y').toBytes(), [x], 0, 0);
    assert.deepEqual(Array.from(ours[0]!.data), Array.from(x.data));
  });

  it('axes that are not constant, or out of range, are refused naming the node', () => {
    const dynamic = new OnnxBuilder('rm', { opset: 18 }).input('x', DIMS).input('axes', [1], 'int64').node('ReduceMean', ['x', 'axes'], ['y'], {}, 'rm_dyn').output('y');
    assert.throws(() => importOnnx(dynamic.toBytes()), (e: unknown) => e instanceof UnsupportedModelError && /rm_dyn.*axes must be a constant/.test(e.message));
    const bad = new OnnxBuilder('rm').input('x', DIMS).node('ReduceMean', ['x'], ['y'], { axes: [4] }, 'rm_bad').output('y');
    assert.throws(() => importOnnx(bad.toBytes()), (e: unknown) => e instanceof MalformedModelError && /rm_bad.*axis 4 is out of range/.test(e.message));
  });
});

function layerNorm(axis: number | undefined, scaleDims: number[], biasDims: number[] | undefined, outputs: string[], epsilon?: number): OnnxBuilder {
  const b = new OnnxBuilder('ln', { opset: 17 }).input('x', DIMS);
  b.initializer('scale', scaleDims, floats(scaleDims.reduce((p, d) => p * d, 1), 0.5, 1.5));
  if (biasDims) b.initializer('bias', biasDims, floats(biasDims.reduce((p, d) => p * d, 1)));
  const attrs: Record<string, number> = {};
  if (axis !== undefined) attrs.axis = axis;
  if (epsilon !== undefined) attrs.epsilon = epsilon;
  return b.node('LayerNormalization', biasDims ? ['x', 'scale', 'bias'] : ['x', 'scale'], outputs, attrs, 'ln');
}

describe('LayerNormalization against onnxruntime', () => {
  const cases: [number | undefined, number[], number[] | undefined][] = [
    [undefined, [5], [5]],
    [-1, [5], undefined],
    [2, [4, 5], [4, 5]],
    [1, [3, 4, 5], [3, 4, 5]],
    [0, [2, 3, 4, 5], [2, 3, 4, 5]],
    [-2, [1, 5], [5]], // scale and bias broadcast over the normalized [4, 5]
  ];
  for (const [axis, scaleDims, biasDims] of cases) {
    it(`axis ${axis ?? '(default −1)'}, scale [${scaleDims}], ${biasDims ? `bias [${biasDims}]` : 'no bias'}`, async () => {
      const bytes = layerNorm(axis, scaleDims, biasDims, ['y']).output('y').toBytes();
      const { graph } = await assertAgreesWithOrt(bytes, [randomTensor(DIMS, random)], 1e-5, 1e-5);
      assert.deepEqual(graph.nodes.map((n) => n.op), ['LayerNormalization']);
    });
  }

  it('epsilon, and the Mean and InvStdDev outputs (graph outputs and read by later nodes)', async () => {
    const b = layerNorm(2, [4, 5], [4, 5], ['y', 'mean', 'inv'], 0.5).node('Mul', ['mean', 'inv'], ['prod']);
    const bytes = b.output('y').output('mean').output('inv').output('prod').toBytes();
    const { graph, ours } = await assertAgreesWithOrt(bytes, [randomTensor(DIMS, random)], 1e-5, 1e-5);
    assert.deepEqual(ours.map((t) => t.dims), [DIMS, [2, 3, 1, 1], [2, 3, 1, 1], [2, 3, 1, 1]]);
    assert.deepEqual(graph.nodes.map((n) => n.name), ['ln::Mean', 'ln::InvStdDev', 'ln', 'Mul_0']);
  });

  it('unused Mean and InvStdDev outputs add no nodes', () => {
    const graph = importOnnx(layerNorm(-1, [5], [5], ['y', 'mean', 'inv']).output('y').toBytes());
    assert.deepEqual(graph.nodes.map((n) => n.name), ['ln']);
  });

  it('a scale that is not a constant, or does not broadcast, is refused naming the node', () => {
    const dynamic = new OnnxBuilder('ln', { opset: 17 }).input('x', DIMS).input('s', [5]).node('LayerNormalization', ['x', 's'], ['y'], {}, 'ln_dyn').output('y');
    assert.throws(() => importOnnx(dynamic.toBytes()), (e: unknown) => e instanceof UnsupportedModelError && /ln_dyn.*scale must be a constant/.test(e.message));
    const wrong = layerNorm(-1, [4], undefined, ['y']).output('y');
    assert.throws(() => importOnnx(wrong.toBytes()), (e: unknown) => e instanceof MalformedModelError && /'ln'.*scale of shape \[4\] does not broadcast/.test(e.message));
  });
});

describe('LayerNorm as PyTorch exports it below opset 17', () => {
  it('ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add agrees with onnxruntime', async () => {
    const bytes = new OnnxBuilder('ln13')
      .input('x', [2, 7, 16])
      .initializer('two', [], new Float32Array([2]))
      .initializer('eps', [], new Float32Array([1e-5]))
      .initializer('gamma', [16], floats(16, 0.5, 1.5))
      .initializer('beta', [16], floats(16))
      .node('ReduceMean', ['x'], ['mu'], { axes: [-1] })
      .node('Sub', ['x', 'mu'], ['d'])
      .node('Pow', ['d', 'two'], ['d2'])
      .node('ReduceMean', ['d2'], ['var'], { axes: [-1] })
      .node('Add', ['var', 'eps'], ['ve'])
      .node('Sqrt', ['ve'], ['sd'])
      .node('Div', ['d', 'sd'], ['n'])
      .node('Mul', ['n', 'gamma'], ['g'])
      .node('Add', ['g', 'beta'], ['y'])
      .output('y')
      .toBytes();
    await assertAgreesWithOrt(bytes, [randomTensor([2, 7, 16], random)], 1e-5, 1e-5);
  });
});
