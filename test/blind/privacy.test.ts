/**
 * What blinding buys (docs/design.md §4, §5):
 * (a) the blinding identity f(x + r) − f(r) = f(x) mod p holds for every linear layer type — conv
 *     (strided, asymmetrically padded, dilated, batched), depthwise, grouped, pointwise, Gemm;
 * (b) what the accelerator sees in mode `private` is uniform over Z_p: every input it received over
 *     several Fashion-MNIST inferences passes chi-square tests (256 ranges, low byte), while the same
 *     test clearly rejects mode `outsourced`'s plaintext inputs;
 * (c) transcripts for two different images are identically distributed: a two-sample chi-square test
 *     of the blinded first-layer inputs of image A vs image B over many pads does not reject, while
 *     without blinding (mode `outsourced`) the same test rejects overwhelmingly;
 * (d) modes private and private+verified return logits bit-identical to the baseline (default
 *     embedded worker accelerator and the in-thread one; ort and js kernels);
 * (e) when the pads run out, mode private fails with PadsExhaustedError (SLALOM_ERR_PADS_EXHAUSTED);
 *     with onExhausted 'local' the inference runs in the trusted runtime — baseline logits, an
 *     incident, nothing sent to the accelerator — and blinding resumes once pads are made.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { padVector } from '../../src/blind/keystream.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { PadsExhaustedError } from '../../src/errors.js';
import { addMod, subMod } from '../../src/field/modp.js';
import { P } from '../../src/field/prime.js';
import { resolveInputs } from '../../src/io/sources.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { computeLayerExactly } from '../../src/quant/exact-layer.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { SlalomModel } from '../../src/runtime/model.js';
import type { Mode } from '../../src/runtime/modes.js';
import type { AcceleratedProtocol } from '../../src/runtime/protocols/accelerated.js';
import { openStore } from '../../src/runtime/precompute.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { SKIP_WITHOUT_FASHION_MNIST } from '../helpers/data.js';
import { chiSquareGof, chiSquareQuantile, chiSquareTwoSample, formatChi, lowByteHistogram, zpBucketSizes, zpHistogram } from './chi-square.js';
import { fillPads, RecordingBackend, tempDir } from './blind-helpers.js';

const CRITICAL = (df: number): number => chiSquareQuantile(1e-6, df);

describe('(a) the blinding identity f(x + r) − f(r) = f(x) mod p', () => {
  const key = new Uint8Array(32).fill(0x5a);

  function layerOf(name: string, op: 'Conv' | 'Gemm', inDims: number[], wDims: number[], conv?: Partial<ConvAttrs>, seed = 1): QuantizedLayer {
    const rng = new Rng(seed);
    const w = tensor(wDims, Float64Array.from({ length: wDims.reduce((a, b) => a * b, 1) }, () => Math.floor(rng.uniform() * 201) - 100));
    const attrs: ConvAttrs | undefined =
      op === 'Conv' ? { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, ...conv } : undefined;
    const outDims = op === 'Conv' ? convOutputDims(inDims, wDims, attrs!) : [inDims[0]!, wDims[1]!];
    const nodeAttrs = attrs === undefined ? undefined : { ...attrs, kernel: [wDims[2]!, wDims[3]!] as const };
    return { index: seed, name, op, conv: nodeAttrs, inDims, outDims, w } as unknown as QuantizedLayer;
  }

  const layers: QuantizedLayer[] = [
    layerOf('conv 3→5, stride 2, pads [1,0,2,1], batch 2', 'Conv', [2, 3, 9, 7], [5, 3, 3, 3], { strides: [2, 2], pads: [1, 0, 2, 1] }, 1),
    layerOf('conv 2→4, 5×3, stride (1,2), dilation 2, pads 2', 'Conv', [1, 2, 11, 10], [4, 2, 5, 3], { strides: [1, 2], dilations: [2, 2], pads: [2, 2, 2, 2] }, 2),
    layerOf('depthwise 6 (3×3, pad 1)', 'Conv', [1, 6, 8, 8], [6, 1, 3, 3], { group: 6, pads: [1, 1, 1, 1] }, 3),
    layerOf('grouped 6→4, group 2, stride 2, pad 1', 'Conv', [1, 6, 7, 7], [4, 3, 3, 3], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, 4),
    layerOf('pointwise 8→6 (1×1)', 'Conv', [1, 8, 5, 5], [6, 8, 1, 1], {}, 5),
    layerOf('Gemm 20→7, batch 3', 'Gemm', [3, 20], [20, 7], undefined, 6),
  ];

  for (const layer of layers) {
    it(layer.name, () => {
      const n = layer.inDims.reduce((a, b) => a * b, 1);
      const rng = new Rng(100 + layer.index);
      // x: arbitrary residues, and small signed activations as the runtime encodes them.
      const inputs = [
        Float64Array.from({ length: n }, () => Math.floor(rng.uniform() * P)),
        Float64Array.from({ length: n }, () => {
          const v = Math.floor(rng.uniform() * 2001) - 1000;
          return v < 0 ? v + P : v;
        }),
        new Float64Array(n),
        new Float64Array(n).fill(P - 1),
      ];
      for (const [k, x] of inputs.entries()) {
        for (const padIndex of [0, 1, 1234]) {
          const r = Float64Array.from(padVector(key, padIndex, layer.index, n));
          const blinded = addMod(x, r);
          const exactly = (v: Float64Array): Float64Array => Float64Array.from(computeLayerExactly(layer, Uint32Array.from(v)));
          const z = exactly(blinded); // what the accelerator returns
          const u = exactly(r); // what precompute sealed
          const y = subMod(z, u);
          assert.deepEqual(y, exactly(x), `input ${k}, pad ${padIndex}`);
          assert.ok(!blinded.every((v, j) => v === x[j]), 'blinding changed nothing');
        }
      }
    });
  }
});

describe('the accelerator view on Fashion-MNIST (mode private)', { skip: SKIP_WITHOUT_FASHION_MNIST }, () => {
  let model: SlalomModel;
  let root: string;
  let stateDir: string;
  let store: string;
  let images: { input: Tensor; label: number }[];

  async function run(mode: Mode, inputs: readonly Tensor[], options: { accelerator?: RecordingBackend; kernels?: 'js' | 'ort'; onExhausted?: 'fail' | 'local' } = {}) {
    const protocol = (await openProtocol(model, mode, {
      ...(options.accelerator ? { accelerator: options.accelerator } : {}),
      kernels: options.kernels ?? 'js',
      pads: { store, stateDir, ...(options.onExhausted ? { onExhausted: options.onExhausted } : {}) },
    })) as AcceleratedProtocol;
    try {
      const logits: Float64Array[] = [];
      for (const x of inputs) logits.push((await model.infer(x, { mode, protocol })).logits);
      return { logits, incidents: [...(protocol.incidents ?? [])] };
    } finally {
      await protocol.close?.();
    }
  }

  before(async () => {
    model = await SlalomModel.load('models/fashion-mnist.onnx');
    root = tempDir('privacy');
    stateDir = join(root, 'state');
    store = join(root, 'store');
    images = await Promise.all(resolveInputs('fashion-mnist:test:40', { preprocess: model.info.preprocess, expectDims: model.inputDims }).map(async (i) => ({ input: await i.load(), label: i.label! })));
  });

  after(() => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  /** The counters of the store's ledger. */
  const storeLedger = () => {
    const { ledger } = openStore(TrustedState.open(stateDir), new PadStore(store), model);
    return { read: () => ledger.inventory() };
  };

  it('(b) every input the accelerator receives is uniform over Z_p; plaintext inputs are not', async (t) => {
    const inputs = images.slice(0, 10).map((i) => i.input);
    await fillPads(model, stateDir, store, inputs.length);
    const rec = new RecordingBackend();
    await run('private', inputs, { accelerator: rec });
    assert.equal(rec.seen.length, inputs.length * model.quantized.layers.length);
    const seen = Float64Array.from(rec.seen.flatMap((s) => [...s.x]));
    const ranges = chiSquareGof(zpHistogram(seen, 256), zpBucketSizes(256));
    const low = lowByteHistogram(seen);
    const lowChi = chiSquareGof(low.counts, low.sizes);
    t.diagnostic(`private, ${seen.length} values over ${rec.seen.length} requests: ranges ${formatChi(ranges)}; low byte ${formatChi(lowChi)}`);
    assert.ok(ranges.stat < CRITICAL(ranges.df), formatChi(ranges));
    assert.ok(lowChi.stat < CRITICAL(lowChi.df), formatChi(lowChi));
    // Per layer too (each layer's inputs alone).
    for (const layer of model.quantized.layers) {
      const values = Float64Array.from(rec.seen.filter((s) => s.layerId === layer.index).flatMap((s) => [...s.x]));
      const chi = chiSquareGof(zpHistogram(values, 16), zpBucketSizes(16));
      t.diagnostic(`  ${layer.name}: ${values.length} values, 16 ranges ${formatChi(chi)}`);
      assert.ok(chi.stat < CRITICAL(chi.df), `${layer.name}: ${formatChi(chi)}`);
    }

    // Control: mode outsourced sends the plaintext quantized activations.
    const plain = new RecordingBackend();
    await run('outsourced', inputs, { accelerator: plain });
    const control = chiSquareGof(zpHistogram(Float64Array.from(plain.seen.flatMap((s) => [...s.x])), 256), zpBucketSizes(256));
    t.diagnostic(`outsourced control: ranges ${formatChi(control)}`);
    assert.ok(control.stat > 100 * CRITICAL(control.df), formatChi(control));
  });

  it('(c) two different images give identically distributed transcripts; without blinding they differ', async (t) => {
    const a = images.find((i) => i.label === 1)!; // Trouser
    const b = images.find((i) => i.label === 8)!; // Bag
    assert.ok(a !== undefined && b !== undefined, 'test images of both classes');
    const perImage = 40;
    const firstLayer = async (mode: Mode, x: Tensor): Promise<Float64Array> => {
      const rec = new RecordingBackend();
      await run(mode, Array.from({ length: perImage }, () => x), { accelerator: rec });
      return Float64Array.from(rec.seen.filter((s) => s.layerId === 0).flatMap((s) => [...s.x]));
    };
    const before = storeLedger().read();
    await fillPads(model, stateDir, store, 2 * perImage);
    const sa = await firstLayer('private', a.input);
    const sb = await firstLayer('private', b.input);
    assert.equal(storeLedger().read().consumed, before.consumed + 2 * perImage, 'one fresh pad per inference');
    assert.equal(sa.length, perImage * 784);
    const buckets = 64;
    const blinded = chiSquareTwoSample(zpHistogram(sa, buckets), zpHistogram(sb, buckets));
    const lowA = lowByteHistogram(sa).counts;
    const lowB = lowByteHistogram(sb).counts;
    const blindedLow = chiSquareTwoSample(lowA, lowB);
    t.diagnostic(`private, A vs B (${sa.length} + ${sb.length} first-layer values): ranges ${formatChi(blinded)}; low byte ${formatChi(blindedLow)}`);
    assert.ok(blinded.stat < CRITICAL(blinded.df), formatChi(blinded));
    assert.ok(blindedLow.stat < CRITICAL(blindedLow.df), formatChi(blindedLow));

    const pa = await firstLayer('outsourced', a.input);
    const pb = await firstLayer('outsourced', b.input);
    const plain = chiSquareTwoSample(zpHistogram(pa, buckets), zpHistogram(pb, buckets));
    t.diagnostic(`outsourced control, A vs B: ranges ${formatChi(plain)}`);
    assert.ok(plain.stat > 10 * CRITICAL(plain.df), formatChi(plain));
  });

  it('(d) private and private+verified logits are bit-identical to the baseline', async (t) => {
    const inputs = images.slice(10, 14).map((i) => i.input);
    const baseline = await Promise.all(inputs.map(async (x) => (await model.infer(x)).logits));
    const configs: { mode: Mode; kernels: 'js' | 'ort'; accelerator?: 'recording' }[] = [
      { mode: 'private', kernels: 'ort' }, // default embedded worker accelerator
      { mode: 'private+verified', kernels: 'ort' },
      { mode: 'private', kernels: 'js', accelerator: 'recording' },
      { mode: 'private+verified', kernels: 'js', accelerator: 'recording' },
    ];
    await fillPads(model, stateDir, store, configs.length * inputs.length);
    for (const c of configs) {
      const { logits } = await run(c.mode, inputs, { kernels: c.kernels, ...(c.accelerator ? { accelerator: new RecordingBackend() } : {}) });
      for (const [k, l] of logits.entries()) assert.deepEqual([...l], [...baseline[k]!], `${c.mode} (${c.kernels}, ${c.accelerator ?? 'worker'}), image ${k}`);
    }
    t.diagnostic(`${configs.length} configurations × ${inputs.length} images: bit-identical to the baseline`);
  });

  it('(e) pads run out: PadsExhaustedError, or with onExhausted "local" the baseline in the trusted runtime', async () => {
    const ledger = storeLedger();
    const x = images[20]!.input;
    const baseline = (await model.infer(x)).logits;
    // Use up what is left.
    const left = ledger.read().generated - ledger.read().consumed;
    if (left > 0) await run('private', Array.from({ length: left }, () => x), { accelerator: new RecordingBackend() });
    assert.equal(ledger.read().consumed, ledger.read().generated);

    const rec = new RecordingBackend();
    await assert.rejects(run('private', [x], { accelerator: rec }), (e: unknown) => {
      assert.ok(e instanceof PadsExhaustedError, String(e));
      assert.equal(e.code, 'SLALOM_ERR_PADS_EXHAUSTED');
      return true;
    });
    assert.equal(rec.seen.length, 0, 'nothing was sent without a pad');

    const local = new RecordingBackend();
    const r = await run('private', [x, x], { accelerator: local, onExhausted: 'local' });
    for (const l of r.logits) assert.deepEqual([...l], [...baseline]);
    assert.equal(r.incidents.length, 2);
    for (const i of r.incidents) assert.equal(i.code, 'SLALOM_ERR_PADS_EXHAUSTED');
    assert.equal(local.seen.length, 0, 'the fallback sends nothing to the accelerator');
    assert.equal(ledger.read().consumed, ledger.read().generated, 'the fallback consumes nothing');

    // New pads: blinding resumes, in the same protocol object too.
    await fillPads(model, stateDir, store, 1);
    const resumed = new RecordingBackend();
    const r2 = await run('private', [x, x], { accelerator: resumed, onExhausted: 'local' });
    assert.deepEqual([...r2.logits[0]!], [...baseline]);
    assert.deepEqual([...r2.logits[1]!], [...baseline]);
    assert.equal(resumed.seen.length, model.quantized.layers.length, 'the first inference was outsourced (blinded), the second ran locally');
    assert.equal(r2.incidents.length, 1);
  });
});
