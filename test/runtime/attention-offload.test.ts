/**
 * `attention: 'accelerator'` (runtime/attention-offload.ts): on the committed ViT, outsourced and
 * verified give the same bits, top-1 agrees with attention in the trusted runtime, every products'
 * check catches a lying accelerator (abort: no result; recompute: the same bits, the incident
 * recorded), the execution log names each product, and the private modes refuse it (the CLI with
 * exit 2 and one line, before any model loads).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AcceleratorBackend, LinearRequest, PublicLayer } from '../../src/accel/backend.js';
import { LocalBackend } from '../../src/accel/local.js';
import { argmax } from '../../src/api/predictions.js';
import { main } from '../../src/cli/main.js';
import { hasErrorCode } from '../../src/errors.js';
import { HALF_P } from '../../src/field/prime.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { matmul } from '../../src/kernels/float/matmul.js';
import { ACTIVATION_LAYER_BASE, ActivationProducts, levelsFor, MIN_LEVELS } from '../../src/runtime/attention-offload.js';
import { ExecutionLog } from '../../src/runtime/execution.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { TrustedServer } from '../../src/serve/server.js';
import type { Mode } from '../../src/runtime/modes.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { CheatingBackend, STRATEGIES } from '../accel/cheating.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';

const MODEL = 'models/vit-fashion-mnist.onnx';
const IMAGES = 6;
const image = (pixels: Uint8Array): ReturnType<typeof tensor> => tensor([1, 1, 28, 28], Float64Array.from(pixels, (v) => (v / 255 - 0.286) / 0.353));
const model = await SlalomModel.load(MODEL);
const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
const inputs = Array.from({ length: Math.min(IMAGES, data.count) }, (_, i) => image(data.images.subarray(i * 784, (i + 1) * 784)));

/** The model's linear layers honestly, activation products through `cheater`. */
function cheatOnProducts(cheater: CheatingBackend, honest: AcceleratorBackend): AcceleratorBackend {
  return {
    name: `products by ${cheater.name}`,
    loadWeights: (layers: readonly PublicLayer[]) => cheater.loadWeights(layers),
    linear: (r: LinearRequest) => (r.layerId >= ACTIVATION_LAYER_BASE ? cheater : honest).linear(r),
    close: () => honest.close(),
  };
}

async function run(mode: Mode, x: ReturnType<typeof tensor>, options: { accelerator?: AcceleratorBackend; onFailure?: 'abort' | 'recompute' } = {}) {
  const protocol = await openProtocol(model, mode, { accelerator: options.accelerator ?? new LocalBackend(), attention: 'accelerator', onFailure: options.onFailure ?? 'abort' });
  try {
    return await model.infer(x, { mode, protocol });
  } finally {
    await protocol.close?.();
  }
}

