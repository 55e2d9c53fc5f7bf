/**
 * importOnnx on small models built with OnnxBuilder: PyTorch-style flatten sub-graphs fold into one
 * Reshape, weights may come from Constant nodes, Gemm/MatMul resolve to Gemm [K, N], BatchNormalization
 * folds into the Conv/Gemm before it (and only there), Identity/Dropout vanish, auto_pad matches
 * onnxruntime, and every bad model fails with a typed error naming the node and its op. Float results
 * (execute() with no hooks) are compared with onnxruntime fp32 at 1e-5 relative.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InvalidArgumentError, MalformedModelError, SlalomError, UnsupportedModelError } from '../../../src/errors.js';
import { execute } from '../../../src/graph/execute.js';
import type { Graph } from '../../../src/graph/ir.js';
import { OnnxBuilder } from '../../../src/onnx/build.js';
import { importOnnx } from '../../../src/graph/onnx/import.js';
import { createReferenceSession } from '../../../src/reference/ort-session.js';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { assertClose, randomTensor, rng } from '../../helpers/single-node.js';

const random = rng(0x1badc0de);

/** Float32 weights, uniform in [lo, hi). */
function weights(n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
}

const i64 = (...v: number[]): BigInt64Array => BigInt64Array.from(v.map(BigInt));

/** onnxruntime fp32 on the model's first output. */
async function ortRun(bytes: Uint8Array, x: Tensor): Promise<Tensor> {
  const session = await createReferenceSession(bytes);
  try {
    const out = await session.run([x]);
    return [...out.values()][0]!;
  } finally {
    await session.close();
  }
}

/** Imports, runs the float graph and onnxruntime on a random input, and asserts they agree. */
async function checkAgainstOrt(bytes: Uint8Array, dims: readonly number[], graph?: Graph): Promise<Graph> {
  const g = graph ?? importOnnx(bytes);
  const x = randomTensor(dims, random);
  const [ours] = await execute(g, [x]);
  const ref = await ortRun(bytes, x);
  assertClose(ours!, ref, 1e-5, 1e-5);
  return g;
}

const ops = (g: Graph): string[] => g.nodes.map((n) => n.op);

/** Asserts `f` throws an error of class `E` whose message contains each of `parts`. */
function throwsWith(f: () => unknown, E: new (...args: any[]) => SlalomError, parts: readonly string[]): SlalomError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof E, `expected ${E.name}, got ${caught === undefined ? 'no error' : String(caught)}`);
  for (const p of parts) assert.ok(caught.message.includes(p), `message '${caught.message}' lacks '${p}'`);
  return caught;
}

