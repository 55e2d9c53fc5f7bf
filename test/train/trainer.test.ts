/**
 * train/trainer.ts: a verified run ends bit-identical to the same run computed entirely in the
 * trusted runtime; a lying accelerator at a random step, in the forward product or either backward
 * product, is caught and leaves the weights as they were; `recompute` ends at the honest weights;
 * a run resumed from a checkpoint ends bit-identical to an uninterrupted one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LocalBackend } from '../../src/accel/local.js';
import type { TrainableModel } from '../../src/train/model.js';
import { modelFromOnnx, modelToOnnx } from '../../src/train/model.js';
import { PRODUCT_KINDS } from '../../src/train/products.js';
import { stateHash, train, type Hyperparameters } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/seeded-rng.js';
import type { Strategy } from '../accel/cheating.js';
import { assertLieCaught } from '../helpers/training-lies.js';
import { tinyImages } from '../helpers/training-data.js';

const data = tinyImages(12);
const H: Hyperparameters = { architecture: 'fashion-mnist-cnn', epochs: 2, batch: 4, steps: 4, optimizer: 'sgd', lr: 0.02, momentum: 0.9, weightDecay: 1e-4, bits: { activation: 8, weight: 8, gradient: 8 }, repetitions: 2, seed: 9 };
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'slalom-train-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Final state hash after `steps` honest steps (cached). */
const honest = new Map<number, string>();
async function honestHash(steps: number): Promise<string> {
  if (!honest.has(steps)) honest.set(steps, (await train({ hyperparameters: { ...H, steps }, data })).finalStateHash);
  return honest.get(steps)!;
}

describe('verified training', () => {
  test('verified on the accelerator and baseline in the trusted runtime end bit-identical; the loss falls', async () => {
    const losses: number[] = [];
    const fixedBatch = { ...H, steps: 4, epochs: 4, batch: 12 };
    const verified = await train({ hyperparameters: fixedBatch, data, backend: new LocalBackend(), onStep: (r) => losses.push(r.loss) });
    const baseline = await train({ hyperparameters: fixedBatch, data });
    assert.equal(verified.finalStateHash, baseline.finalStateHash);
    assert.equal(verified.verified, true);
    assert.ok(verified.counters.worstStepSoundnessLog2! < -40, `soundness per step ${verified.counters.worstStepSoundnessLog2}`);
    assert.equal(verified.counters.products, 4 * 14); // 5 forward, 5 weight gradients, 4 input gradients (not conv1's)
    assert.ok(losses[3]! < losses[0]!, `loss ${losses.join(', ')}`);
  });

  test('Adam and SGD differ, and Adam is reproducible', async () => {
    const adam = { ...H, optimizer: 'adam' as const, lr: 1e-3, steps: 2 };
    const a = await train({ hyperparameters: adam, data });
    const b = await train({ hyperparameters: adam, data });
    assert.equal(a.finalStateHash, b.finalStateHash);
    assert.notEqual(a.finalStateHash, await honestHash(2));
  });

  const rng = new Rng(Date.now() >>> 0);
  const lies: readonly Strategy[] = ['off-by-one', 'scale-by-2', 'replay', 'plus-p'];
  for (const kind of PRODUCT_KINDS) {
    const layer = kind === 'grad-input' ? 1 + ((rng.nextI32() >>> 0) % 4) : (rng.nextI32() >>> 0) % 5;
    const step = 1 + ((rng.nextI32() >>> 0) % 3);
    const strategy = lies[(rng.nextI32() >>> 0) % lies.length]!;
    test(`a lie (${strategy}) in layer ${layer}'s ${kind} product at step ${step} is caught and changes no weight; recompute ends at the honest weights`, async () => {
      await assertLieCaught(H, data, { layer, kind, step, strategy }, honestHash);
    });
  }

  test('a run resumed from its checkpoint ends bit-identical to an uninterrupted one', async () => {
    const dir = tempDir();
    await assert.rejects(
      train({ hyperparameters: H, data, checkpointDir: dir, checkpointEvery: 1, beforeStep: (s) => { if (s === 3) throw new Error('crash'); } }),
      /crash/,
    );
    const resumed = await train({ hyperparameters: H, data, checkpointDir: dir, resume: true });
    assert.equal(resumed.finalStateHash, await honestHash(H.steps!));
    assert.equal(resumed.timing.steps, 1);
    await assert.rejects(train({ hyperparameters: { ...H, lr: 0.03 }, data, checkpointDir: dir, resume: true }), { code: 'SLALOM_ERR_INVALID_ARG', message: /other hyperparameters/ });
  });

  test('the committed Fashion-MNIST model starts a run: its own weights and running statistics', async () => {
    const onnx = readFileSync(new URL('../../models/fashion-mnist.onnx', import.meta.url));
    const model = modelFromOnnx(onnx);
    const conv1 = model.params.find((p) => p.name === 'conv1.weight')!;
    assert.deepEqual(conv1.dims, [16, 1, 3, 3]);
    assert.ok(model.batchNorms[0]!.runningVar.some((v) => v !== 1), 'running statistics loaded');
    const r = await train({ hyperparameters: { ...H, steps: 1 }, data, initialOnnx: onnx });
    assert.equal(r.initialModel.source, 'onnx');
    assert.equal(r.initialModel.stateHash, stateHash(model));
    assert.notEqual(r.finalStateHash, r.initialModel.stateHash);
  });

  test('a model written as ONNX starts a run with the same state', async () => {
    const r = await train({ hyperparameters: { ...H, steps: 1 }, data });
    const reloaded = modelFromOnnx(modelToOnnx(r.model));
    // ONNX holds float32: the reloaded state is the float32 rounding of the trained one.
    const f32 = (m: TrainableModel): number[] => m.params.flatMap((p) => Array.from(Float32Array.from(p.value)));
    assert.deepEqual(f32(reloaded), f32(r.model));
    await assert.rejects(async () => modelFromOnnx(new Uint8Array(3)));
  });
});
