/**
 * The quantized artifact (quant/artifact.ts): a round trip keeps every scale, integer weight, hash and
 * the model's info, and runs bit-identically; weights are stored as small integers and decoded on
 * first use; any truncation, corruption or unknown version is a MalformedModelError (exit 3 in the
 * CLI), never a crash or a silently different model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { MalformedModelError, UnsupportedModelError } from '../../src/errors.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { isArtifact, readArtifact, writeArtifact } from '../../src/quant/artifact.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { sizeOf, tensor } from '../../src/tensor/tensor.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { syntheticInput } from '../runtime/modes-helpers.js';

const FASHION = 'models/fashion-mnist.onnx';

function malformed(pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof MalformedModelError, `expected MalformedModelError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
}

describe('quantized artifact', () => {
  let dir: string;
  let onnx: SlalomModel;
  let path: string;
  let bytes: Buffer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-artifact-'));
    onnx = await SlalomModel.load(FASHION);
    path = join(dir, 'fashion-mnist.slalom');
    onnx.save(path);
    bytes = readFileSync(path);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the quantization, hashes, provenance and info, and is detected by content', async () => {
    assert.ok(isArtifact(bytes));
    const renamed = join(dir, 'model.onnx'); // the name does not matter, the content does
    writeFileSync(renamed, bytes);
    for (const source of [path, renamed, new Uint8Array(bytes)]) {
      const a = await SlalomModel.load(source);
      assert.equal(a.format, 'artifact');
      assert.equal(a.modelHash, onnx.modelHash);
      assert.equal(a.weightsHash, onnx.weightsHash);
      assert.deepEqual(a.provenance, onnx.provenance);
      assert.deepEqual(a.info.labels, onnx.info.labels);
      assert.deepEqual(a.info.preprocess, onnx.info.preprocess);
      assert.deepEqual(a.inputs, onnx.inputs);
      assert.equal(a.quantized.layers.length, onnx.quantized.layers.length);
      a.quantized.layers.forEach((l, i) => {
        const o = onnx.quantized.layers[i]!;
        assert.deepEqual([l.name, l.op, l.lx, l.lw, l.inDims, l.outDims, l.weightRowL1, l.maxAbsBias, l.macs], [o.name, o.op, o.lx, o.lw, o.inDims, o.outDims, o.weightRowL1, o.maxAbsBias, o.macs]);
        assert.deepEqual(l.stats, o.stats);
        assert.deepEqual(l.conv, o.conv);
        assert.deepEqual(l.w.dims, o.w.dims);
        // Integers stored as integers: the quantizer's −0 (Math.round of a small negative weight) reads back as 0.
        const plain = (a: ArrayLike<number>): number[] => Array.from(a, (v) => v + 0);
        assert.deepEqual(plain(l.w.data), plain(o.w.data));
        assert.deepEqual(plain(l.bias ?? []), plain(o.bias ?? []));
      });
      assert.deepEqual(a.graph.nodes.map((n) => [n.name, n.op, n.inputs, n.outputs, n.attrs]), onnx.graph.nodes.map((n) => [n.name, n.op, n.inputs, n.outputs, n.attrs]));
    }
  });

  it('runs bit-identically to the model it was saved from', async () => {
    const a = await SlalomModel.load(path);
    for (const seed of [1, 2, 3]) {
      const x = syntheticInput(a.inputDims, seed);
      assert.deepEqual(Array.from((await a.infer(x)).logits), Array.from((await onnx.infer(x)).logits));
    }
  });

  it('stores integer weights compactly (not as doubles) and decodes them only when a layer is used', async () => {
    const params = onnx.quantized.layers.reduce((s, l) => s + sizeOf(l.w.dims), 0);
    assert.ok(bytes.length < params * 4, `${bytes.length} bytes for ${params} weights: no wider than 32 bits each`);
    const a = await SlalomModel.load(path);
    const layer = a.quantized.layers[0]!;
    const descriptor = Object.getOwnPropertyDescriptor(layer.w, 'data');
    assert.equal(typeof descriptor?.get, 'function', 'weights are decoded lazily');
    assert.equal(layer.w.data, layer.w.data, 'decoded once');
  });

  it('without the ONNX file, the float reference is refused with what to do; with it, it is served and checked', async () => {
    const a = await SlalomModel.load(path);
    assert.equal(a.hasFloatModel, false);
    assert.throws(() => a.onnxBytes, /--float-model|--include-onnx/);
    await assert.rejects(a.inferFloat(syntheticInput(a.inputDims)), /needs the float model/);
    const withOnnx = join(dir, 'with-onnx.slalom');
    onnx.save(withOnnx, { includeOnnx: true });
    const b = await SlalomModel.load(withOnnx);
    assert.deepEqual(Buffer.from(b.onnxBytes), readFileSync(FASHION));
    const x = syntheticInput(b.inputDims);
    assert.deepEqual(Array.from((await b.inferFloat(x))[0]!.data), Array.from((await onnx.inferFloat(x))[0]!.data));
    // The ONNX part is authenticated by the model hash.
    const tampered = readFileSync(withOnnx);
    tampered[tampered.length - 10]! ^= 1;
    writeFileSync(withOnnx, tampered);
    const c = await SlalomModel.load(withOnnx); // loading does not read the ONNX part
    assert.equal(c.weightsHash, onnx.weightsHash);
    assert.throws(() => c.onnxBytes, malformed(/ONNX file does not match its model hash/));
  });

  it('refuses a truncated, extended, corrupted or unknown-version file', async () => {
    const write = (name: string, b: Uint8Array): string => {
      const p = join(dir, name);
      writeFileSync(p, b);
      return p;
    };
    for (const cut of [10, 47, 60, bytes.length - 1]) {
      await assert.rejects(SlalomModel.load(write(`cut-${cut}.slalom`, bytes.subarray(0, cut))), malformed(/truncated/));
    }
    await assert.rejects(SlalomModel.load(write('long.slalom', Buffer.concat([bytes, Buffer.from([0])]))), malformed(/unexpected bytes after the end/));
    // One flipped bit anywhere in the header or the weights.
    for (const at of [60, Math.floor(bytes.length / 2), bytes.length - 3]) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x10;
      await assert.rejects(SlalomModel.load(write(`flip-${at}.slalom`, flipped)), (e: unknown) => e instanceof MalformedModelError && /checksum|not JSON|header/.test(e.message));
    }
    const newer = Buffer.from(bytes);
    newer.writeUInt32LE(99, 8);
    await assert.rejects(SlalomModel.load(write('v99.slalom', newer)), (e: unknown) => e instanceof UnsupportedModelError && /version 99 is newer/.test(e.message));
    const p = write('named.slalom', bytes.subarray(0, 100));
    await assert.rejects(SlalomModel.load(p), (e: unknown) => e instanceof MalformedModelError && e.message.startsWith(`${p}: malformed slalom artifact`));
  });

  it('weights that disagree with the Σ|w̃| the header claims are refused when first used', () => {
    const q = onnx.quantized;
    const lying = { ...q, layers: q.layers.map((l, i) => (i === 1 ? { ...l, weightRowL1: l.weightRowL1 - 1 } : l)) };
    const p = join(dir, 'lying.slalom');
    writeArtifact(p, lying, { name: 'x', modelHash: onnx.modelHash, provenance: onnx.provenance, info: {} });
    const { quantized } = readArtifact(p);
    assert.equal(quantized.layers[0]!.w.data.length, sizeOf(quantized.layers[0]!.w.dims));
    assert.throws(() => quantized.layers[1]!.w.data, malformed(/Σ\|w̃\| = \d+, its header claims/));
  });

  it('refuses a calibration or margin for an artifact, and a shape it was not quantized for', async () => {
    await assert.rejects(SlalomModel.load(path, { calibration: [tensor([1, 1, 28, 28])] }), /calibrated already/);
    await assert.rejects(SlalomModel.load(path, { margin: 2 }), /calibrated already/);
    await assert.rejects(SlalomModel.load(path, { inputDims: [2, 1, 28, 28] }), /quantized for input 'input' \[1×1×28×28\]/);
  });
});

describe('quantized artifact of other graphs', () => {
  it('a ConvTranspose decoder (ZeroInsert + Conv), GELU (Erf) and LayerNormalization: round trip bit-identical', async () => {
    const rng = new Rng(17);
    const w = (n: number, std: number): Float32Array => rng.fillNormal(new Float32Array(n), std);
    const bytes = new OnnxBuilder('decoder')
      .input('x', [1, 3, 4, 4])
      .initializer('up.w', [3, 2, 3, 3], w(54, 0.3))
      .initializer('up.b', [2], w(2, 0.1))
      .initializer('ln.scale', [8], w(8, 1))
      .initializer('ln.bias', [8], w(8, 0.1))
      .initializer('half', [], new Float32Array([0.5]))
      .initializer('one', [], new Float32Array([1]))
      .initializer('rsqrt2', [], new Float32Array([Math.SQRT1_2]))
      .node('ConvTranspose', ['x', 'up.w', 'up.b'], ['u'], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, 'up')
      .node('Mul', ['u', 'rsqrt2'], ['us'], {}, 'scale')
      .node('Erf', ['us'], ['e'], {}, 'erf')
      .node('Add', ['e', 'one'], ['e1'], {}, 'add1')
      .node('Mul', ['u', 'e1'], ['ue'], {}, 'mul')
      .node('Mul', ['ue', 'half'], ['g'], {}, 'gelu')
      .node('LayerNormalization', ['g', 'ln.scale', 'ln.bias'], ['y'], { axis: -1 }, 'ln')
      .output('y')
      .toBytes();
    const model = await SlalomModel.load(bytes);
    assert.ok(model.graph.nodes.some((n) => n.op === 'ZeroInsert'));
    const dir = mkdtempSync(join(tmpdir(), 'slalom-artifact-decoder-'));
    try {
      const p = join(dir, 'd.slalom');
      model.save(p);
      const a = await SlalomModel.load(p);
      assert.equal(a.weightsHash, model.weightsHash);
      const x = syntheticInput(model.inputDims, 9);
      assert.deepEqual(Array.from((await a.infer(x)).logits), Array.from((await model.infer(x)).logits));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });


  it('MobileNetV2 (depthwise, Clip, residual Adds): round trip bit-identical', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-artifact-zoo-'));
    try {
      const model = await SlalomModel.load(buildZooModel('mobilenet-v2', { seed: 1 }));
      const p = join(dir, 'm.slalom');
      model.save(p);
      const a = await SlalomModel.load(p);
      assert.equal(a.weightsHash, model.weightsHash);
      const x = syntheticInput(model.inputDims, 5);
      assert.deepEqual(Array.from((await a.infer(x)).logits), Array.from((await model.infer(x)).logits));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
