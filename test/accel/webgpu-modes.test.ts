/**
 * Every mode through the `webgpu` accelerator is bit-identical to `baseline` (docs/design.md §5; issue 14):
 * the Fashion-MNIST model on real test images (the committed 3-image sample of its test split) and
 * ResNet-18 — at 64 × 64 instead of 224 × 224 so a software adapter runs it in seconds: the same 21
 * linear layers, strides, paddings and residual blocks, 148 M MACs.
 * One webgpu backend serves every mode of a model (each protocol gets a non-closing view of it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { AcceleratorBackend } from '../../src/accel/backend.js';
import { resolveBackend } from '../../src/accel/registry.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { MODES } from '../../src/runtime/modes.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';
import { withInputDims } from '../helpers/input-size.js';
import { unclosable } from '../helpers/shared-backend.js';
import { TEST_ADAPTER, webgpuSkipReason } from '../helpers/webgpu.js';
import { syntheticInput } from '../runtime/modes-helpers.js';

const skip = await webgpuSkipReason();

/** Logits of every input in every mode, the outsourcing modes on `gpu`. */
async function everyMode(model: SlalomModel, inputs: readonly Tensor[], gpu: AcceleratorBackend): Promise<Map<string, Float64Array>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-webgpu-modes-'));
  const pads = { store: join(dir, 'store'), stateDir: join(dir, 'state') };
  try {
    const kernels = await createExactKernels('ort');
    await precomputePads(model.quantized, model, TrustedState.open(pads.stateDir), new PadStore(pads.store), 2 * inputs.length, kernels);
    await kernels.close();
    const out = inputs.map(() => new Map<string, Float64Array>());
    for (const mode of MODES) {
      const protocol = await openProtocol(model, mode, { pads, ...(mode === 'baseline' ? {} : { accelerator: unclosable(gpu) }) });
      try {
        for (let i = 0; i < inputs.length; i++) out[i]!.set(mode, (await model.infer(inputs[i]!, { mode, protocol })).logits);
      } finally {
        await protocol.close?.();
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertAllEqual(logits: Map<string, Float64Array>, what: string): void {
  assert.equal(logits.size, MODES.length);
  const base = [...logits.get('baseline')!];
  for (const [mode, l] of logits) assert.deepEqual([...l], base, `${what}: mode ${mode} differs from baseline`);
}

describe(`every mode through the webgpu accelerator (${TEST_ADAPTER} adapter) equals baseline`, { skip }, () => {
  let gpu: AcceleratorBackend;
  before(async () => {
    gpu = (await resolveBackend([{ name: 'webgpu', options: { adapter: TEST_ADAPTER } }])).backend;
  });
  after(async () => {
    await gpu?.close();
  });

  it('Fashion-MNIST, on test images', async () => {
    const model = await SlalomModel.load('models/fashion-mnist.onnx');
    const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
    const inputs = Array.from({ length: data.count }, (_, i) => tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353)));
    assert.equal(inputs.length, 3);
    const results = await everyMode(model, inputs, gpu);
    results.forEach((r, i) => assertAllEqual(r, `image ${i}`));
  });

  it('ResNet-18 at 64 × 64', async () => {
    const model = await SlalomModel.load(withInputDims(buildZooModel('resnet18', { seed: 1 }), [1, 3, 64, 64]));
    assert.equal(model.quantized.layers.length, 21);
    const [logits] = await everyMode(model, [syntheticInput(model.inputDims)], gpu);
    assertAllEqual(logits!, 'resnet18');
  });
});
