/**
 * Issue 11, defect 1 (critical): pads were r = AES-CTR(padKey, iv(i, l)) with one key per trusted
 * state but one ledger per model, so two models, or two calibrations of one ONNX file (another
 * --margin), sharing a state blinded with the very same r at the same pad index, and the accelerator
 * learnt x_A − x_B. Measured here on what the accelerator receives (a recording accelerator): in one
 * trusted state,
 * - two models (two tiny CNNs of the same input shape), each with its own store;
 * - two calibrations of one model (Fashion-MNIST with the default margin and with --margin 8);
 * the difference mod p of the two blinded layer-0 inputs sent for pad k of each is uniform over Z_p
 * (chi-square over 64 ranges and the low byte), pad by pad — as it must be when the pads are
 * independent — while the difference of the plaintext inputs (the same test, which the old shared
 * pads reduced it to) is rejected overwhelmingly.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { P } from '../../src/field/prime.js';
import { SlalomModel } from '../../src/runtime/model.js';
import type { Mode } from '../../src/runtime/modes.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { chiSquareGof, chiSquareQuantile, formatChi, lowByteHistogram, zpBucketSizes, zpHistogram } from './chi-square.js';
import { fillPads, normalInputs, RecordingBackend, tempDir, TINY_DIMS, tinyModelBytes } from './blind-helpers.js';

const CRITICAL = (df: number): number => chiSquareQuantile(1e-6, df);
let root: string;

before(() => {
  root = tempDir('ledgers');
});

after(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** The layer-0 inputs the accelerator received for `count` inferences of `model` on `x` (one pad each). */
async function firstLayerInputs(model: SlalomModel, mode: Mode, x: Tensor, count: number, stateDir: string, store: string): Promise<Float64Array[]> {
  const rec = new RecordingBackend();
  const protocol = await openProtocol(model, mode, { accelerator: rec, kernels: 'js', ...(mode === 'private' ? { pads: { store, stateDir } } : {}) });
  try {
    for (let k = 0; k < count; k++) await model.infer(x, { mode, protocol });
  } finally {
    await protocol.close?.();
  }
  return rec.seen.filter((s) => s.layerId === 0).map((s) => s.x);
}

/** (a_k − b_k) mod p for every pad k, over the first `n` values of each. */
function differences(a: readonly Float64Array[], b: readonly Float64Array[], n: number): Float64Array {
  assert.equal(a.length, b.length);
  const out = new Float64Array(a.length * n);
  a.forEach((x, k) => {
    for (let j = 0; j < n; j++) out[k * n + j] = (x[j]! - b[k]![j]! + P) % P;
  });
  return out;
}

/** Blinded transcripts of two (model, input) pairs in one trusted state: their differences are uniform; plaintext ones are not. */
async function assertIndependent(t: { diagnostic(m: string): void }, what: string, one: { model: SlalomModel; x: Tensor }, two: { model: SlalomModel; x: Tensor }, pads: number): Promise<void> {
  const stateDir = join(root, `${what}-state`);
  const stores = [join(root, `${what}-store-1`), join(root, `${what}-store-2`)];
  await fillPads(one.model, stateDir, stores[0]!, pads);
  await fillPads(two.model, stateDir, stores[1]!, pads);
  const a = await firstLayerInputs(one.model, 'private', one.x, pads, stateDir, stores[0]!);
  const b = await firstLayerInputs(two.model, 'private', two.x, pads, stateDir, stores[1]!);
  const n = Math.min(a[0]!.length, b[0]!.length);
  const d = differences(a, b, n);
  const buckets = 64;
  const ranges = chiSquareGof(zpHistogram(d, buckets), zpBucketSizes(buckets));
  const low = lowByteHistogram(d);
  const lowChi = chiSquareGof(low.counts, low.sizes);
  const near = d.filter((v) => v < 2048 || v > P - 2048).length;
  t.diagnostic(`${what}: ${d.length} differences of blinded layer-0 inputs (${pads} pads × ${n}): ranges ${formatChi(ranges)}; low byte ${formatChi(lowChi)}; within 2048 of 0 mod p: ${near} (uniform: ~${((d.length * 4096) / P).toFixed(1)})`);
  assert.ok(ranges.stat < CRITICAL(ranges.df), `${what}: the blinded inputs are related (ranges ${formatChi(ranges)})`);
  assert.ok(lowChi.stat < CRITICAL(lowChi.df), `${what}: the blinded inputs are related (low byte ${formatChi(lowChi)})`);

  // Control: the same test on the plaintext inputs (what shared pads leave of the difference) rejects.
  const pa = await firstLayerInputs(one.model, 'outsourced', one.x, 2, stateDir, stores[0]!);
  const pb = await firstLayerInputs(two.model, 'outsourced', two.x, 2, stateDir, stores[1]!);
  const control = chiSquareGof(zpHistogram(differences(pa, pb, n), buckets), zpBucketSizes(buckets));
  t.diagnostic(`${what}, plaintext control: ranges ${formatChi(control)}`);
  assert.ok(control.stat > 10 * CRITICAL(control.df), formatChi(control));
}

describe('pads of different ledgers in one trusted state are independent (issue 11, defect 1)', () => {
  it('two models, each with its own store: the accelerator sees unrelated blinded inputs', async (t) => {
    const calibration = normalInputs(TINY_DIMS, 1, 6);
    const modelA = await SlalomModel.load(tinyModelBytes(21), { calibration });
    const modelB = await SlalomModel.load(tinyModelBytes(22), { calibration });
    const [xa, xb] = normalInputs(TINY_DIMS, 5, 2) as [Tensor, Tensor];
    await assertIndependent(t, 'two models', { model: modelA, x: xa }, { model: modelB, x: xb }, 64);
  });

  it('two calibrations of one model (default margin and --margin 8): unrelated blinded inputs', async (t) => {
    const path = 'models/fashion-mnist.onnx';
    const byDefault = await SlalomModel.load(path);
    const margin8 = await SlalomModel.load(path, { margin: 8 });
    assert.notEqual(byDefault.weightsHash, margin8.weightsHash, 'the calibrations differ');
    // Two real images that ship with the package (the first two of Fashion-MNIST's test split), so the test needs no Debian data.
    const images = await Promise.all(['examples/fashion-mnist-0-boot.png', 'examples/fashion-mnist-1-pullover.png'].map((f) => byDefault.loadInput(f)));
    await assertIndependent(t, 'two calibrations', { model: byDefault, x: images[0]! }, { model: margin8, x: images[1]! }, 16);
  });
});