describe('importOnnx: constant folding', () => {
  /** x[batch,3,4,4] → Conv → Relu → flatten as PyTorch exports it (Shape/Gather/Cast/Unsqueeze/Concat) → Gemm. */
  function flattenModel(): Uint8Array {
    return new OnnxBuilder('flatten')
      .input('x', ['batch', 3, 4, 4])
      .initializer('conv.w', [2, 3, 3, 3], weights(54))
      .initializer('conv.b', [2], weights(2))
      .initializer('fc.w', [5, 32], weights(160))
      .initializer('fc.b', [5], weights(5))
      .node('Conv', ['x', 'conv.w', 'conv.b'], ['c'], { pads: [1, 1, 1, 1] }, 'conv')
      .node('Relu', ['c'], ['r'], {}, 'relu')
      .node('Shape', ['r'], ['s'], {}, 'shape')
      .constant('zero', [], i64(0))
      .node('Gather', ['s', 'zero'], ['n'], { axis: 0 }, 'gather')
      .node('Cast', ['n'], ['n64'], { to: 7 }, 'cast')
      .constant('axes0', [1], i64(0))
      .node('Unsqueeze', ['n64', 'axes0'], ['n1'], {}, 'unsqueeze')
      .constant('minus1', [1], i64(-1))
      .node('Concat', ['n1', 'minus1'], ['target'], { axis: 0 }, 'concat')
      .node('Reshape', ['r', 'target'], ['flat'], {}, 'reshape')
      .node('Gemm', ['flat', 'fc.w', 'fc.b'], ['y'], { transB: 1 }, 'fc')
      .output('y', ['batch', 5])
      .toBytes();
  }

  it('folds a Shape → Gather → Cast → Unsqueeze → Concat chain into one Reshape and runs (batch 1)', async () => {
    const bytes = flattenModel();
    const g = importOnnx(bytes);
    assert.deepEqual(ops(g), ['Conv', 'Relu', 'Reshape', 'Gemm']);
    assert.deepEqual(g.inputs[0]!.dims, [1, 3, 4, 4]);
    const reshape = g.nodes[2]!;
    assert.deepEqual((reshape.attrs as { dims: number[] }).dims, [1, 32]);
    assert.deepEqual(reshape.inputs, ['r']);
    assert.deepEqual(g.dims.get('flat'), [1, 32]);
    assert.deepEqual(g.dims.get('y'), [1, 5]);
    for (const name of ['s', 'n', 'n64', 'n1', 'target']) assert.equal(g.dims.has(name), false, `${name} should be folded`);
    await checkAgainstOrt(bytes, [1, 3, 4, 4], g);
  });

  it('uses the given batch size for the symbolic batch dimension', async () => {
    const bytes = flattenModel();
    const g = importOnnx(bytes, { inputDims: [3, 3, 4, 4] });
    assert.deepEqual((g.nodes[2]!.attrs as { dims: number[] }).dims, [3, 32]);
    assert.deepEqual(g.dims.get('y'), [3, 5]);
    await checkAgainstOrt(bytes, [3, 3, 4, 4], g);
  });

  it('takes weights from Constant nodes as well as initializers', async () => {
    const bytes = new OnnxBuilder('constants')
      .input('x', [1, 2, 5, 5])
      .constant('conv.w', [3, 2, 3, 3], weights(54))
      .constant('conv.b', [3], weights(3))
      .node('Conv', ['x', 'conv.w', 'conv.b'], ['c'], { strides: [2, 2] }, 'conv')
      .node('Flatten', ['c'], ['f'], { axis: 1 }, 'flatten')
      .constant('fc.w', [12, 4], weights(48))
      .node('MatMul', ['f', 'fc.w'], ['y'], {}, 'fc')
      .output('y', [1, 4])
      .toBytes();
    const g = importOnnx(bytes);
    assert.deepEqual(ops(g), ['Conv', 'Reshape', 'Gemm']);
    assert.deepEqual(g.constants.get(g.nodes[0]!.inputs[1]!)!.dims, [3, 2, 3, 3]);
    await checkAgainstOrt(bytes, [1, 2, 5, 5], g);
  });
});

describe('importOnnx: Gemm and MatMul', () => {
  const K = 6;
  const N = 4;

  it('Gemm with transB = 1, alpha and beta resolves to Y = X·W + b and matches onnxruntime', async () => {
    const b = weights(N * K);
    const c = weights(N);
    const bytes = new OnnxBuilder('gemm')
      .input('x', [2, K])
      .initializer('B', [N, K], b)
      .initializer('C', [N], c)
      .node('Gemm', ['x', 'B', 'C'], ['y'], { transB: 1, alpha: 0.75, beta: { float: 2 } }, 'gemm')
      .output('y', [2, N])
      .toBytes();
    const g = importOnnx(bytes);
    assert.deepEqual(ops(g), ['Gemm']);
    const w = g.constants.get(g.nodes[0]!.inputs[1]!)!;
    const bias = g.constants.get(g.nodes[0]!.inputs[2]!)!;
    assert.deepEqual(w.dims, [K, N]);
    // W[k][n] = alpha·B[n][k]; bias = beta·C.
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) assert.equal(w.data[k * N + n], 0.75 * b[n * K + k]!);
    assert.deepEqual(Array.from(bias.data), Array.from(c, (v) => 2 * v));
    await checkAgainstOrt(bytes, [2, K], g);
  });

  it('Gemm with transB = 0 and a [1, N] bias, and with a scalar bias, matches onnxruntime', async () => {
    for (const [cDims, cLen] of [[[1, N], N], [[1], 1]] as const) {
      const bytes = new OnnxBuilder('gemm0')
        .input('x', [3, K])
        .initializer('B', [K, N], weights(K * N))
        .initializer('C', [...cDims], weights(cLen))
        .node('Gemm', ['x', 'B', 'C'], ['y'], { alpha: 1.5, beta: 0.5 }, 'gemm')
        .output('y', [3, N])
        .toBytes();
      await checkAgainstOrt(bytes, [3, K]);
    }
  });

  it('MatMul by a constant followed by Add becomes Gemm + Add and matches onnxruntime', async () => {
    const bytes = new OnnxBuilder('matmul')
      .input('x', [2, K])
      .initializer('W', [K, N], weights(K * N))
      .initializer('b', [N], weights(N))
      .node('MatMul', ['x', 'W'], ['m'], {}, 'matmul')
      .node('Add', ['m', 'b'], ['y'], {}, 'add')
      .output('y', [2, N])
      .toBytes();
    const g = importOnnx(bytes);
    assert.deepEqual(ops(g), ['Gemm', 'Add']);
    assert.equal(g.nodes[0]!.name, 'matmul');
    await checkAgainstOrt(bytes, [2, K], g);
  });
});

