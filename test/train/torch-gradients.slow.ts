/**
 * The ViT trainer's gradients are PyTorch's (slow: it starts python3 with torch): a seeded model
 * (rounded to float32, as the ONNX both sides read holds it) and the first 8 Fashion-MNIST training
 * images; the loss and every parameter's gradient of one trainer step on 16-bit operands, products
 * taken exactly (test/helpers/float-products.ts), against torch's float64 autograd of the module
 * scripts/train_vit_fashion_mnist.py defines (scripts/train_reference.py --gradients). Per-tensor
 * 16-bit rounding of activations, weights and (stochastically) gradients: measured within 3.5e-4 of
 * each tensor's largest gradient; the tolerance is 3e-3 of it, where a wrong backward (a missing term,
 * a transposed product) is off by its own size. (The CNN, whose ReLUs and max pools turn on the
 * rounding, differs by up to 2 % at 16 bits and is not compared here.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadFashionMnist } from '../../src/io/idx.js';
import { softmaxCrossEntropy } from '../../src/train/layers.js';
import { modelFromOnnx, modelToOnnx, seededModel } from '../../src/train/model.js';
import { SeededStream } from '../../src/train/stream.js';
import { SKIP_WITHOUT_FASHION_MNIST } from '../helpers/data.js';
import { floatContext } from '../helpers/float-products.js';

const work = mkdtempSync(join(tmpdir(), 'slalom-torch-gradients-'));
after(() => rmSync(work, { recursive: true, force: true }));
const NORMALIZE = { mean: 0.286, std: 0.353 };
const BATCH = 8;

const arch = 'vit-fashion-mnist';
test(`${arch}: the trainer's loss and gradients are torch's`, { skip: SKIP_WITHOUT_FASHION_MNIST }, async () => {
  const onnx = modelToOnnx(seededModel(arch, new SeededStream(SeededStream.keyOfSeed(2))));
  const model = modelFromOnnx(onnx, arch);
  writeFileSync(join(work, `${arch}.onnx`), onnx);
  const batch = Array.from({ length: BATCH }, (_, i) => i);
  writeFileSync(join(work, `${arch}.json`), JSON.stringify({ hyperparameters: { architecture: arch }, normalize: NORMALIZE, batches: [batch] }));
  const run = spawnSync('/usr/bin/python3', ['scripts/train_reference.py', '--init', join(work, `${arch}.onnx`), '--plan', join(work, `${arch}.json`), '--gradients'], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const torch = JSON.parse(run.stdout) as { loss: number; gradients: Record<string, number[]> };

  const data = loadFashionMnist('train', { limit: BATCH });
  const x = Float64Array.from(data.images, (v) => (v / 255 - NORMALIZE.mean) / NORMALIZE.std);
  const ctx = floatContext(16);
  const logits = await model.net.forward({ dims: [BATCH, ...model.inputDims], data: x }, ctx);
  const { loss, grad } = softmaxCrossEntropy(logits, data.labels);
  await model.net.backward(grad, ctx);
  assert.ok(Math.abs(loss - torch.loss) < 1e-3, `loss ${loss} vs torch ${torch.loss}`);
  for (const p of model.params) {
    const want = torch.gradients[p.name];
    assert.ok(want !== undefined && want.length === p.grad.length, `torch has ${p.name}`);
    const scale = Math.max(...want.map(Math.abs));
    const worst = Math.max(...Array.from(p.grad, (g, i) => Math.abs(g - want[i]!)));
    assert.ok(worst <= 3e-3 * scale + 1e-9, `${p.name}: largest difference ${worst} against largest gradient ${scale}`);
  }
});
