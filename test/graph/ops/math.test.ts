/**
 * Tanh, Erf, Gelu (opset 20, both forms), Sqrt, Reciprocal, Neg and Pow imported from single-node
 * models and run on the float path, against onnxruntime fp32; and the GELU decomposition exporters
 * emit before opset 20, x·½·(1 + erf(x/√2)), built from Erf, Div, Add and Mul.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedModelError } from '../../../src/errors.js';
import { execute } from '../../../src/graph/execute.js';
import { OnnxBuilder } from '../../../src/onnx/build.js';
import { importOnnx } from '../../../src/graph/onnx/import.js';
import { tensor } from '../../../src/tensor/tensor.js';
import { assertAgreesWithOrt } from '../../helpers/ort-agree.js';
import { randomTensor, rng } from '../../helpers/single-node.js';

const random = rng(0x5eed);

function unaryModel(op: string, attrs: Record<string, string> = {}, opset = 13): Uint8Array {
  return new OnnxBuilder(op.toLowerCase(), { opset }).input('x', [2, 3, 40]).node(op, ['x'], ['y'], attrs, `my_${op}`).output('y').toBytes();
}

describe('element-wise math ops against onnxruntime', () => {
  const cases: [string, Record<string, string>, number, number, number][] = [
    // op, attrs, opset, input range
    ['Tanh', {}, 13, -6, 6],
    ['Erf', {}, 13, -4, 4],
    ['Gelu', {}, 20, -6, 6],
    ['Gelu', { approximate: 'none' }, 20, -6, 6],
    ['Gelu', { approximate: 'tanh' }, 20, -6, 6],
    ['Sqrt', {}, 13, 0, 9],
    ['Reciprocal', {}, 13, 0.1, 5],
    ['Neg', {}, 13, -3, 3],
  ];
  for (const [op, attrs, opset, lo, hi] of cases) {
    it(`${op}${attrs.approximate ? ` (approximate ${attrs.approximate})` : ''}`, async () => {
      const x = randomTensor([2, 3, 40], random, lo, hi);
      const { graph } = await assertAgreesWithOrt(unaryModel(op, attrs, opset), [x], 2e-6, 1e-6, op);
      assert.deepEqual(graph.nodes.map((n) => n.op), [op]);
    });
  }

  it('Sqrt of a negative is NaN, 1/0 is ∞, as in IEEE arithmetic', async () => {
    const x = tensor([1, 1, 3], [-1, 0, 4]);
    const g = (op: string) => importOnnx(new OnnxBuilder(op).input('x', [1, 1, 3]).node(op, ['x'], ['y']).output('y').toBytes());
    const [s] = await execute(g('Sqrt'), [x]);
    assert.ok(Number.isNaN(s!.data[0]!));
    assert.deepEqual(Array.from(s!.data.slice(1)), [0, 2]);
    const [r] = await execute(g('Reciprocal'), [x]);
    assert.deepEqual(Array.from(r!.data), [-1, Infinity, 0.25]);
  });

  it('Pow with a broadcast exponent and with a per-element one', async () => {
    const base = randomTensor([2, 3, 4], random, 0.1, 3);
    const scalarExp = new OnnxBuilder('pow')
      .input('x', [2, 3, 4])
      .initializer('e', [], new Float32Array([2]))
      .node('Pow', ['x', 'e'], ['y'])
      .output('y')
      .toBytes();
    await assertAgreesWithOrt(scalarExp, [base], 1e-5, 1e-6, 'Pow x^2');
    const rowExp = new OnnxBuilder('pow')
      .input('x', [2, 3, 4])
      .initializer('e', [4], new Float32Array([0.5, 1, 2.5, -1]))
      .node('Pow', ['x', 'e'], ['y'])
      .output('y')
      .toBytes();
    await assertAgreesWithOrt(rowExp, [base], 1e-5, 1e-6, 'Pow row');
  });

  it('an unknown Gelu approximation is a malformed model naming the node', () => {
    assert.throws(() => importOnnx(unaryModel('Gelu', { approximate: 'fast' }, 20)), (e: unknown) => e instanceof MalformedModelError && e.message.includes('my_Gelu') && e.message.includes('fast'));
  });
});

describe('GELU as exporters decompose it before opset 20', () => {
  it('x·½·(1 + erf(x/√2)) from Div, Erf, Add, Mul agrees with onnxruntime and with Gelu', async () => {
    const bytes = new OnnxBuilder('gelu_erf')
      .input('x', [4, 64])
      .initializer('sqrt2', [], new Float32Array([Math.SQRT2]))
      .initializer('one', [], new Float32Array([1]))
      .initializer('half', [], new Float32Array([0.5]))
      .node('Div', ['x', 'sqrt2'], ['t'])
      .node('Erf', ['t'], ['e'])
      .node('Add', ['e', 'one'], ['p'])
      .node('Mul', ['x', 'p'], ['xp'])
      .node('Mul', ['xp', 'half'], ['y'])
      .output('y')
      .toBytes();
    const x = randomTensor([4, 64], random, -5, 5);
    const { ours } = await assertAgreesWithOrt(bytes, [x], 2e-6, 1e-6, 'GELU decomposition');
    const gelu = new OnnxBuilder('gelu', { opset: 20 }).input('x', [4, 64]).node('Gelu', ['x'], ['y']).output('y').toBytes();
    const { ours: direct } = await assertAgreesWithOrt(gelu, [x], 2e-6, 1e-6, 'Gelu');
    // float32 √2 in the decomposition: the two differ by far less than float32 resolution.
    for (let i = 0; i < x.data.length; i++) assert.ok(Math.abs(ours[0]!.data[i]! - direct[0]!.data[i]!) < 1e-7);
  });
});
