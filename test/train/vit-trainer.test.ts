/**
 * Verified training of the ViT (vit-fashion-mnist) with the CNN's guarantees (test/train/trainer.test.ts):
 * a verified run is bit-identical to the same run in the trusted runtime; a lying accelerator in a
 * Linear's forward product or either backward product is caught and leaves the weights as they were
 * (and under `recompute` the run ends at the honest weights);
 * a run resumed from its checkpoint ends bit-identical; the committed model starts a run; and the
 * trained model, written as ONNX, is the trainer's function (onnxruntime on the file) and loads in
 * slalom's importer, whose baseline agrees with onnxruntime.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { argmax } from '../../src/api/predictions.js';
import { LocalBackend } from '../../src/accel/local.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { tensor } from '../../src/tensor/tensor.js';
import { modelFromOnnx, modelToOnnx, type TrainableModel } from '../../src/train/model.js';
import { PRODUCT_KINDS } from '../../src/train/products.js';
import { stateHash, train, type Hyperparameters } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/seeded-rng.js';
import type { Strategy } from '../accel/cheating.js';
import { assertLieCaught } from '../helpers/training-lies.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';
import { floatContext } from '../helpers/float-products.js';
import { tinyImages } from '../helpers/training-data.js';

const data = tinyImages(6);
const H: Hyperparameters = { architecture: 'vit-fashion-mnist', epochs: 2, batch: 2, steps: 3, optimizer: 'adam', lr: 1e-3, momentum: 0.9, weightDecay: 0, bits: { activation: 8, weight: 8, gradient: 8 }, repetitions: 2, seed: 5 };
const COMMITTED = readFileSync(new URL('../../models/vit-fashion-mnist.onnx', import.meta.url));
const LINEAR_LAYERS = 10; // embed; per block qkv, proj, fc1, fc2; head
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const honest = new Map<number, string>();
async function honestHash(steps: number): Promise<string> {
  if (!honest.has(steps)) honest.set(steps, (await train({ hyperparameters: { ...H, steps }, data })).finalStateHash);
  return honest.get(steps)!;
}

/** The three committed test images, normalised as the training normalises them. */
function sampleImages(): { x: Float64Array; count: number } {
  const d = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
  return { x: Float64Array.from(d.images.subarray(0, d.count * 784), (v) => (v / 255 - 0.286) / 0.353), count: d.count };
}

