/**
 * Statistical soundness of Freivalds' checks (docs/design.md §3, src/verify/soundness.ts): with random
 * entries from the small set S = {−1, 0, 1} instead of Z_p, a result wrong in a single element
 * (E = δ·e_{n,m,o}, δ ≠ 0) passes one repetition exactly when
 *   - fresh (one-sided, r over channels):           r_m = 0                  → 1/|S|             = 1/3;
 *   - batched, batch 1 (s over items, r):            s_1·r_m = 0              → 1 − (1 − 1/|S|)² = 5/9;
 *   - preprocessed (s over pixels, r over channels): s_o·r_m = 0              → 5/9,
 * and 5/9 = 2/|S| − 1/|S|² sits just under the two-sided bound 2/|S| of soundness.ts. k independent
 * repetitions give the k-th power. Each variant runs 3000 trials through the real Verifier
 * (repetitions 1 and 2, preprocessed secrets re-drawn every trial by a new Verifier) and the observed
 * acceptance rate must lie within 5 binomial standard deviations of theory. Honest results must pass
 * every time whatever S is.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';

import { IntegrityError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { listSet, sampleSetSize } from '../../src/field/random.js';
import { convField } from '../../src/kernels/field.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { tensor } from '../../src/tensor/tensor.js';
import { log2ErrorPerRepetition, type CheckVariant } from '../../src/verify/soundness.js';
import { Verifier } from '../../src/verify/verifier.js';
import { Rng } from '../../src/util/seeded-rng.js';

const TRIALS = 3000;
const SIGMAS = 5;
const S = listSet([-1, 0, 1]);

const rng = new Rng(0x50d);
const attrs: ConvAttrs = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
const inDims = [1, 2, 4, 4];
const wDims = [3, 2, 3, 3];
const w = Float64Array.from({ length: 54 }, () => ((rng.nextI32() >>> 0) % 255) - 127);
const layer = {
  index: 0,
  name: 'conv',
  op: 'Conv',
  conv: { ...attrs, kernel: [3, 3] },
  inDims,
  outDims: convOutputDims(inDims, wDims, attrs),
  w: tensor(wDims, w),
} as unknown as QuantizedLayer;
const x = Uint32Array.from({ length: 32 }, () => (rng.nextI32() >>> 0) % P);
const y = Uint32Array.from(convField(tensor(inDims, x), layer.w, attrs).data);
const PIXELS = 16;

/** y with one element off by a random nonzero δ, at a random position. */
function singleError(): Uint32Array {
  const bad = y.slice();
  const i = (rng.nextI32() >>> 0) % bad.length;
  const delta = 1 + ((rng.nextI32() >>> 0) % (P - 1));
  bad[i] = (bad[i]! + delta) % P;
  return bad;
}

/** +δ in one channel and −δ in another at the same pixel: passes fresh iff r_a = r_b (1/3). */
function pairError(): Uint32Array {
  const bad = y.slice();
  const o = (rng.nextI32() >>> 0) % PIXELS;
  const a = (rng.nextI32() >>> 0) % 3;
  const b = (a + 1 + ((rng.nextI32() >>> 0) % 2)) % 3;
  const delta = 1 + ((rng.nextI32() >>> 0) % (P - 1));
  bad[a * PIXELS + o] = (bad[a * PIXELS + o]! + delta) % P;
  bad[b * PIXELS + o] = (bad[b * PIXELS + o]! + P - delta) % P;
  return bad;
}

function accepts(v: Verifier, bad: Uint32Array): boolean {
  try {
    v.check(layer, x, bad);
    return true;
  } catch (e) {
    if (!(e instanceof IntegrityError) || e.layer !== 'conv') throw e;
    return false;
  }
}

/**
 * Runs TRIALS trials and checks the acceptance rate against `theory`. `verifier()` is called once per
 * trial: return the same Verifier for variants without held secrets, a new one to re-draw them.
 */