describe('importOnnx: BatchNormalization folding', () => {
  function bn(b: OnnxBuilder, prefix: string, c: number): OnnxBuilder {
    return b
      .initializer(`${prefix}.gamma`, [c], weights(c, 0.5, 2))
      .initializer(`${prefix}.beta`, [c], weights(c))
      .initializer(`${prefix}.mean`, [c], weights(c))
      .initializer(`${prefix}.var`, [c], weights(c, 0.1, 3));
  }
  const bnInputs = (input: string, prefix: string): string[] => [input, `${prefix}.gamma`, `${prefix}.beta`, `${prefix}.mean`, `${prefix}.var`];

  it('folds BN after Conv (with and without bias) and after Gemm; output still equals onnxruntime', async () => {
    const b = new OnnxBuilder('bnfold').input('x', [1, 3, 6, 6]);
    b.initializer('c1.w', [4, 3, 3, 3], weights(108)).initializer('c1.b', [4], weights(4));
    b.initializer('c2.w', [4, 4, 1, 1], weights(16));
    bn(b, 'bn1', 4);
    bn(b, 'bn2', 4);
    bn(b, 'bn3', 5);
    b.initializer('fc.w', [144, 5], weights(720, -0.2, 0.2)).initializer('fc.b', [5], weights(5));
    const bytes = b
      .node('Conv', ['x', 'c1.w', 'c1.b'], ['c1'], { pads: [1, 1, 1, 1] }, 'conv1')
      .node('BatchNormalization', bnInputs('c1', 'bn1'), ['b1'], { epsilon: 1e-3 }, 'bn1')
      .node('Relu', ['b1'], ['r1'], {}, 'relu1')
      .node('Conv', ['r1', 'c2.w'], ['c2'], {}, 'conv2')
      .node('BatchNormalization', bnInputs('c2', 'bn2'), ['b2'], {}, 'bn2')
      .node('Flatten', ['b2'], ['f'], {}, 'flatten')
      .node('Gemm', ['f', 'fc.w', 'fc.b'], ['g'], {}, 'fc')
      .node('BatchNormalization', bnInputs('g', 'bn3'), ['y'], {}, 'bn3')
      .output('y', [1, 5])
      .toBytes();
    const g = importOnnx(bytes);
    assert.deepEqual(ops(g), ['Conv', 'Relu', 'Conv', 'Reshape', 'Gemm']);
    assert.ok(!ops(g).includes('BatchNormalization'));
    // The folded layers keep their names and take over the BN outputs; their pre-BN outputs are gone.
    assert.deepEqual(g.nodes.map((n) => n.outputs[0]), ['b1', 'r1', 'b2', 'f', 'y']);
    for (const gone of ['c1', 'c2', 'g']) assert.equal(g.dims.has(gone), false);
    assert.equal(g.nodes[2]!.inputs.length, 3, 'a bias-less Conv gains the BN shift as bias');
    for (const name of g.constants.keys()) assert.ok(!name.startsWith('bn'), `unused BN constant ${name} kept`);
    await checkAgainstOrt(bytes, [1, 3, 6, 6], g);
  });

  it('keeps a BN after a non-linear op, or after a Conv whose output has another consumer, and evaluates it', async () => {
    const b = new OnnxBuilder('bnkeep').input('x', [2, 3, 5, 5]);
    b.initializer('c1.w', [3, 3, 3, 3], weights(81)).initializer('c1.b', [3], weights(3));
    bn(b, 'bn1', 3);
    bn(b, 'bn2', 3);
    const bytes = b
      .node('Conv', ['x', 'c1.w', 'c1.b'], ['c1'], { pads: [1, 1, 1, 1] }, 'conv1')
      .node('Relu', ['c1'], ['r1'], {}, 'relu1')
      .node('BatchNormalization', bnInputs('r1', 'bn1'), ['b1'], { epsilon: 0.01 }, 'bn_after_relu')
      .node('BatchNormalization', bnInputs('c1', 'bn2'), ['b2'], {}, 'bn_shared')
      .node('Add', ['b1', 'b2'], ['y'], {}, 'add')
      .output('y', [2, 3, 5, 5])
      .toBytes();
    const g = await checkAgainstOrt(bytes, [2, 3, 5, 5], importOnnx(bytes, { inputDims: [2, 3, 5, 5] }));
    assert.deepEqual(ops(g), ['Conv', 'Relu', 'BatchNormalization', 'BatchNormalization', 'Add']);
    assert.deepEqual(g.nodes.map((n) => n.name).slice(2, 4), ['bn_after_relu', 'bn_shared']);
  });
});