describe('verified training of the ViT', () => {
  test('verified on the accelerator and baseline in the trusted runtime end bit-identical; every Linear product is checked', async () => {
    const losses: number[] = [];
    const verified = await train({ hyperparameters: H, data, backend: new LocalBackend(), onStep: (r) => losses.push(r.loss) });
    assert.equal(verified.finalStateHash, await honestHash(H.steps!));
    assert.equal(verified.counters.products, H.steps! * (3 * LINEAR_LAYERS - 1)); // no input gradient for the patch embedding
    assert.ok(verified.counters.worstStepSoundnessLog2! < -40, `soundness per step ${verified.counters.worstStepSoundnessLog2}`);
    assert.ok(losses.every(Number.isFinite));
    assert.notEqual(verified.finalStateHash, verified.initialModel.stateHash);
  });

  const rng = new Rng(Date.now() >>> 0);
  const lies: readonly Strategy[] = ['off-by-one', 'scale-by-2', 'replay', 'plus-p'];
  for (const kind of PRODUCT_KINDS) {
    const layer = kind === 'grad-input' ? 1 + ((rng.nextI32() >>> 0) % (LINEAR_LAYERS - 1)) : (rng.nextI32() >>> 0) % LINEAR_LAYERS;
    const step = 1 + ((rng.nextI32() >>> 0) % 2);
    const strategy = lies[(rng.nextI32() >>> 0) % lies.length]!;
    test(`a lie (${strategy}) in Linear ${layer}'s ${kind} product at step ${step} is caught and changes no weight; recompute ends at the honest weights`, async () => {
      await assertLieCaught(H, data, { layer, kind, step, strategy }, honestHash);
    });
  }

  test('a run resumed from its checkpoint ends bit-identical to an uninterrupted one; other hyperparameters are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-vit-train-'));
    dirs.push(dir);
    await assert.rejects(
      train({ hyperparameters: H, data, checkpointDir: dir, checkpointEvery: 1, beforeStep: (s) => { if (s === 2) throw new Error('crash'); } }),
      /crash/,
    );
    const resumed = await train({ hyperparameters: H, data, checkpointDir: dir, resume: true });
    assert.equal(resumed.finalStateHash, await honestHash(H.steps!));
    assert.equal(resumed.timing.steps, 1);
    await assert.rejects(train({ hyperparameters: { ...H, architecture: 'fashion-mnist-cnn' }, data, checkpointDir: dir, resume: true }), { code: 'SLALOM_ERR_INVALID_ARG', message: /other hyperparameters/ });
  });

  test('the committed ViT starts a run; the result written as ONNX is the trainer\'s function and loads in slalom, whose baseline agrees with onnxruntime', async () => {
    const r = await train({ hyperparameters: { ...H, steps: 2 }, data, initialOnnx: COMMITTED });
    assert.equal(r.initialModel.source, 'onnx');
    assert.equal(r.initialModel.stateHash, stateHash(modelFromOnnx(COMMITTED, 'vit-fashion-mnist')));
    assert.notEqual(r.finalStateHash, r.initialModel.stateHash);
    const onnx = modelToOnnx(r.model);

    // Read back: the float32 rounding of the trained state.
    const f32 = (m: TrainableModel): number[] => m.params.flatMap((p) => Array.from(Float32Array.from(p.value)));
    assert.deepEqual(f32(modelFromOnnx(onnx, 'vit-fashion-mnist')), f32(r.model));
    assert.throws(() => modelFromOnnx(onnx, 'fashion-mnist-cnn'), { code: 'SLALOM_ERR_UNSUPPORTED', message: /not a fashion-mnist-cnn/ });

    const { x, count } = sampleImages();
    const session = await createReferenceSession(onnx);
    const reference = (await session.run([tensor([count, 1, 28, 28], x)])).get('logits')!.data;
    await session.close();
    // The trainer's forward on 16-bit operands (test/train/vit-forward.test.ts: 3e-4 on the committed weights).
    const trainer = (await r.model.net.forward({ dims: [count, 1, 28, 28], data: x }, floatContext(16))).data;
    reference.forEach((v, i) => assert.ok(Math.abs(trainer[i]! - v) < 1e-2, `logit ${i}: trainer ${trainer[i]} vs onnxruntime ${v}`));

    // slalom's importer and its quantized baseline (calibrated on the training images), item by item: measured within
    // 0.2 % of the logits' range of onnxruntime; 2 % allows for other rounding and is still a tenth of a typical margin.
    const calibration = Array.from({ length: data.count }, (_, i) => tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353)));
    const model = await SlalomModel.load(onnx, { calibration });
    assert.ok(model.graph.nodes.some((n) => n.op === 'ActivationMatMul'), 'attention recognised');
    assert.ok(model.quantized.layers.filter((l) => l.inDims[0] === 17).length >= 8, 'linear layers over 17 token rows');
    for (let i = 0; i < count; i++) {
      const logits = (await model.infer(tensor([1, 1, 28, 28], x.slice(i * 784, (i + 1) * 784)))).logits;
      const ref = reference.subarray(i * 10, (i + 1) * 10);
      assert.equal(argmax(logits), argmax(ref), `image ${i}: top-1`);
      const range = Math.max(...ref) - Math.min(...ref);
      logits.forEach((v, j) => assert.ok(Math.abs(v - ref[j]!) < 0.02 * range, `image ${i} logit ${j}: slalom ${v} vs onnxruntime ${ref[j]}`));
    }
  });
});
