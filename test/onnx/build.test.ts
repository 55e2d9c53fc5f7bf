/**
 * OnnxBuilder: a Conv → Relu → Reshape → Gemm model with a Constant node runs in onnxruntime-node and
 * matches a plain-JS reference; the bytes decode as a well-formed ModelProto (attribute kinds,
 * raw_data little-endian, symbolic dims); misuse throws InvalidArgumentError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { fromBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as A, ModelProtoSchema, TensorProto_DataType } from 'onnx-buf';
import * as ort from 'onnxruntime-node';

import { InvalidArgumentError } from '../../src/errors.js';
import { OnnxBuilder } from '../../src/onnx/build.js';

const H = 4;
const W = 4;
const CO = 2;
const K = 3;
const FEATURES = CO * H * W;
const CLASSES = 3;
const ALPHA = 0.5;

const convW = Float32Array.from({ length: CO * K * K }, (_, i) => ((i * 7) % 5) / 4 - 0.5);
const convB = new Float32Array([0.25, -0.5]);
const gemmB = Float32Array.from({ length: CLASSES * FEATURES }, (_, i) => ((i * 11) % 9) / 8 - 0.5);
const gemmC = new Float32Array([1, -1, 0.125]);

/** y = ALPHA · flatten(relu(conv3x3_pad1(x))) · Bᵀ + C, one image [1, H, W]. */
function reference(x: Float32Array): number[] {
  const feat = new Float64Array(FEATURES);
  for (let o = 0; o < CO; o++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        let s = convB[o]!;
        for (let di = 0; di < K; di++) {
          for (let dj = 0; dj < K; dj++) {
            const ii = i + di - 1;
            const jj = j + dj - 1;
            if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += convW[o * K * K + di * K + dj]! * x[ii * W + jj]!;
          }
        }
        feat[o * H * W + i * W + j] = Math.max(0, s);
      }
    }
  }
  return Array.from({ length: CLASSES }, (_, c) => {
    let s = 0;
    for (let f = 0; f < FEATURES; f++) s += feat[f]! * gemmB[c * FEATURES + f]!;
    return ALPHA * s + gemmC[c]!;
  });
}

function tinyModel(): Uint8Array {
  return new OnnxBuilder('tiny')
    .input('x', ['N', 1, H, W])
    .initializer('conv.weight', [CO, 1, K, K], convW)
    .initializer('conv.bias', [CO], convB)
    .initializer('shape', [2], new BigInt64Array([0n, -1n]))
    .initializer('fc.bias', [CLASSES], gemmC)
    .constant('fc.weight', [CLASSES, FEATURES], gemmB)
    .node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], { kernel_shape: [K, K], pads: [1, 1, 1, 1], strides: [1, 1] })
    .node('Relu', ['c'], ['r'])
    .node('Reshape', ['r', 'shape'], ['f'])
    .node('Gemm', ['f', 'fc.weight', 'fc.bias'], ['y'], { alpha: ALPHA, beta: { float: 1 }, transB: 1 }, 'fc')
    .output('y', ['N', CLASSES])
    .toBytes();
}