describe('attention products on the accelerator', () => {
  it('outsourced and verified give identical bits; each product is recorded, checked in verified', async () => {
    for (const x of inputs.slice(0, 2)) {
      const outsourced = await run('outsourced', x);
      const verified = await run('verified', x);
      assert.deepEqual(Array.from(verified.logits), Array.from(outsourced.logits));
      const products = (r: typeof verified) => r.execution.layers.filter((l) => l.layer.endsWith('(activation product)'));
      assert.equal(products(verified).length, model.graph.nodes.filter((n) => n.op === 'ActivationMatMul').length);
      assert.ok(products(verified).every((l) => l.ran === 'accelerator+freivalds'));
      assert.ok(products(outsourced).every((l) => l.ran === 'accelerator (unchecked)'));
      assert.ok(verified.timings['attention']! > 0, 'the trusted part of the products is its own phase');
      assert.ok(!verified.layers.some((l) => l.name.includes('activation product')), 'per-layer timings stay the linear layers');
    }
  });

  it(`agrees on top-1 with attention in the trusted runtime on ${IMAGES} test images`, async () => {
    for (const x of inputs) {
      const trusted = await model.infer(x);
      const offloaded = await run('verified', x);
      assert.equal(argmax(offloaded.logits), argmax(trusted.logits));
    }
  });

  it('catches every lying accelerator on an activation product in verified (abort: no result; recompute: same bits, incident)', async () => {
    const x = inputs[0]!;
    const honest = (await run('verified', x)).logits;
    let tampered = 0;
    for (const { name } of STRATEGIES) {
      for (const onFailure of ['abort', 'recompute'] as const) {
        const inner = new LocalBackend();
        const cheater = new CheatingBackend(inner, name);
        const accelerator = cheatOnProducts(cheater, inner);
        if (onFailure === 'abort') {
          await assert.rejects(run('verified', x, { accelerator, onFailure }), (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED') || cheater.tampered.length === 0 || assert.fail(`${name}: ${String(e)} after ${cheater.tampered.length} tampered`), name);
        } else {
          const r = await run('verified', x, { accelerator, onFailure });
          if (cheater.tampered.length === 0) continue;
          assert.deepEqual(Array.from(r.logits), Array.from(honest), `${name}: recomputed bits`);
          assert.equal(r.execution.incidents.length, 1, name);
          assert.match(r.execution.incidents[0]!.layer, /\(activation product\)$/);
          assert.ok(r.execution.layers.some((l) => l.ran === 'trusted' && l.reason?.startsWith('recomputed')), name);
        }
        tampered += cheater.tampered.length > 0 ? 1 : 0;
      }
    }
    assert.ok(tampered >= STRATEGIES.length, `only ${tampered} runs were tampered with`);
  });

  it('is refused in the private modes (and baseline); the CLI says so in one line, exit 2', async () => {
    for (const mode of ['private', 'private+verified', 'baseline'] as const) {
      await assert.rejects(openProtocol(model, mode, { attention: 'accelerator', pads: { source: 'memory', capacity: 1 } }), (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG'));
    }
    let err = '';
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => ((err += String(chunk)), true)) as typeof process.stderr.write;
    let status: number;
    try {
      status = await main(['infer', '--model', 'nowhere.onnx', '--input', 'x.png', '--mode', 'private+verified', '--pads', 'memory', '--attention', 'accelerator']);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(status, 2);
    assert.match(err, /^slalom: --attention accelerator is refused in the private modes: it would send attention's activations to the accelerator in the clear/);
    assert.equal(err.trim().split('\n').length, 1);
  });

  it('is not served (the lanes share one registration of the model): refused before listening', async () => {
    await assert.rejects(TrustedServer.start({ models: [{ model, mode: 'verified', accelerator: new LocalBackend(), session: { attention: 'accelerator' } }], port: 0, log: () => {} }), /attention on the accelerator is not served/);
  });
});

describe('ActivationProducts', () => {
  it('keeps every entry of the integer product within (−p/2, p/2): k·L² ≤ (p − 1)/2', () => {
    for (const k of [1, 16, 64, 128, 512, 1024, 2048]) {
      const l = levelsFor(k);
      assert.ok(k * l * l <= HALF_P && k * (l + 1) * (l + 1) > HALF_P, `k ${k}`);
    }
    assert.ok(levelsFor(2047) >= MIN_LEVELS && levelsFor(2049) < MIN_LEVELS);
  });

  it('broadcasts heads like MatMul, and close to the float product', async () => {
    const rng = new Rng(3);
    const a = tensor([2, 3, 5, 8], Float64Array.from({ length: 240 }, () => rng.normal()));
    const b = tensor([3, 8, 4], Float64Array.from({ length: 96 }, () => rng.normal()));
    const products = new ActivationProducts({ accelerator: new LocalBackend(), repetitions: 2, onFailure: 'abort', nextRequestId: (() => { let i = 0; return () => `t-${++i}`; })() });
    const execution = new ExecutionLog();
    const y = await products.multiply('qk', a, b, { trustedBecause: () => undefined, refused: () => assert.fail('refused'), execution });
    const want = matmul(a, b);
    assert.deepEqual(y.dims, want.dims);
    for (let i = 0; i < y.data.length; i++) assert.ok(Math.abs(y.data[i]! - want.data[i]!) < 0.05, `${y.data[i]} vs ${want.data[i]}`);
    assert.deepEqual(execution.layers, [{ layer: 'qk (activation product)', ran: 'accelerator+freivalds' }]);
  });

  it('computes a product whose fan-in cannot be exact in float64 in the trusted runtime, and says so', async () => {
    const k = 4096;
    const a = tensor([2, k], new Float64Array(2 * k).fill(0.5));
    const b = tensor([k, 3], new Float64Array(3 * k).fill(0.25));
    const products = new ActivationProducts({ accelerator: new LocalBackend(), repetitions: 2, onFailure: 'abort', nextRequestId: () => 'never' });
    const execution = new ExecutionLog();
    const y = await products.multiply('wide', a, b, { trustedBecause: () => undefined, refused: () => assert.fail('refused'), execution });
    assert.deepEqual(Array.from(y.data), Array.from(matmul(a, b).data));
    assert.equal(execution.layers[0]!.ran, 'trusted');
    assert.match(execution.layers[0]!.reason!, /fan-in of 4096 leaves fewer than 64 levels/);
  });
});
