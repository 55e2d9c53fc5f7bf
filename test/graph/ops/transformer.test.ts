/**
 * The ops transformer exports use, imported from small ONNX models and run on the float path against
 * onnxruntime fp32: MatMul by a constant over token rows (one Gemm over tokens × batch between two
 * Reshapes), MatMul of two activations with broadcast batch dims (attention's QKᵀ and softmax·V,
 * ActivationMatMul in the trusted runtime), Split (input sizes and opset 18 num_outputs), the mask
 * ops (Expand, Where, Equal, Range, Trilu), an embedding lookup (Gather from a weight by token ids
 * cast to int64) and Softmax on an inner axis; and one error listing every unsupported node.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsupportedModelError } from '../../../src/errors.js';
import { importOnnx } from '../../../src/graph/onnx/import.js';
import { OnnxBuilder } from '../../../src/onnx/build.js';
import { tensor } from '../../../src/tensor/tensor.js';
import { assertAgreesWithOrt } from '../../helpers/ort-agree.js';
import { randomTensor, rng } from '../../helpers/single-node.js';

const random = rng(0x7f0e);
const floats = (n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
const int64 = (values: number[]): BigInt64Array => BigInt64Array.from(values.map(BigInt));

describe('MatMul in transformer graphs', () => {
  it('by a constant weight over [batch, tokens, d] is one Gemm over tokens × batch rows, its bias Add folded in', async () => {
    const b = new OnnxBuilder('linear', { opset: 14 }).input('x', ['batch', 5, 8]).initializer('w', [8, 6], floats(48)).initializer('bias', [6], floats(6));
    b.node('MatMul', ['x', 'w'], ['xw'], {}, 'fc').node('Add', ['xw', 'bias'], ['y']).output('y');
    const { graph } = await assertAgreesWithOrt(b.toBytes(), [randomTensor([3, 5, 8], random)], 1e-5, 1e-6);
    const gemm = graph.nodes.find((n) => n.op === 'Gemm')!;
    assert.equal(gemm.name, 'fc');
    assert.deepEqual(graph.dims.get(gemm.inputs[0]!), [15, 8]);
    assert.deepEqual(graph.nodes.map((n) => n.op), ['Reshape', 'Gemm', 'Reshape']);
    assert.equal(gemm.inputs.length, 3, 'the bias is the Gemm\'s');
    assert.equal(graph.nodes.at(-1)!.outputs[0], 'y');
  });

  it('keeps a bias Add that is not one value per output feature', async () => {
    const b = new OnnxBuilder('linear', { opset: 14 }).input('x', [2, 5, 8]).initializer('w', [8, 6], floats(48)).initializer('bias', [5, 6], floats(30));
    b.node('MatMul', ['x', 'w'], ['xw'], {}, 'fc').node('Add', ['xw', 'bias'], ['y']).output('y');
    const { graph } = await assertAgreesWithOrt(b.toBytes(), [randomTensor([2, 5, 8], random)], 1e-5, 1e-6);
    assert.deepEqual(graph.nodes.map((n) => n.op), ['Reshape', 'Gemm', 'Reshape', 'Add']);
  });

  it('of two activations (QKᵀ per head, softmax·V) runs in the trusted runtime with broadcast batch dims', async () => {
    const b = new OnnxBuilder('attn', { opset: 14 }).input('q', [2, 4, 5, 8]).input('k', [2, 4, 8, 5]).input('v', [1, 4, 5, 3]);
    b.node('MatMul', ['q', 'k'], ['s']).node('Softmax', ['s'], ['p'], { axis: -1 }).node('MatMul', ['p', 'v'], ['y']).output('y');
    const inputs = [randomTensor([2, 4, 5, 8], random), randomTensor([2, 4, 8, 5], random), randomTensor([1, 4, 5, 3], random)];
    const graph = importOnnx(b.toBytes(), { inputDims: { q: [2, 4, 5, 8], k: [2, 4, 8, 5], v: [1, 4, 5, 3] } });
    assert.deepEqual(graph.nodes.map((n) => n.op), ['ActivationMatMul', 'Softmax', 'ActivationMatMul']);
    await assertAgreesWithOrt(b.toBytes(), inputs, 1e-5, 1e-6);
  });

  it('rank-1 operands follow numpy.matmul, and a constant on the left stays in the trusted runtime', async () => {
    const b = new OnnxBuilder('vec', { opset: 14 }).input('x', [3, 6, 4]).initializer('v', [4], floats(4)).initializer('m', [2, 3], floats(6));
    b.node('MatMul', ['x', 'v'], ['xv']).node('MatMul', ['m', 'xv'], ['y']).output('y');
    await assertAgreesWithOrt(b.toBytes(), [randomTensor([3, 6, 4], random)], 1e-5, 1e-6);
  });
});

describe('Split, mask and position ops against onnxruntime', () => {
  it('Split by an input of sizes (opset 13) and into equal parts (opset 18 num_outputs)', async () => {
    const b = new OnnxBuilder('split', { opset: 13 }).input('x', [2, 9, 4]).initializer('sizes', [3], int64([2, 3, 4]));
    b.node('Split', ['x', 'sizes'], ['a', 'b', 'c'], { axis: 1 }).node('Concat', ['c', 'a', 'b'], ['y'], { axis: 1 }).output('y');
    await assertAgreesWithOrt(b.toBytes(), [randomTensor([2, 9, 4], random)], 0, 0);
    const e = new OnnxBuilder('split18', { opset: 18 }).input('x', [2, 3, 12]);
    e.node('Split', ['x'], ['a', 'b', 'c'], { axis: -1, num_outputs: 3 }).node('Mul', ['a', 'b'], ['ab']).node('Sub', ['ab', 'c'], ['y']).output('y');
    await assertAgreesWithOrt(e.toBytes(), [randomTensor([2, 3, 12], random)], 1e-6, 1e-7);
  });

  it('a causal mask from Range, Trilu, Equal, Where and Expand, added to scores before Softmax', async () => {
    const b = new OnnxBuilder('mask', { opset: 14 }).input('s', [2, 3, 6, 6]);
    b.initializer('start', [], int64([0])).initializer('limit', [], int64([6])).initializer('delta', [], int64([1]));
    b.initializer('ones', [6, 6], new Float32Array(36).fill(1)).initializer('zero', [], new Float32Array([0])).initializer('neg', [], new Float32Array([-1e4]));
    b.initializer('shape', [4], int64([2, 1, 6, 6])).initializer('k', [], int64([0]));
    b.node('Range', ['start', 'limit', 'delta'], ['pos'])
      .node('Cast', ['pos'], ['posf'], { to: 1 })
      .node('Trilu', ['ones', 'k'], ['lower'], { upper: 0 })
      .node('Equal', ['lower', 'zero'], ['masked'])
      .node('Where', ['masked', 'neg', 'zero'], ['bias'])
      .node('Expand', ['bias', 'shape'], ['bias4'])
      .node('Add', ['s', 'bias4'], ['t'])
      .node('Add', ['t', 'posf'], ['u'])
      .node('Softmax', ['u'], ['y'], { axis: 3 })
      .output('y');
    const { graph } = await assertAgreesWithOrt(b.toBytes(), [randomTensor([2, 3, 6, 6], random)], 1e-5, 1e-6);
    // The mask is built from constants, so it is folded: only the Adds and the Softmax remain.
    assert.deepEqual(graph.nodes.map((n) => n.op), ['Add', 'Add', 'Softmax']);
  });

  it('Where and Equal on activations, Trilu (upper, k = 1) on an activation, Expand of an activation', async () => {
    const bytes = new OnnxBuilder('act', { opset: 14 }).input('x', [2, 5, 5]).initializer('half', [], new Float32Array([0.5])).initializer('shape', [4], int64([3, 1, 1, 1])).initializer('k', [], int64([1]))
      .node('Trilu', ['x', 'k'], ['up'], { upper: 1 })
      .node('Equal', ['up', 'x'], ['same'])
      .node('Where', ['same', 'x', 'half'], ['w'])
      .node('Expand', ['w', 'shape'], ['e'])
      .node('Softmax', ['e'], ['y'], { axis: 1 })
      .output('y')
      .toBytes();
    await assertAgreesWithOrt(bytes, [randomTensor([2, 5, 5], random)], 1e-5, 1e-6);
  });

  it('a token-embedding lookup: Gather from a weight by ids computed at run time', async () => {
    const b = new OnnxBuilder('embed', { opset: 14 }).input('ids', [2, 7]).initializer('table', [11, 4], floats(44));
    b.node('Cast', ['ids'], ['ids64'], { to: 7 }).node('Gather', ['table', 'ids64'], ['y'], { axis: 0 }).output('y');
    const ids = tensor([2, 7], [0, 3, 10, 7, 1, 1, 5, 2, 9, 4, 6, 8, 0, 10]);
    const { graph } = await assertAgreesWithOrt(b.toBytes(), [ids], 0, 0);
    assert.deepEqual(graph.dims.get('y'), [2, 7, 4]);
  });
});

describe('unsupported models', () => {
  it('list every unsupported node at once', () => {
    const b = new OnnxBuilder('many', { opset: 14 }).input('x', [2, 4]);
    b.node('IsNaN', ['x'], ['g'], {}, 'cmp').node('Xor', ['g', 'g'], ['n'], {}, 'neg').node('Relu', ['x'], ['r']).node('IsInf', ['r'], ['h'], {}, 'cmp2');
    b.node('Or', ['n', 'h'], ['y'], {}, 'either').output('y', undefined, 'inferred');
    assert.throws(
      () => importOnnx(b.toBytes()),
      (e: unknown) =>
        e instanceof UnsupportedModelError &&
        /4 nodes use ops slalom does not support \(IsNaN, Xor, IsInf, Or\)/.test(e.message) &&
        ['cmp', 'neg', 'cmp2', 'either'].every((name) => e.message.includes(`'${name}'`)),
    );
  });
});
