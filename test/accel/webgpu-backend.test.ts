/**
 * The `webgpu` accelerator backend as the trusted runtime gets it (accel/registry.ts → a worker
 * thread owning the GPU device → the WGSL kernels): the backend conformance suite the other
 * embedded backends pass; the adapter policy (a hardware GPU or a clear refusal; the software adapter
 * only when asked, and named as such); waiting requests merged into one batch; a layer past the limb
 * bound refused through the worker; and a lying GPU caught — every tampering strategy of
 * test/accel/cheating.ts on every layer of a model with each linear layer type, and a GPU computing
 * with weights other than the model's (a wrong kernel, not a wrong reply) — by Freivalds' check.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from '../../src/accel/backend.js';
import { resolveBackend } from '../../src/accel/registry.js';
import { MAX_FOLDED_WEIGHT } from '../../src/accel/webgpu/limbs.js';
import { revealForValidation } from '../../src/boundary/untrusted.js';
import { IntegrityError, InvalidArgumentError, MalformedResponseError, TransportError } from '../../src/errors.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { unclosable } from '../helpers/shared-backend.js';
import { TEST_ADAPTER, webgpuSkipReason } from '../helpers/webgpu.js';
import { CheatingBackend, STRATEGIES } from './cheating.js';
import { backendConformance } from './conformance.js';

const skip = await webgpuSkipReason();
const webgpu = async (): Promise<AcceleratorBackend> => (await resolveBackend([{ name: 'webgpu', options: { adapter: TEST_ADAPTER } }])).backend;

backendConformance(`webgpu (${TEST_ADAPTER} adapter)`, webgpu, { skip });

describe('the webgpu backend', { skip }, () => {
  let gpu: AcceleratorBackend;
  before(async () => {
    gpu = await webgpu();
  });
  after(async () => {
    await gpu?.close();
  });

  it('names its adapter, and a software adapter as one; `gpu` refuses a machine that has only that', async () => {
    assert.equal(gpu.name, 'webgpu');
    assert.ok(gpu.device !== undefined && gpu.device.length > 0, 'the adapter is named');
    if (!/software adapter/.test(gpu.device!)) return; // a real GPU: nothing to refuse
    await assert.rejects(resolveBackend([{ name: 'webgpu', options: { adapter: 'gpu' } }]), (e: unknown) => e instanceof TransportError && /no GPU adapter/.test(e.message) && /webgpu:auto/.test(e.message));
  });

  it('takes its default policy from SLALOM_WEBGPU_ADAPTER, and refuses a wrong value', async () => {
    const saved = process.env.SLALOM_WEBGPU_ADAPTER;
    try {
      process.env.SLALOM_WEBGPU_ADAPTER = 'fastest';
      await assert.rejects(resolveBackend([{ name: 'webgpu', options: {} }]), (e: unknown) => e instanceof InvalidArgumentError && /SLALOM_WEBGPU_ADAPTER/.test(e.message));
      process.env.SLALOM_WEBGPU_ADAPTER = TEST_ADAPTER;
      const b = (await resolveBackend([{ name: 'webgpu', options: {} }])).backend;
      try {
        assert.equal(b.device, gpu.device, 'the same adapter as named explicitly');
      } finally {
        await b.close();
      }
    } finally {
      if (saved === undefined) delete process.env.SLALOM_WEBGPU_ADAPTER;
      else process.env.SLALOM_WEBGPU_ADAPTER = saved;
    }
  });

  it('merges requests that wait for the same layer into one batch and answers each', async () => {
    const layer: PublicLayer = { id: 40, name: 'batched', op: 'Gemm', wDims: [3, 2], w: tensor([3, 2], [1, 2, 3, 4, 5, -6]) };
    await gpu.loadWeights([layer]);
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => gpu.linear({ requestId: `r${1000 + i}`, layerId: 40, dims: [1, 3], x: new Uint32Array([i, 1, 1]) })));
    const raw = replies.map((r) => revealForValidation(r) as LinearReply);
    raw.forEach((r, i) => {
      assert.equal(r.requestId, `r${1000 + i}`);
      assert.deepEqual([...r.data], [i + 8, (2 * i - 2 + 16_777_213) % 16_777_213]);
    });
    // The first runs alone; the seven that queued behind it run as one batch (one compute time).
    assert.ok(new Set(raw.slice(1).map((r) => r.computeMs)).size < 7, 'waiting requests were batched');
  });

  it('refuses, through the worker and naming it, a layer past the limb bound', async () => {
    const over: PublicLayer = { id: 41, name: 'past_the_limbs', op: 'Gemm', wDims: [16, 1], w: tensor([16, 1], new Float64Array(16).fill(MAX_FOLDED_WEIGHT + 1)) };
    await assert.rejects(gpu.loadWeights([over]), (e: unknown) => e instanceof TransportError && e.message.includes('past_the_limbs') && /WebGPU kernels/.test(e.message));
  });
});

/** conv 3→8 stride 2 → depthwise → pointwise → grouped (2) → GAP → Gemm 8→6, batch 2. */
function everyLayerModel(): Uint8Array {
  const rng = new Rng(7);
  const normal = (n: number, std: number): Float32Array => rng.fillNormal(new Float32Array(n), std);
  const b = new OnnxBuilder('webgpu_every_layer').input('x', ['batch', 3, 10, 10]);
  const convs: [string, number[], Record<string, number[] | number>][] = [
    ['stem', [8, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['dw', [8, 1, 3, 3], { group: 8, pads: [1, 1, 1, 1] }],
    ['pw', [8, 8, 1, 1], {}],
    ['grouped', [8, 4, 3, 3], { group: 2, pads: [1, 1, 1, 1] }],
  ];
  let prev = 'x';
  for (const [name, dims, attrs] of convs) {
    const fan = dims.slice(1).reduce((s, d) => s * d, 1);
    b.initializer(`${name}.w`, dims, normal(dims.reduce((s, d) => s * d, 1), Math.sqrt(2 / fan))).initializer(`${name}.b`, [dims[0]!], normal(dims[0]!, 0.1));
    b.node('Conv', [prev, `${name}.w`, `${name}.b`], [`${name}.y`], attrs, name).node('Relu', [`${name}.y`], [`${name}.r`], {}, `${name}_relu`);
    prev = `${name}.r`;
  }
  return b
    .initializer('fc.w', [6, 8], normal(48, 0.5))
    .initializer('fc.b', [6], normal(6, 0.1))
    .node('GlobalAveragePool', [prev], ['gap'], {}, 'gap')
    .node('Flatten', ['gap'], ['flat'], {}, 'flatten')
    .node('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc')
    .output('logits', ['batch', 6])
    .toBytes();
}

/** An accelerator that registers other weights than the model's on the GPU: its kernels compute a wrong layer honestly. */
function wrongWeights(inner: AcceleratorBackend, target: number): AcceleratorBackend {
  return {
    name: `wrong-weights over ${inner.name}`,
    loadWeights: (layers) =>
      inner.loadWeights(
        layers.map((l) => {
          if (l.id !== target) return l;
          const data = l.w.data.slice();
          data[0] = data[0]! + 1;
          return { ...l, wDims: l.w.dims, w: { dims: l.w.dims, data } };
        }),
      ),
    linear: (r: LinearRequest) => inner.linear(r),
    close: () => inner.close(),
  };
}

describe('a lying GPU is caught (verified, policy abort)', { skip }, () => {
  const dims = [2, 3, 10, 10];
  let model: SlalomModel;
  let x: Tensor;
  let baseline: Float64Array;
  let gpu: AcceleratorBackend;
  before(async () => {
    const rng = new Rng(8);
    const input = (): Tensor => tensor(dims, Float64Array.from(rng.fillNormal(new Float32Array(600), 1)));
    model = await SlalomModel.load(everyLayerModel(), { inputDims: dims, calibration: [input(), input(), input(), input()] });
    x = input();
    baseline = (await model.infer(x)).logits;
    gpu = await webgpu();
  });
  after(async () => {
    await gpu?.close();
  });

  it('honest, it matches the baseline bit for bit', async () => {
    const protocol = await openProtocol(model, 'verified', { accelerator: unclosable(gpu) });
    try {
      assert.deepEqual([...(await model.infer(x, { mode: 'verified', protocol })).logits], [...baseline]);
    } finally {
      await protocol.close?.();
    }
  });

  it('every tampering strategy, on every layer, is refused and names the layer', async () => {
    let detected = 0;
    for (const info of STRATEGIES) {
      for (const layer of model.quantized.layers) {
        const cheat = new CheatingBackend(unclosable(gpu), info.name, { layers: [layer.index], seed: 3 + layer.index });
        const protocol = await openProtocol(model, 'verified', { accelerator: cheat });
        try {
          await assert.rejects(model.infer(x, { mode: 'verified', protocol }), (e: unknown) => {
            assert.ok(e instanceof (info.kind === 'wrong-value' ? IntegrityError : MalformedResponseError), `${info.name} on ${layer.name}: ${String(e)}`);
            assert.equal((e as IntegrityError).layer, layer.name);
            return true;
          });
          assert.deepEqual(cheat.skipped, [], `${info.name} applies to ${layer.name}`);
          detected++;
        } finally {
          await protocol.close?.();
        }
      }
    }
    assert.equal(detected, STRATEGIES.length * model.quantized.layers.length);
  });

  it('a GPU computing with one weight off by one is refused with IntegrityError, on every layer', async () => {
    for (const layer of model.quantized.layers) {
      const protocol = await openProtocol(model, 'verified', { accelerator: wrongWeights(unclosable(gpu), layer.index) });
      try {
        await assert.rejects(model.infer(x, { mode: 'verified', protocol }), (e: unknown) => e instanceof IntegrityError && e.layer === layer.name);
      } finally {
        await protocol.close?.();
      }
    }
  });
});
