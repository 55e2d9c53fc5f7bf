/**
 * The committed ViT (models/vit-fashion-mnist.onnx, scripts/train_vit_fashion_mnist.py): every mode
 * (the private ones also with the memory pool) is bit-identical to baseline on real test images, and
 * baseline agrees with onnxruntime fp32 on the top-1 of ≥ 99.5 % of 300 test images. The full
 * 10 000-image fidelity is `slalom compare --model models/vit-fashion-mnist.onnx --inputs fashion-mnist:test`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax } from '../../src/api/predictions.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { tensor } from '../../src/tensor/tensor.js';
import { FASHION_MNIST_SAMPLE_DIR, SKIP_WITHOUT_FASHION_MNIST } from '../helpers/data.js';
import { logitsInEveryMode } from './modes-helpers.js';

const MODEL = 'models/vit-fashion-mnist.onnx';
const image = (pixels: Uint8Array): ReturnType<typeof tensor> => tensor([1, 1, 28, 28], Float64Array.from(pixels, (v) => (v / 255 - 0.286) / 0.353));

test('ViT Fashion-MNIST: every mode is bit-identical to baseline on real test images', async () => {
  const model = await SlalomModel.load(MODEL);
  assert.ok(model.graph.nodes.some((n) => n.op === 'ActivationMatMul'), 'attention runs in the trusted runtime');
  assert.ok(model.quantized.layers.filter((l) => l.inDims[0] === 17).length >= 8, 'linear layers over 17 token rows');
  const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
  for (let i = 0; i < Math.min(data.count, 2); i++) {
    const logits = await logitsInEveryMode(model, image(data.images.subarray(i * 784, (i + 1) * 784)));
    assert.equal(logits.size, 7);
    const base = Array.from(logits.get('baseline')!);
    for (const [mode, l] of logits) assert.deepEqual(Array.from(l), base, `mode ${mode} differs from baseline`);
  }
});

test('ViT Fashion-MNIST: baseline agrees with onnxruntime fp32 on ≥ 99.5 % of 300 test images', { skip: SKIP_WITHOUT_FASHION_MNIST }, async () => {
  const model = await SlalomModel.load(MODEL);
  const session = await createReferenceSession(model.onnxBytes);
  const data = loadFashionMnist('test', { limit: 300 });
  let agree = 0;
  for (let i = 0; i < data.count; i++) {
    const x = image(data.images.subarray(i * 784, (i + 1) * 784));
    const ref = (await session.run([x])).get('logits')!.data;
    if (argmax(ref) === argmax((await model.infer(x)).logits)) agree++;
  }
  await session.close();
  assert.ok(agree / data.count >= 0.995, `top-1 agreement ${agree}/${data.count}`);
});
