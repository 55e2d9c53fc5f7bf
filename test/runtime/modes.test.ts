/**
 * Every mode gives bit-identical logits to baseline (docs/design.md §5): the Fashion-MNIST model on real
 * test images, and the small zoo models on a synthetic input. The large zoo models run in
 * modes.slow.ts (`npm run test:slow`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax } from '../../src/api/predictions.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { fusionPlan } from '../../src/runtime/boundary-plan.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { tensor } from '../../src/tensor/tensor.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { FASHION_MNIST_SAMPLE_DIR, SKIP_WITHOUT_FASHION_MNIST } from '../helpers/data.js';
import { logitsInEveryMode, syntheticInput } from './modes-helpers.js';

function assertAllEqual(logits: Map<string, Float64Array>): void {
  const base = logits.get('baseline')!;
  for (const [mode, l] of logits) assert.deepEqual(Array.from(l), Array.from(base), `mode ${mode} differs from baseline`);
}

test('Fashion-MNIST: every mode is bit-identical to baseline on real test images', async () => {
  const model = await SlalomModel.load('models/fashion-mnist.onnx');
  const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
  for (let i = 0; i < data.count; i++) {
    const pixels = data.images.subarray(i * 784, (i + 1) * 784);
    const x = tensor([1, 1, 28, 28], Float64Array.from(pixels, (v) => (v / 255 - 0.286) / 0.353));
    const logits = await logitsInEveryMode(model, x);
    assertAllEqual(logits);
    assert.equal(logits.size, 7, 'five modes, the private two also with the memory pool');
  }
});

test('Fashion-MNIST: baseline agrees with onnxruntime fp32 on ≥ 99.5 % of 500 test images', { skip: SKIP_WITHOUT_FASHION_MNIST }, async () => {
  const model = await SlalomModel.load('models/fashion-mnist.onnx');
  const session = await createReferenceSession(model.onnxBytes);
  const data = loadFashionMnist('test', { limit: 500 });
  let agree = 0;
  for (let i = 0; i < data.count; i++) {
    const x = tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353));
    const ref = (await session.run([x])).get('logits')!.data;
    if (argmax(ref) === argmax((await model.infer(x)).logits)) agree++;
  }
  await session.close();
  assert.ok(agree / data.count >= 0.995, `top-1 agreement ${agree}/${data.count}`);
});

// resnet18 (and every other zoo classifier) in every mode: modes.slow.ts.
for (const name of ['mobilenet-v2'] as const) {
  test(`${name}: every mode is bit-identical to baseline`, async () => {
    const model = await SlalomModel.load(buildZooModel(name, { seed: 1 }));
    assertAllEqual(await logitsInEveryMode(model, syntheticInput(model.inputDims)));
  });
}

for (const name of ['resnet18', 'mobilenet-v2'] as const) {
  test(`${name}: fused passes (ReLU/ReLU6 in requantization, a linear layer quantizing straight into the next) give the same logits as separate ones`, async () => {
    const model = await SlalomModel.load(buildZooModel(name, { seed: 1 }));
    const x = syntheticInput(model.inputDims, 11);
    const fused = (await model.infer(x)).logits;
    // An observer turns fusion off, so every pre-activation value can be seen.
    let seen = 0;
    const separate = (await model.infer(x, { fuse: false, onValue: () => seen++ })).logits;
    assert.ok(seen > 0, 'the observer saw the values');
    assert.deepEqual(Array.from(fused), Array.from(separate));
  });
}

test('Fashion-MNIST: fused passes (ReLU, then the 2×2 max pool, in requantization; quantizing straight into conv2; the residual Add and its ReLU) give the same logits as separate ones', { skip: SKIP_WITHOUT_FASHION_MNIST }, async () => {
  const model = await SlalomModel.load('models/fashion-mnist.onnx');
  const plan = fusionPlan(model.quantized);
  assert.deepEqual([...plan.poolAfter], ['/conv1/Conv'], 'conv1 → Relu → MaxPool is fused (MaxPool_1 follows an Add, not a linear layer)');
  assert.equal(plan.feeds.get('/conv1/Conv')?.name, '/conv2/Conv');
  assert.ok(plan.passThrough.has('/MaxPool') && plan.passThrough.has('/Relu'));
  assert.deepEqual(plan.addAfter.get('/res/conv2/Conv'), { other: '/Relu_1_output_0', relu: true }, 'the residual Add and its ReLU are fused into res/conv2');
  const data = loadFashionMnist('test', { limit: 20 });
  for (let i = 0; i < data.count; i++) {
    const x = tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353));
    const fused = (await model.infer(x)).logits;
    const separate = (await model.infer(x, { fuse: false })).logits;
    assert.deepEqual(Array.from(fused), Array.from(separate), `image ${i}`);
  }
});