describe('OnnxBuilder', () => {
  it('builds a model onnxruntime runs, matching a JS reference (batch 2, symbolic N)', async () => {
    const session = await ort.InferenceSession.create(tinyModel(), { intraOpNumThreads: 1 });
    assert.deepEqual(session.inputNames, ['x']);
    assert.deepEqual(session.outputNames, ['y']);
    const x = Float32Array.from({ length: 2 * H * W }, (_, i) => Math.sin(i * 1.7) * 2);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [2, 1, H, W]) });
    assert.deepEqual(y!.dims, [2, CLASSES]);
    const got = y!.data as Float32Array;
    const want = [...reference(x.subarray(0, H * W)), ...reference(x.subarray(H * W))];
    want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= 1e-5 * (1 + Math.abs(v)), `y[${i}] = ${got[i]}, want ${v}`));
    await session.release();
  });

  it('writes ir_version 8, the opset, typed value infos and symbolic dims', () => {
    const m = fromBinary(ModelProtoSchema, new OnnxBuilder('g', { opset: 17, producer: 'p' }).input('a', ['batch', 3], 'int64').output('b').toBytes());
    assert.equal(m.irVersion, 8n);
    assert.equal(m.producerName, 'p');
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, o.version]), [['', 17n]]);
    const inType = m.graph!.input[0]!.type!.value;
    if (inType.case !== 'tensorType') assert.fail(`input type is ${inType.case}`);
    assert.equal(inType.value.elemType, TensorProto_DataType.INT64);
    assert.deepEqual(inType.value.shape!.dim.map((d) => d.value), [
      { case: 'dimParam', value: 'batch' },
      { case: 'dimValue', value: 3n },
    ]);
    const outType = m.graph!.output[0]!.type!.value;
    if (outType.case !== 'tensorType') assert.fail(`output type is ${outType.case}`);
    assert.equal(outType.value.elemType, TensorProto_DataType.FLOAT);
    assert.equal(outType.value.shape, undefined);
    assert.equal(new OnnxBuilder('h').opset, 13);
  });

  it('stores initializers as little-endian raw_data with the dtype of the array, in order', () => {
    const b = new OnnxBuilder('g')
      .initializer('f', [2], new Float32Array([1, -2]))
      .initializer('d', [1], new Float64Array([0.5]))
      .initializer('i64', [1], new BigInt64Array([-2n]))
      .initializer('i32', [1], new Int32Array([0x01020304]))
      .initializer('u8', [2], new Uint8Array([7, 255]))
      .initializer('i8', [1], new Int8Array([-1]))
      .initializer('scalar', [], new Float32Array([6]));
    const inits = fromBinary(ModelProtoSchema, b.toBytes()).graph!.initializer;
    const D = TensorProto_DataType;
    assert.deepEqual(
      inits.map((t) => [t.name, t.dataType, t.dims.map(Number), Array.from(t.rawData)]),
      [
        ['f', D.FLOAT, [2], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]],
        ['d', D.DOUBLE, [1], [0, 0, 0, 0, 0, 0, 0xe0, 0x3f]],
        ['i64', D.INT64, [1], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
        ['i32', D.INT32, [1], [4, 3, 2, 1]],
        ['u8', D.UINT8, [2], [7, 255]],
        ['i8', D.INT8, [1], [255]],
        ['scalar', D.FLOAT, [], [0, 0, 0xc0, 0x40]],
      ],
    );
  });

  it('infers attribute kinds, and honours the forced forms and tensors', () => {
    const b = new OnnxBuilder('g').node('X', ['a'], ['b'], {
      i: 3,
      f: 0.5,
      ints: [1, 2],
      floats: [1, 0.5],
      forcedF: { float: 1 },
      forcedFs: { floats: [1, 2] },
      forcedI: { int: 4 },
      forcedIs: { ints: [] },
      s: 'NOTSET',
      t1: new BigInt64Array([5n, 6n]),
      t2: { tensor: new Float32Array([1, 2, 3, 4, 5, 6]), dims: [2, 3] },
    });
    const node = fromBinary(ModelProtoSchema, b.toBytes()).graph!.node[0]!;
    assert.equal(node.opType, 'X');
    assert.equal(node.name, 'X_0');
    const at = Object.fromEntries(node.attribute.map((a) => [a.name, a]));
    assert.deepEqual([at.i!.type, at.i!.i], [A.INT, 3n]);
    assert.deepEqual([at.f!.type, at.f!.f], [A.FLOAT, 0.5]);
    assert.deepEqual([at.ints!.type, at.ints!.ints], [A.INTS, [1n, 2n]]);
    assert.deepEqual([at.floats!.type, at.floats!.floats], [A.FLOATS, [1, 0.5]]);
    assert.deepEqual([at.forcedF!.type, at.forcedF!.f], [A.FLOAT, 1]);
    assert.deepEqual([at.forcedFs!.type, at.forcedFs!.floats], [A.FLOATS, [1, 2]]);
    assert.deepEqual([at.forcedI!.type, at.forcedI!.i], [A.INT, 4n]);
    assert.deepEqual([at.forcedIs!.type, at.forcedIs!.ints], [A.INTS, []]);
    assert.deepEqual([at.s!.type, new TextDecoder().decode(at.s!.s)], [A.STRING, 'NOTSET']);
    assert.equal(at.t1!.type, A.TENSOR);
    assert.deepEqual([at.t1!.t!.dataType, at.t1!.t!.dims], [TensorProto_DataType.INT64, [2n]]);
    assert.deepEqual(Array.from(new BigInt64Array(at.t1!.t!.rawData.slice().buffer)), [5n, 6n]);
    assert.deepEqual([at.t2!.t!.dataType, at.t2!.t!.dims], [TensorProto_DataType.FLOAT, [2n, 3n]]);
    assert.deepEqual(Array.from(new Float32Array(at.t2!.t!.rawData.slice().buffer)), [1, 2, 3, 4, 5, 6]);
  });

  it('uniqueName never repeats and avoids names already in the graph', () => {
    const b = new OnnxBuilder('g').input('relu_0', [1]).node('Relu', ['relu_0'], ['relu_1']);
    const names = [b.uniqueName('relu'), b.uniqueName('relu'), b.uniqueName('conv')];
    assert.deepEqual(names, ['relu_2', 'relu_3', 'conv_0']);
  });

  it('rejects misuse with InvalidArgumentError', () => {
    const b = new OnnxBuilder('g').initializer('w', [2], new Float32Array(2));
    assert.throws(() => b.initializer('w', [2], new Float32Array(2)), InvalidArgumentError);
    assert.throws(() => b.initializer('v', [2, 2], new Float32Array(3)), InvalidArgumentError);
    assert.throws(() => b.initializer('v', [1.5], new Float32Array(1)), InvalidArgumentError);
    assert.throws(() => b.input('x', [-1]), InvalidArgumentError);
    assert.throws(() => b.node('X', [], ['y'], { bad: Number.NaN }), InvalidArgumentError);
    assert.throws(() => b.node('X', [], ['y'], { bad: { ints: [0.5] } }), InvalidArgumentError);
    assert.throws(() => b.constant('c', [3], new Float32Array(2)), InvalidArgumentError);
    assert.throws(() => new OnnxBuilder('g', { opset: 0 }), InvalidArgumentError);
  });
});
