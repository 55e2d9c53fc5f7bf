/**
 * The model zoo: every model loads in onnxruntime-node and maps a seeded standard-normal 1×3×224×224
 * input to finite logits [1, 1000] of sane size; parameter counts match torchvision's `parameters()`
 * (conv/Linear weights and biases, BN γ and β); the four smaller models keep every intermediate
 * activation below 64 (the scale slalom's fixed-point quantization is sized for); a seed fixes the bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TypeProtoSchema, TypeProto_TensorSchema, ValueInfoProtoSchema, type ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';

import { InvalidArgumentError } from '../../src/errors.js';
import { buildZooModel, ZOO_CNNS, type ZooModelName } from '../../src/zoo/index.js';
import { Rng } from '../../src/util/seeded-rng.js';

/** torchvision's sum(p.numel() for p in model.parameters()); MobileNetV1 as Keras' trainable count. */
const PARAMS: Record<(typeof ZOO_CNNS)[number], number> = {
  vgg16: 138_357_544,
  'mobilenet-v1': 4_231_976,
  'mobilenet-v2': 3_504_872,
  resnet18: 11_689_512,
  resnet50: 25_557_032,
};

/** [convs with group > 1 (depthwise), BatchNormalization nodes, residual Adds]. */
const STRUCTURE: Record<(typeof ZOO_CNNS)[number], [number, number, number]> = {
  vgg16: [0, 0, 0],
  'mobilenet-v1': [13, 27, 0],
  'mobilenet-v2': [17, 52, 10],
  resnet18: [0, 20, 8],
  resnet50: [0, 53, 16],
};

const ACTIVATION_LIMIT = 64;
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };
const input = new ort.Tensor('float32', new Rng(2024).fillNormal(new Float32Array(3 * 224 * 224), 1), [1, 3, 224, 224]);

/** Learnable parameters as torchvision counts them: Conv/Gemm weight and bias, BN scale and bias. */
function countParams(m: ModelProto): number {
  const sizes = new Map(m.graph!.initializer.map((t) => [t.name, t.dims.reduce((a, d) => a * Number(d), 1)]));
  const size = (name: string | undefined): number => (name ? sizes.get(name) ?? assert.fail(`${name} is no initializer`) : 0);
  let n = 0;
  for (const node of m.graph!.node) {
    if (node.opType === 'Conv' || node.opType === 'Gemm') n += size(node.input[1]) + size(node.input[2]);
    if (node.opType === 'BatchNormalization') n += size(node.input[1]) + size(node.input[2]);
  }
  return n;
}

function structure(m: ModelProto): [number, number, number] {
  const nodes = m.graph!.node;
  const group = (n: (typeof nodes)[number]): bigint => n.attribute.find((a) => a.name === 'group')?.i ?? 1n;
  return [
    nodes.filter((n) => n.opType === 'Conv' && group(n) > 1n).length,
    nodes.filter((n) => n.opType === 'BatchNormalization').length,
    nodes.filter((n) => n.opType === 'Add').length,
  ];
}

/** The same model with every node output also a graph output, to see intermediate activations. */
function exposeAll(m: ModelProto): Uint8Array {
  const g = m.graph!;
  const declared = new Set(g.output.map((o) => o.name));
  for (const node of g.node) {
    for (const name of node.output) {
      if (declared.has(name)) continue;
      const tensorType = create(TypeProto_TensorSchema, { elemType: 1 });
      g.output.push(create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) }));
    }
  }
  return toBinary(ModelProtoSchema, m);
}

function maxAbs(data: Float32Array): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]!);
    if (!(a <= m)) m = a; // NaN propagates
  }
  return m;
}

describe('model zoo', () => {
  for (const name of ZOO_CNNS) {
    it(`${name}: structure, parameter count and logits in onnxruntime`, async () => {
      const bytes = buildZooModel(name, { seed: 1 });
      const model = fromBinary(ModelProtoSchema, bytes);
      assert.deepEqual(model.opsetImport.map((o) => [o.domain, o.version]), [['', 13n]]);
      assert.equal(countParams(model), PARAMS[name]);
      assert.deepEqual(structure(model), STRUCTURE[name]);
      for (const bn of model.graph!.node.filter((n) => n.opType === 'BatchNormalization')) {
        assert.equal(bn.attribute.find((a) => a.name === 'epsilon')?.f, Math.fround(1e-5));
      }
      const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
      assert.deepEqual(session.inputNames, ['input']);
      assert.deepEqual(session.outputNames, ['logits']);
      const { logits } = await session.run({ input });
      await session.release();
      assert.deepEqual(logits!.dims, [1, 1000]);
      const m = maxAbs(logits!.data as Float32Array);
      assert.ok(Number.isFinite(m) && m > 0.1 && m < 100, `max |logit| = ${m}`);
    });
  }

  for (const name of ['mobilenet-v1', 'mobilenet-v2', 'resnet18', 'resnet50'] as const) {
    it(`${name}: every intermediate |activation| < ${ACTIVATION_LIMIT}`, async () => {
      const session = await ort.InferenceSession.create(exposeAll(fromBinary(ModelProtoSchema, buildZooModel(name, { seed: 3 }))), {
        ...SESSION_OPTIONS,
        graphOptimizationLevel: 'disabled',
      });
      const outputs = await session.run({ input });
      await session.release();
      let worst = ['', 0] as [string, number];
      for (const [k, v] of Object.entries(outputs)) {
        const m = maxAbs(v.data as Float32Array);
        if (!(m <= worst[1])) worst = [k, m];
      }
      assert.ok(Object.keys(outputs).length > 50);
      assert.ok(worst[1] < ACTIVATION_LIMIT, `${worst[0]}: max |activation| = ${worst[1]}`);
    });
  }

  it('the same seed gives the same bytes, another seed other weights', () => {
    const a = buildZooModel('mobilenet-v2', { seed: 5 });
    assert.equal(Buffer.compare(a, buildZooModel('mobilenet-v2', { seed: 5 })), 0);
    const b = buildZooModel('mobilenet-v2', { seed: 6 });
    assert.equal(a.length, b.length);
    assert.notEqual(Buffer.compare(a, b), 0);
    assert.equal(Buffer.compare(buildZooModel('mobilenet-v1'), buildZooModel('mobilenet-v1', { seed: 0 })), 0);
  });

  it('Rng: seeded, N(0, 1) moments, uniforms in (0, 1)', () => {
    const a = new Rng(9).fillNormal(new Float64Array(400_000), 1);
    assert.deepEqual(new Rng(9).fillNormal(new Float64Array(1000), 1), a.subarray(0, 1000));
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    for (const v of a) {
      m1 += v;
      m2 += v * v;
      m4 += v ** 4;
    }
    const n = a.length;
    assert.ok(Math.abs(m1 / n) < 0.01 && Math.abs(m2 / n - 1) < 0.01 && Math.abs(m4 / n - 3) < 0.06, `moments ${m1 / n} ${m2 / n} ${m4 / n}`);
    const u = new Rng(9).fillUniform(new Float64Array(10_000), 0, 1);
    assert.ok(u.every((v) => v > 0 && v < 1));
    assert.notDeepEqual(new Rng(1).fillNormal(new Float64Array(4), 1), new Rng(2).fillNormal(new Float64Array(4), 1));
  });

  it('rejects an unknown name or a bad seed', () => {
    assert.throws(() => buildZooModel('alexnet' as ZooModelName), InvalidArgumentError);
    assert.throws(() => buildZooModel('resnet18', { seed: 0.5 }), InvalidArgumentError);
  });
});