describe('importOnnx: aliases', () => {
  it('Identity and inference Dropout disappear, also as the model output', async () => {
    const bytes = new OnnxBuilder('alias')
      .input('x', [1, 2, 4, 4])
      .initializer('w', [2, 2, 3, 3], weights(36))
      .initializer('ratio', [], new Float32Array([0.3]))
      .node('Identity', ['x'], ['x1'], {}, 'id_in')
      .node('Conv', ['x1', 'w'], ['c'], { pads: [1, 1, 1, 1] }, 'conv')
      .node('Dropout', ['c'], ['d'], {}, 'dropout')
      .node('Dropout', ['d', 'ratio'], ['d2'], {}, 'dropout_ratio')
      .node('Relu', ['d2'], ['r'], {}, 'relu')
      .node('Identity', ['r'], ['y'], {}, 'id_out')
      .output('y', [1, 2, 4, 4])
      .toBytes();
    const g = importOnnx(bytes);
    assert.deepEqual(ops(g), ['Conv', 'Relu']);
    assert.deepEqual(g.nodes[0]!.inputs.slice(0, 1), ['x']);
    assert.deepEqual(g.nodes[1]!.inputs, ['c']);
    assert.deepEqual(g.outputs, ['r']);
    await checkAgainstOrt(bytes, [1, 2, 4, 4], g);
  });

  it('refuses a training-mode Dropout', () => {
    const bytes = new OnnxBuilder('train')
      .input('x', [1, 4])
      .initializer('ratio', [], new Float32Array([0.5]))
      .initializer('training', [], new Uint8Array([1]))
      .node('Dropout', ['x', 'ratio', 'training'], ['y'], {}, 'drop_train')
      .output('y', [1, 4])
      .toBytes();
    throwsWith(() => importOnnx(bytes), UnsupportedModelError, ['drop_train', 'Dropout']);
  });
});

