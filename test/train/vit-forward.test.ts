/**
 * The trainable ViT computes the committed ViT's function: its forward pass on models/vit-fashion-mnist.onnx's
 * weights (read as train/vit.ts reads them: named initializers, MatMul weights by their node's module path)
 * agrees with onnxruntime running that file on real Fashion-MNIST test images.
 *
 * The forward runs on 16-bit operands with each integer product taken exactly in float64 (a stand-in for
 * the accelerator, which at 16 bits would need chunks of one term): per-tensor rounding to 16 bits moves
 * each operand by at most 2^−16 of its tensor's range, and onnxruntime computes in float32. On these
 * three images the logits (magnitude up to ~10) differ by 3.3e-4 at most; the tolerance, 1e-2, leaves
 * room for the rounding to fall otherwise and stays three orders below the logits' scale.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadFashionMnist } from '../../src/io/idx.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { tensor } from '../../src/tensor/tensor.js';
import { modelFromOnnx } from '../../src/train/model.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';
import { floatContext } from '../helpers/float-products.js';

test('the trainable ViT on the committed weights agrees with onnxruntime on real test images', async () => {
  const onnx = readFileSync(new URL('../../models/vit-fashion-mnist.onnx', import.meta.url));
  const model = modelFromOnnx(onnx, 'vit-fashion-mnist');
  assert.equal(model.params.reduce((n, p) => n + p.value.length, 0), 72_074, 'every parameter of the committed ViT');
  const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
  const x = Float64Array.from(data.images.subarray(0, data.count * 784), (v) => (v / 255 - 0.286) / 0.353);
  const logits = await model.net.forward({ dims: [data.count, 1, 28, 28], data: x }, floatContext(16));
  const session = await createReferenceSession(onnx);
  const reference = (await session.run([tensor([data.count, 1, 28, 28], x)])).get('logits')!.data;
  await session.close();
  let worst = 0;
  for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(logits.data[i]! - reference[i]!));
  assert.ok(worst < 1e-2, `largest logit difference ${worst}`);
});
