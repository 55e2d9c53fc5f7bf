/**
 * Every mode through the `webgpu` accelerator is bit-identical to `baseline` (docs/design.md §5; issue 14):
 * the Fashion-MNIST model on real test images (the committed 3-image sample of its test split) and
 * ResNet-18 — at 64 × 64 instead of 224 × 224 so a software adapter runs it in seconds: the same 21
 * linear layers, strides, paddings and residual blocks, 148 M MACs.
 * Each exact scheme of the tiled kernels is forced in turn (packed dot products, 12-bit limbs;
 * kernel-path.ts), one webgpu backend per scheme serving every mode (each protocol gets a
 * non-closing view of it); baseline runs once.
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
import { WEBGPU_KERNEL_PATHS, type WebGpuKernelPath } from '../../src/accel/webgpu/kernel-path.js';
import { MODES, type Mode } from '../../src/runtime/modes.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';
import { withInputDims } from '../helpers/input-size.js';
import { unclosable } from '../helpers/shared-backend.js';
import { TEST_ADAPTER, webgpuSkipReason } from '../helpers/webgpu.js';
import { syntheticInput } from '../runtime/modes-helpers.js';

const skip = await webgpuSkipReason();

/** Logits of every input: 'baseline', and every outsourcing mode on each backend ("<mode> on <path>"). */
async function everyMode(model: SlalomModel, inputs: readonly Tensor[], gpus: ReadonlyMap<WebGpuKernelPath, AcceleratorBackend>): Promise<Map<string, Float64Array>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-webgpu-modes-'));
  const pads = { store: join(dir, 'store'), stateDir: join(dir, 'state') };
  try {
    const kernels = await createExactKernels('ort');
    await precomputePads(model.quantized, model, TrustedState.open(pads.stateDir), new PadStore(pads.store), 2 * gpus.size * inputs.length, kernels);
    await kernels.close();
    const out = inputs.map(() => new Map<string, Float64Array>());
    const runs = MODES.flatMap<{ mode: Mode; label: string; gpu?: AcceleratorBackend }>((mode) => (mode === 'baseline' ? [{ mode, label: mode }] : [...gpus].map(([path, gpu]) => ({ mode, label: `${mode} on ${path}`, gpu }))));
    for (const { mode, label, gpu } of runs) {
      const protocol = await openProtocol(model, mode, { pads, ...(gpu === undefined ? {} : { accelerator: unclosable(gpu) }) });
      try {
        for (let i = 0; i < inputs.length; i++) out[i]!.set(label, (await model.infer(inputs[i]!, { mode, protocol })).logits);
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
  assert.equal(logits.size, 1 + (MODES.length - 1) * WEBGPU_KERNEL_PATHS.length);
  const base = [...logits.get('baseline')!];
  for (const [run, l] of logits) assert.deepEqual([...l], base, `${what}: ${run} differs from baseline`);
}

describe(`every mode through the webgpu accelerator (${TEST_ADAPTER} adapter) equals baseline`, { skip }, () => {
  const gpus = new Map<WebGpuKernelPath, AcceleratorBackend>();
  before(async () => {
    for (const kernel of WEBGPU_KERNEL_PATHS) {
      const gpu = (await resolveBackend([{ name: 'webgpu', options: { adapter: TEST_ADAPTER, kernel } }])).backend;
      gpus.set(kernel, gpu);
      assert.match(gpu.device ?? '', kernel === 'dot4' ? /packed 4×8-bit dot products/ : /12-bit limbs on i32/, 'the device string names the forced scheme');
    }
  });
  after(async () => {
    for (const gpu of gpus.values()) await gpu.close();
  });

  it('Fashion-MNIST, on test images', async () => {
    const model = await SlalomModel.load('models/fashion-mnist.onnx');
    const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
    const inputs = Array.from({ length: data.count }, (_, i) => tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353)));
    assert.equal(inputs.length, 3);
    const results = await everyMode(model, inputs, gpus);
    results.forEach((r, i) => assertAllEqual(r, `image ${i}`));
  });

  it('ResNet-18 at 64 × 64', async () => {
    const model = await SlalomModel.load(withInputDims(buildZooModel('resnet18', { seed: 1 }), [1, 3, 64, 64]));
    assert.equal(model.quantized.layers.length, 21);
    const [logits] = await everyMode(model, [syntheticInput(model.inputDims)], gpus);
    assertAllEqual(logits!, 'resnet18');
  });
});
