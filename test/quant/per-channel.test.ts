/**
 * Per-channel weight scales on a linear layer over token rows (quantize-graph.ts): output features of
 * very different magnitudes each get the weight bits their calibrated maximum leaves room for, the
 * small features come out far more precisely than under one scale for the tensor, every mode stays
 * bit-identical to baseline, an artifact keeps the scales, and a CNN-style 2-D Gemm keeps one scale.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { logitsInEveryMode } from '../runtime/modes-helpers.js';

const SCALES = [1, 1 / 8, 1 / 64, 1 / 512];
const DIMS = [2, 6, 16];

/** x [2, 6, 16] → MatMul W [16, 4] (column j scaled by SCALES[j]) + b → y [2, 6, 4]. */
function model(rows: 'tokens' | 'flat'): Uint8Array {
  const rng = new Rng(77);
  const w = rng.fillNormal(new Float32Array(64), 0.25);
  for (let i = 0; i < 64; i++) w[i]! *= SCALES[i % 4]!;
  const b = Float32Array.from(SCALES, (s) => 0.1 * s);
  const builder = new OnnxBuilder('per_channel', { opset: 14 }).input('x', rows === 'tokens' ? DIMS : [12, 16]).initializer('w', [16, 4], w).initializer('b', [4], b);
  return builder.node('MatMul', ['x', 'w'], ['xw'], {}, 'proj').node('Add', ['xw', 'b'], ['y']).output('y').toBytes();
}

function inputs(seed: number, count: number, dims: number[]): Tensor[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => tensor(dims, Float64Array.from(rng.fillNormal(new Float32Array(192), 1))));
}

/** Largest |slalom − onnxruntime| relative to the feature's largest |value|, per feature. */
async function relativeErrorPerFeature(m: SlalomModel, bytes: Uint8Array, x: Tensor): Promise<number[]> {
  const session = await createReferenceSession(bytes);
  const ref = [...(await session.run([x])).values()][0]!.data;
  await session.close();
  const ours = (await m.infer(x)).logits;
  return SCALES.map((_, j) => {
    let err = 0;
    let mag = 0;
    for (let i = j; i < ref.length; i += 4) {
      err = Math.max(err, Math.abs(ours[i]! - ref[i]!));
      mag = Math.max(mag, Math.abs(ref[i]!));
    }
    return err / mag;
  });
}

describe('per-channel weight scales', () => {
  let tokens: SlalomModel;
  let flat: SlalomModel;
  before(async () => {
    tokens = await SlalomModel.load(model('tokens'), { calibration: inputs(1, 8, DIMS) });
    flat = await SlalomModel.load(model('flat'), { calibration: inputs(1, 8, [12, 16]) });
  });

  it('a token-row layer gets extra bits for its small features; a 2-D Gemm keeps one scale', () => {
    const bits = tokens.quantized.layers[0]!.channelBits;
    assert.ok(bits !== undefined);
    assert.equal(bits[0], 0);
    // Each feature 8× smaller gains about 3 bits (one kept as headroom), up to the cap of 8.
    assert.ok(bits[1]! >= 1 && bits[2]! >= bits[1]! + 2 && bits[3]! >= bits[2]! + 2, `bits ${Array.from(bits)}`);
    assert.equal(flat.quantized.layers[0]!.channelBits, undefined);
  });

  it('small features are far more precise than under one scale per tensor', async () => {
    const [x] = inputs(9, 1, DIMS) as [Tensor];
    const perChannel = await relativeErrorPerFeature(tokens, model('tokens'), x);
    const perTensor = await relativeErrorPerFeature(flat, model('flat'), tensor([12, 16], x.data));
    assert.ok(perChannel[3]! < perTensor[3]! / 16, `smallest feature: per-channel ${perChannel[3]}, per-tensor ${perTensor[3]}`);
    for (const e of perChannel) assert.ok(e < 2 ** -6, `relative error ${e}`);
  });

  it('every mode is bit-identical to baseline', async () => {
    const logits = await logitsInEveryMode(tokens, inputs(10, 1, DIMS)[0]!);
    const base = Array.from(logits.get('baseline')!);
    for (const [mode, l] of logits) assert.deepEqual(Array.from(l), base, mode);
  });

  it('an artifact keeps the per-channel scales and gives the same outputs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-per-channel-'));
    try {
      const path = join(dir, 'm.slalom');
      tokens.save(path);
      const back = await SlalomModel.load(path);
      assert.deepEqual(back.quantized.layers[0]!.channelBits, tokens.quantized.layers[0]!.channelBits);
      assert.equal(back.weightsHash, tokens.weightsHash);
      const x = inputs(11, 1, DIMS)[0]!;
      assert.deepEqual(Array.from((await back.infer(x)).logits), Array.from((await tokens.infer(x)).logits));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