describe('importOnnx: errors', () => {
  for (const op of ['Hardmax', 'LSTM']) {
    it(`an unsupported op (${op}) → UnsupportedModelError naming the node and op`, () => {
      const bytes = new OnnxBuilder('unsupported')
        .input('x', [1, 4])
        .node('Relu', ['x'], ['r'], {}, 'relu')
        .node(op, ['r'], ['y'], {}, `my_${op.toLowerCase()}_node`)
        .output('y')
        .toBytes();
      const e = throwsWith(() => importOnnx(bytes), UnsupportedModelError, [`my_${op.toLowerCase()}_node`, op]);
      assert.equal(e.code, 'SLALOM_ERR_UNSUPPORTED');
      assert.equal(e.layer, `my_${op.toLowerCase()}_node`);
    });
  }

  it('a Conv whose weight is a graph input → UnsupportedModelError', () => {
    const bytes = new OnnxBuilder('dynw')
      .input('x', [1, 2, 4, 4])
      .input('w', [2, 2, 3, 3])
      .node('Conv', ['x', 'w'], ['y'], {}, 'dyn_conv')
      .output('y')
      .toBytes();
    throwsWith(() => importOnnx(bytes), UnsupportedModelError, ['dyn_conv', 'Conv', 'constant']);
  });

  it('a Gemm whose B is computed from the input → UnsupportedModelError', () => {
    const bytes = new OnnxBuilder('dynb')
      .input('x', [3, 3])
      .node('Relu', ['x'], ['r'], {}, 'relu')
      .node('Gemm', ['x', 'r'], ['y'], {}, 'dyn_gemm')
      .output('y')
      .toBytes();
    throwsWith(() => importOnnx(bytes), UnsupportedModelError, ['dyn_gemm', 'Gemm']);
  });

  it('garbage, empty and truncated bytes → MalformedModelError', () => {
    const garbage = Uint8Array.from({ length: 257 }, (_, i) => (i * 131 + 7) & 0xff);
    const text = new TextEncoder().encode('this is not an ONNX model, just some text\n');
    const good = new OnnxBuilder('t').input('x', [1, 2]).initializer('w', [2, 2], weights(4)).node('MatMul', ['x', 'w'], ['y']).output('y').toBytes();
    for (const bytes of [garbage, text, new Uint8Array(0), good.subarray(0, good.length - 7)]) {
      assert.throws(() => importOnnx(bytes), MalformedModelError);
    }
  });

  it('a Reshape to an impossible shape → MalformedModelError naming the node', () => {
    const bytes = new OnnxBuilder('badreshape')
      .input('x', [1, 2, 3, 4])
      .initializer('shape', [2], i64(5, -1))
      .node('Reshape', ['x', 'shape'], ['y'], {}, 'bad_reshape')
      .output('y')
      .toBytes();
    const e = throwsWith(() => importOnnx(bytes), MalformedModelError, ['bad_reshape', 'Reshape']);
    assert.equal(e.layer, 'bad_reshape');
    const fixed = new OnnxBuilder('badreshape2')
      .input('x', [1, 2, 3, 4])
      .initializer('shape', [2], i64(5, 5))
      .node('Reshape', ['x', 'shape'], ['y'], {}, 'bad_reshape2')
      .output('y')
      .toBytes();
    throwsWith(() => importOnnx(fixed), MalformedModelError, ['bad_reshape2', 'Reshape']);
  });

  it('a node reading an undefined value → MalformedModelError naming the node', () => {
    const bytes = new OnnxBuilder('dangling').input('x', [1, 4]).node('Add', ['x', 'nowhere'], ['y'], {}, 'dangling_add').output('y').toBytes();
    throwsWith(() => importOnnx(bytes), MalformedModelError, ['dangling_add', 'nowhere']);
  });

  it('a symbolic non-batch dimension needs inputDims (--input-shape); with it the model imports and runs', async () => {
    const bytes = new OnnxBuilder('symbolic')
      .input('x', ['N', 2, 'H', 'W'])
      .initializer('w', [3, 2, 3, 3], weights(54))
      .node('Conv', ['x', 'w'], ['c'], { pads: [1, 1, 1, 1] }, 'conv')
      .node('GlobalAveragePool', ['c'], ['y'], {}, 'gap')
      .output('y', ['N', 3, 1, 1])
      .toBytes();
    throwsWith(() => importOnnx(bytes), InvalidArgumentError, ['--input-shape', 'H']);
    const g = importOnnx(bytes, { inputDims: [2, 2, 7, 5] });
    assert.deepEqual(g.dims.get('c'), [2, 3, 7, 5]);
    await checkAgainstOrt(bytes, [2, 2, 7, 5], g);
    // A concrete size in the model must agree with inputDims.
    throwsWith(() => importOnnx(bytes, { inputDims: [1, 3, 7, 5] }), InvalidArgumentError, []);
    throwsWith(() => importOnnx(bytes, { inputDims: [1, 2, 7] }), InvalidArgumentError, ['rank']);
  });
});

describe('importOnnx: auto_pad', () => {
  // [spatial, kernel, strides]: odd and even total padding, so SAME_UPPER and SAME_LOWER differ.
  const cases: [[number, number], [number, number], [number, number]][] = [
    [[7, 8], [2, 2], [1, 1]],
    [[7, 8], [3, 3], [2, 2]],
    [[9, 6], [4, 3], [3, 2]],
  ];
  for (const autoPad of ['SAME_UPPER', 'SAME_LOWER'] as const) {
    for (const [[h, w], k, s] of cases) {
      it(`${autoPad} Conv, MaxPool and AveragePool (input ${h}×${w}, kernel ${k}, strides ${s}) match onnxruntime`, async () => {
        const conv = new OnnxBuilder('conv')
          .input('x', [1, 2, h, w])
          .initializer('w', [3, 2, k[0], k[1]], weights(6 * k[0] * k[1]))
          .initializer('b', [3], weights(3))
          .node('Conv', ['x', 'w', 'b'], ['y'], { auto_pad: autoPad, strides: s }, 'conv')
          .output('y')
          .toBytes();
        const g = await checkAgainstOrt(conv, [1, 2, h, w]);
        assert.deepEqual(g.dims.get('y'), [1, 3, Math.ceil(h / s[0]), Math.ceil(w / s[1])]);
        for (const pool of ['MaxPool', 'AveragePool']) {
          const bytes = new OnnxBuilder('pool')
            .input('x', [1, 2, h, w])
            .node(pool, ['x'], ['y'], { auto_pad: autoPad, kernel_shape: k, strides: s }, 'pool')
            .output('y')
            .toBytes();
          // The input is positive so MaxPool's padding value could not hide a wrong window.
          const g2 = importOnnx(bytes);
          const x = randomTensor([1, 2, h, w], random, 0.5, 2);
          const [ours] = await execute(g2, [x]);
          assertClose(ours!, await ortRun(bytes, x), 1e-5, 1e-6, `${pool} ${autoPad}`);
        }
      });
    }
  }
});