function measure(t: TestContext, label: string, theory: number, verifier: () => Verifier, wrong: () => Uint32Array = singleError): void {
  let accepted = 0;
  for (let i = 0; i < TRIALS; i++) if (accepts(verifier(), wrong())) accepted++;
  const rate = accepted / TRIALS;
  const sigma = Math.sqrt((theory * (1 - theory)) / TRIALS);
  const z = (rate - theory) / sigma;
  t.diagnostic(`${label}: accepted ${accepted}/${TRIALS} = ${rate.toFixed(4)}, theory ${theory.toFixed(4)}, z = ${z.toFixed(2)}`);
  assert.ok(Math.abs(z) <= SIGMAS, `${label}: observed ${rate.toFixed(4)}, theory ${theory.toFixed(4)} ± ${(SIGMAS * sigma).toFixed(4)} (z = ${z.toFixed(2)})`);
}

const make = (variant: CheckVariant, repetitions: number): Verifier => new Verifier([layer], { variant, repetitions, sampleSet: S });

describe('soundness rate with S = {−1, 0, 1}', () => {
  it('the sample set and the theory agree with soundness.ts', () => {
    assert.equal(sampleSetSize(S), 3);
    // The exact single-element rates respect the per-repetition bounds (1/|S| one-sided, 2/|S| two-sided).
    assert.ok(Math.abs(1 / 3 - 2 ** log2ErrorPerRepetition('fresh', 3)) < 1e-12);
    assert.ok(5 / 9 <= 2 ** log2ErrorPerRepetition('batched', 3));
    assert.ok(5 / 9 <= 2 ** log2ErrorPerRepetition('preprocessed', 3));
    assert.equal(5 / 9, 2 / 3 - 1 / 9);
  });

  it('honest results always pass, in every variant', () => {
    for (const variant of ['fresh', 'batched', 'preprocessed'] as const) {
      for (let i = 0; i < 300; i++) make(variant, 1).check(layer, x, y);
    }
  });

  it('fresh, 1 repetition: a single-element error passes at 1/3', (t) => {
    const v = make('fresh', 1);
    measure(t, 'fresh k=1', 1 / 3, () => v);
  });

  it('fresh, 1 repetition: a ±δ pair in one pixel passes at 1/3', (t) => {
    const v = make('fresh', 1);
    measure(t, 'fresh k=1 ±δ pair', 1 / 3, () => v, pairError);
  });

  it('batched (batch 1), 1 repetition: a single-element error passes at 1 − (2/3)² = 5/9', (t) => {
    const v = make('batched', 1);
    measure(t, 'batched k=1', 5 / 9, () => v);
  });

  it('preprocessed, 1 repetition, secrets re-drawn every trial: 5/9', (t) => {
    measure(t, 'preprocessed k=1', 5 / 9, () => make('preprocessed', 1));
  });

  it('2 independent repetitions square the rates: 1/9 (fresh), 25/81 (batched, preprocessed)', (t) => {
    const fresh = make('fresh', 2);
    measure(t, 'fresh k=2', 1 / 9, () => fresh);
    const batched = make('batched', 2);
    measure(t, 'batched k=2', 25 / 81, () => batched);
    measure(t, 'preprocessed k=2', 25 / 81, () => make('preprocessed', 2));
  });

  it('a held preprocessed secret that accepted a wrong result keeps accepting that same error (why secrets must stay secret)', () => {
    // With the secret fixed, acceptance is deterministic in the error: not a probability any more.
    // The Verifier only keeps a secret while checks pass, so this is the accelerator's best case:
    // find an error the current secret misses, and it is missed every time until the secret changes.
    let found: Uint32Array | undefined;
    const v = make('preprocessed', 1);
    for (let i = 0; i < 200 && found === undefined; i++) {
      const bad = singleError();
      if (accepts(v, bad)) found = bad;
    }
    assert.ok(found !== undefined, 'some error passes with probability 5/9 per secret');
    for (let i = 0; i < 20; i++) assert.ok(accepts(v, found), 'the same secret accepts the same error again');
  });
});
