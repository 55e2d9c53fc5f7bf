/**
 * The VGG-style trainable (vgg-fashion-mnist, train/vgg.ts): verified on the accelerator and baseline
 * in the trusted runtime end bit-identical, the accelerator is asked for the stated multiply-accumulates,
 * and the trained model, written as ONNX, starts another run with the same state and loads in `slalom infer`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalBackend } from '../../src/accel/local.js';
import { writeNpy } from '../../src/io/npy.js';
import type { TrainableModel } from '../../src/train/model.js';
import { modelFromOnnx, modelToOnnx } from '../../src/train/model.js';
import { train, type Hyperparameters } from '../../src/train/trainer.js';
import { VGG_LINEAR_VALUES_PER_IMAGE, VGG_MACS_PER_IMAGE } from '../../src/train/vgg.js';
import { tinyImages } from '../helpers/training-data.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'slalom-vgg-'));
after(() => rmSync(work, { recursive: true, force: true }));
const data = tinyImages(4);
const H: Hyperparameters = { architecture: 'vgg-fashion-mnist', epochs: 1, batch: 2, steps: 1, optimizer: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0, bits: { activation: 8, weight: 8, gradient: 8 }, repetitions: 2, seed: 3 };

describe('vgg-fashion-mnist', () => {
  test('verified and baseline end bit-identical; the products are the stated multiply-accumulates; the ONNX reloads and runs in slalom infer', async () => {
    const verified = await train({ hyperparameters: H, data, backend: new LocalBackend() });
    const baseline = await train({ hyperparameters: H, data });
    assert.equal(verified.finalStateHash, baseline.finalStateHash);
    assert.equal(verified.counters.products, 17); // 6 forward, 6 weight gradients, 5 input gradients (not conv1's)
    // Per image: three products per layer, less conv1's input gradient (28·28 positions · 32 channels · 9 taps).
    assert.equal(verified.timing.macs / (H.steps! * H.batch), 3 * VGG_MACS_PER_IMAGE - 28 * 28 * 32 * 9);
    assert.ok(VGG_MACS_PER_IMAGE / VGG_LINEAR_VALUES_PER_IMAGE >= 500);

    const onnx = modelToOnnx(verified.model);
    const f32 = (m: TrainableModel): number[] => [...m.params, ...m.batchNorms.flatMap((b) => [{ value: b.runningMean }, { value: b.runningVar }])].flatMap((p) => Array.from(Float32Array.from(p.value)));
    assert.deepEqual(f32(modelFromOnnx(onnx, 'vgg-fashion-mnist')), f32(verified.model));
    const model = join(work, 'vgg.onnx');
    const image = join(work, 'item.npy');
    writeFileSync(model, onnx);
    writeFileSync(image, writeNpy({ dims: [1, 1, 28, 28], data: new Float64Array(784).fill(0.5) }));
    const infer = spawnSync(process.execPath, [join(ROOT, 'bin/slalom.js'), 'infer', '--model', model, '--input', image, '--mode', 'verified', '--accelerator', 'local', '--json'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(infer.status, 0, infer.stderr);
    const out = JSON.parse(infer.stdout);
    assert.equal(out.verified, true);
    assert.deepEqual(out.outputs[0].dims, [1, 10]);
  });
});
