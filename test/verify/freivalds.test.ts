/**
 * Freivalds' checks (src/verify/freivalds.ts) and the Verifier around them (src/verify/verifier.ts),
 * docs/design.md §3: honest results pass every variant (batch 1 and batch 3, every layer type); a result
 * with any single corrupted element — every position tried — is rejected; the Verifier's repetitions
 * and per-inference soundness follow soundness.ts; a failed check throws IntegrityError naming the
 * layer; and a Verifier re-draws a layer's preprocessed secrets after that layer failed a check (and
 * only that layer's).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { IntegrityError, InvalidArgumentError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { FIELD_SET, listSet, sampleSetSize } from '../../src/field/random.js';
import { convField, gemmField } from '../../src/kernels/field.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { tensor } from '../../src/tensor/tensor.js';
import { checkBatched, checkFresh, checkPreprocessed, drawPreprocessedSecret, type PreprocessedSecret } from '../../src/verify/freivalds.js';
import { linearMap } from '../../src/verify/linear-map.js';
import { CHECK_VARIANTS, DEFAULT_SOUNDNESS_BITS, log2ErrorPerInference, log2ErrorPerRepetition, repetitionsFor, type CheckVariant } from '../../src/verify/soundness.js';
import { Verifier } from '../../src/verify/verifier.js';
import type { LinearReply } from '../../src/accel/backend.js';
import { acceptReply } from '../../src/boundary/accept.js';
import type { BoundaryPlan, Sendable } from '../../src/boundary/pass-plan.js';
import { untrusted } from '../../src/boundary/untrusted.js';
import { alloc, i32, regionOf, release, u32 } from '../../src/simd/arena.js';
import { dots2 } from '../../src/simd/freivalds.js';
import { rowLayout } from '../../src/verify/freivalds.js';
import { Rng } from '../../src/util/seeded-rng.js';

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function conv(name: string, batch: number, x: [number, number, number], w: [number, number, number, number], attrs: ConvAttrs, rng: Rng, index = 0): QuantizedLayer {
  const inDims = [batch, ...x];
  const wt = tensor(w, ints(rng, size(w), 127));
  return { index, name, op: 'Conv', conv: { ...attrs, kernel: [w[2], w[3]] }, inDims, outDims: convOutputDims(inDims, w, attrs), w: wt } as unknown as QuantizedLayer;
}

function gemm(name: string, batch: number, k: number, n: number, rng: Rng, index = 0): QuantizedLayer {
  return { index, name, op: 'Gemm', inDims: [batch, k], outDims: [batch, n], w: tensor([k, n], ints(rng, k * n, 127)) } as unknown as QuantizedLayer;
}

function ints(rng: Rng, n: number, max: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((rng.nextI32() >>> 0) % (2 * max + 1)) - max;
  return out;
}

function residues(rng: Rng, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.nextI32() >>> 0) % P;
  return out;
}

/** The honest f(x) mod p, as an honest accelerator computes it. */
function honest(layer: QuantizedLayer, x: Uint32Array): Uint32Array {
  const input = tensor(layer.inDims, x);
  return Uint32Array.from((layer.op === 'Conv' ? convField(input, layer.w, layer.conv!) : gemmField(input, layer.w)).data);
}

const A = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], group = 1): ConvAttrs => ({ strides, pads, dilations, group });

/** One of each layer type, for a given batch size. */
function layers(batch: number, rng: Rng): QuantizedLayer[] {
  return [
    conv('conv3x3/s2', batch, [3, 7, 7], [4, 3, 3, 3], A([2, 2], [1, 1, 1, 1]), rng, 0),
    conv('conv/asym-pads/dil2', batch, [2, 8, 6], [3, 2, 3, 2], A([1, 2], [2, 0, 1, 1], [2, 2]), rng, 1),
    conv('depthwise', batch, [4, 5, 5], [4, 1, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1], 4), rng, 2),
    conv('grouped2', batch, [4, 5, 5], [6, 2, 3, 3], A([1, 1], [0, 1, 1, 0], [1, 1], 2), rng, 3),
    conv('pointwise', batch, [5, 4, 4], [3, 5, 1, 1], A([1, 1], [0, 0, 0, 0]), rng, 4),
    gemm('gemm', batch, 12, 7, rng, 5),
  ];
}

type Checker = (layer: QuantizedLayer, x: Uint32Array, y: Uint32Array) => boolean;

/** One repetition of each variant, over the whole field. */
function checkers(): Record<CheckVariant, Checker> {
  return {
    fresh: (l, x, y) => checkFresh(linearMap(l), x, y, FIELD_SET),
    batched: (l, x, y) => checkBatched(linearMap(l), x, y, FIELD_SET),
    preprocessed: (l, x, y) => {
      const map = linearMap(l);
      return checkPreprocessed(map, x, y, drawPreprocessedSecret(map, FIELD_SET));
    },
  };
}

describe('Freivalds: honest results pass', () => {
  for (const batch of [1, 3]) {
    it(`every variant, every layer type, batch ${batch}`, () => {
      const rng = new Rng(100 + batch);
      for (const layer of layers(batch, rng)) {
        for (let trial = 0; trial < 5; trial++) {
          const x = residues(rng, size(layer.inDims));
          if (trial === 0) x.fill(P - 1);
          const y = honest(layer, x);
          for (const [variant, check] of Object.entries(checkers())) assert.ok(check(layer, x, y), `${variant} rejected an honest ${layer.name} (batch ${batch})`);
        }
      }
    });
  }

  it('a preprocessed secret is reusable across inputs while every result is honest', () => {
    const rng = new Rng(7);
    for (const layer of layers(3, rng)) {
      const map = linearMap(layer);
      const secret = drawPreprocessedSecret(map, FIELD_SET);
      for (let i = 0; i < 10; i++) {
        const x = residues(rng, size(layer.inDims));
        assert.ok(checkPreprocessed(map, x, honest(layer, x), secret), layer.name);
      }
    }
  });

  it('the Verifier accepts honest results in every variant with its default repetitions', () => {
    const rng = new Rng(8);
    for (const batch of [1, 3]) {
      const ls = layers(batch, rng);
      for (const variant of CHECK_VARIANTS) {
        const v = new Verifier(ls, { variant });
        v.prepare();
        for (const layer of ls) {
          const x = residues(rng, size(layer.inDims));
          v.check(layer, x, honest(layer, x));
        }
      }
    }
  });
});

describe('Freivalds: a single corrupted element is rejected', () => {
  for (const batch of [1, 3]) {
    it(`at every position, every variant, every layer type, batch ${batch}`, () => {
      const rng = new Rng(200 + batch);
      const check = checkers();
      for (const layer of layers(batch, rng)) {
        const x = residues(rng, size(layer.inDims));
        const y = honest(layer, x);
        const map = linearMap(layer);
        const secret = drawPreprocessedSecret(map, FIELD_SET);
        for (let i = 0; i < y.length; i++) {
          const bad = y.slice();
          // A random nonzero error; its size does not matter over a field.
          const delta = 1 + ((rng.nextI32() >>> 0) % (P - 1));
          bad[i] = (bad[i]! + delta) % P;
          // Fresh randomness for the fresh and batched checks; for the preprocessed one, one
          // secret for all positions (as a Verifier would hold it until the first failure).
          assert.ok(!check.fresh(layer, x, bad), `fresh accepted ${layer.name} with element ${i} off by ${delta}`);
          assert.ok(!check.batched(layer, x, bad), `batched accepted ${layer.name} with element ${i} off by ${delta}`);
          assert.ok(!checkPreprocessed(map, x, bad, secret), `preprocessed accepted ${layer.name} with element ${i} off by ${delta}`);
        }
      }
    });
  }

  it('off by one, off by p − 1 and a ±δ pair in one pixel are each rejected', () => {
    const rng = new Rng(300);
    for (const layer of layers(2, rng)) {
      const x = residues(rng, size(layer.inDims));
      const y = honest(layer, x);
      const pixels = y.length / (layer.outDims[0]! * layer.outDims[1]!);
      const plusOne = y.slice();
      plusOne[0] = (plusOne[0]! + 1) % P;
      const minusOne = y.slice();
      minusOne[y.length - 1] = (minusOne[y.length - 1]! + P - 1) % P;
      // +δ in channel 0 and −δ in channel 1 of the same pixel: invisible to an all-ones r.
      const pair = y.slice();
      pair[0] = (pair[0]! + 12345) % P;
      pair[pixels] = (pair[pixels]! + P - 12345) % P;
      for (const [variant, check] of Object.entries(checkers())) {
        for (const [what, bad] of [['+1', plusOne], ['−1', minusOne], ['±δ', pair]] as const) {
          assert.ok(!check(layer, x, bad), `${variant} accepted ${layer.name} with ${what}`);
        }
      }
    }
  });
});

describe('Verifier: repetitions and soundness follow soundness.ts', () => {
  const rng = new Rng(400);
  const tiny = (count: number): QuantizedLayer[] => Array.from({ length: count }, (_, i) => gemm(`fc${i}`, 1, 2, 2, rng, i));

  it('default field sample set, 40 bits: k = 2 for up to 2^7 layers (fresh), fewer than 2^6 (two-sided)', () => {
    assert.equal(DEFAULT_SOUNDNESS_BITS, 40);
    for (const count of [1, 2, 5, 32, 63, 64, 128]) {
      const ls = tiny(count);
      for (const variant of CHECK_VARIANTS) {
        const v = new Verifier(ls, { variant });
        const expected = repetitionsFor(variant, P, count, 40);
        assert.equal(v.repetitions, expected, `${variant}, ${count} layers`);
        assert.equal(v.soundnessLog2PerInference, log2ErrorPerInference(variant, P, count, expected));
        assert.ok(v.soundnessLog2PerInference <= -40, `${variant}, ${count} layers: 2^${v.soundnessLog2PerInference}`);
        // k is the fewest repetitions reaching 40 bits.
        if (expected > 1) assert.ok(log2ErrorPerInference(variant, P, count, expected - 1) > -40);
        // One-sided: p^-2 ≈ 2^-47.99999 leaves room for 2^7 layers; two-sided: (2/p)^2 ≈ 2^-45.99999
        // for fewer than 2^6 (at exactly 64 layers the union bound is 2^-39.99999, so k = 3).
        const k = variant === 'fresh' || count < 64 ? 2 : 3;
        assert.equal(v.repetitions, k, `${variant}, ${count} layers`);
      }
    }
    assert.equal(new Verifier(tiny(1)).variant, 'preprocessed', 'the default variant');
  });

  it('per-repetition error is 1/|S| one-sided and 2/|S| two-sided', () => {
    const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≉ ${b}`);
    close(log2ErrorPerRepetition('fresh', P), -Math.log2(P));
    close(log2ErrorPerRepetition('batched', P), 1 - Math.log2(P));
    close(log2ErrorPerRepetition('preprocessed', P), 1 - Math.log2(P));
    close(log2ErrorPerRepetition('fresh', 3), -Math.log2(3));
    close(log2ErrorPerRepetition('batched', 3), Math.log2(2 / 3));
  });

  it('soundnessBits, explicit repetitions and small sample sets are honoured', () => {
    const ls = tiny(10);
    const v80 = new Verifier(ls, { variant: 'fresh', soundnessBits: 80 });
    assert.equal(v80.repetitions, repetitionsFor('fresh', P, 10, 80));
    assert.equal(v80.repetitions, 4);
    const three = listSet([-1, 0, 1]);
    assert.equal(sampleSetSize(three), 3);
    const small = new Verifier(ls, { variant: 'fresh', sampleSet: three });
    assert.equal(small.repetitions, repetitionsFor('fresh', 3, 10, 40));
    assert.equal(small.repetitions, Math.ceil((40 + Math.log2(10)) / Math.log2(3)));
    assert.ok(small.soundnessLog2PerInference <= -40);
    // Two-sided over {−1, 0, 1}: 2/3 per repetition.
    const smallTwo = new Verifier(ls, { variant: 'batched', sampleSet: three });
    assert.equal(smallTwo.repetitions, Math.ceil((40 + Math.log2(10)) / Math.log2(3 / 2)));
    const fixed = new Verifier(ls, { variant: 'batched', repetitions: 1, sampleSet: three });
    assert.equal(fixed.repetitions, 1);
    assert.ok(Math.abs(fixed.soundnessLog2PerInference - (Math.log2(2 / 3) + Math.log2(10))) < 1e-12);
    // A two-element set gives the two-sided checks no soundness at all.
    assert.throws(() => new Verifier(ls, { variant: 'batched', sampleSet: listSet([0, 1]) }), InvalidArgumentError);
    assert.throws(() => new Verifier(ls, { repetitions: 0 }), InvalidArgumentError);
    assert.throws(() => new Verifier(ls, { repetitions: 1.5 }), InvalidArgumentError);
  });
});

describe('Verifier: failures', () => {
  it('a wrong result throws IntegrityError naming the layer, its variant and the failed repetition, in every variant', () => {
    const rng = new Rng(500);
    const ls = layers(2, rng);
    for (const variant of CHECK_VARIANTS) {
      const v = new Verifier(ls, { variant });
      for (const layer of ls) {
        const x = residues(rng, size(layer.inDims));
        const y = honest(layer, x);
        y[3] = (y[3]! + 1) % P;
        assert.throws(
          () => v.check(layer, x, y),
          (e: unknown) =>
            e instanceof IntegrityError &&
            e.layer === layer.name &&
            e.code === 'SLALOM_ERR_INTEGRITY' &&
            e.message.includes(variant) &&
            e.variant === variant &&
            Number.isInteger(e.repetition) &&
            e.repetition! >= 1 &&
            e.repetition! <= v.repetitions &&
            e.message.includes(`repetition ${e.repetition} of ${v.repetitions}`),
          `${variant} ${layer.name}`,
        );
      }
    }
  });

  it('an unregistered layer is an InvalidArgumentError', () => {
    const rng = new Rng(501);
    const [a, b] = layers(1, rng);
    const v = new Verifier([a!], { variant: 'fresh' });
    assert.throws(() => v.check(b!, new Uint32Array(size(b!.inDims)), new Uint32Array(size(b!.outDims))), InvalidArgumentError);
  });

  it('preprocessed secrets are re-drawn after a failure, for the failing layer only', () => {
    const rng = new Rng(502);
    const ls = layers(2, rng);
    const v = new Verifier(ls, { variant: 'preprocessed' });
    v.prepare();
    // The secrets are private; a test may look.
    const secretsOf = (name: string): PreprocessedSecret[] | undefined => (v as unknown as { layers: Map<string, { secrets?: PreprocessedSecret[] }> }).layers.get(name)!.secrets;
    const before = new Map(ls.map((l) => [l.name, secretsOf(l.name)!]));
    for (const s of before.values()) assert.equal(s.length, v.repetitions);

    const victim = ls[3]!;
    const x = residues(rng, size(victim.inDims));
    const y = honest(victim, x);
    // Honest checks keep the secrets.
    v.check(victim, x, y);
    assert.equal(secretsOf(victim.name), before.get(victim.name));
    const bad = y.slice();
    bad[0] = (bad[0]! + 1) % P;
    assert.throws(() => v.check(victim, x, bad), (e: unknown) => e instanceof IntegrityError && e.layer === victim.name);
    assert.equal(secretsOf(victim.name), undefined, 'the failed secrets are dropped at once');
    // The next check draws new ones, and they still accept honest results.
    v.check(victim, x, y);
    const after = secretsOf(victim.name)!;
    assert.notEqual(after, before.get(victim.name));
    assert.equal(after.length, v.repetitions);
    for (let k = 0; k < after.length; k++) {
      assert.notDeepEqual([...after[k]!.r], [...before.get(victim.name)![k]!.r], 'new r');
      assert.notDeepEqual([...after[k]!.s], [...before.get(victim.name)![k]!.s], 'new s');
    }
    // Other layers keep theirs.
    for (const l of ls) if (l !== victim) assert.equal(secretsOf(l.name), before.get(l.name), l.name);
  });

  it('fresh and batched checks draw new randomness on every call (no secrets held)', () => {
    // Over the set {-1, 0, 1} a one-element error passes one fresh repetition when r_j = 0 (1/3), one
    // batched repetition when s_n·r_j = 0 (5/9). With new r (and s) on every call, N checks of the same
    // wrong y pass some times and fail others; any fixed r, public or secret, would give one verdict
    // N times (all passes, or none). Both happen by chance with probability < 2^-30 for N = 80.
    const rng = new Rng(503);
    const layer = layers(2, rng)[0]!;
    const x = residues(rng, size(layer.inDims));
    const y = honest(layer, x);
    y[5] = (y[5]! + 1) % P;
    const N = 80;
    for (const variant of ['fresh', 'batched'] as const) {
      const v = new Verifier([layer], { variant, repetitions: 1, sampleSet: listSet([-1, 0, 1]) });
      v.prepare();
      assert.equal((v as unknown as { layers: Map<string, { secrets?: unknown }> }).layers.get(layer.name)!.secrets, undefined, `${variant} holds no secrets`);
      let passes = 0;
      for (let i = 0; i < N; i++) {
        try {
          v.check(layer, x, y);
          passes++;
        } catch (e) {
          if (!(e instanceof IntegrityError)) throw e;
        }
      }
      assert.ok(passes > 0 && passes < N, `${variant}: ${passes} of ${N} checks passed; one verdict every time means the randomness was not new`);
    }
  });

});

describe('Verifier: the check fused into the boundary passes', () => {
  /** The request the pass before would write: x, with its input side for the verifier's current draw (or none). */
  function request(v: Verifier, layer: QuantizedLayer, x: Uint32Array, withDots: boolean): Sendable {
    const side = v.inputSide(layer)!;
    const items = x.length / side.item;
    const values = new Uint32Array(2 * items);
    const [ta, tb] = [u32(side.ta, side.item), u32(side.tb, side.item)];
    for (let n = 0; n < items; n++) values.set(dots2(x.subarray(n * side.item, (n + 1) * side.item), ta, tb), 2 * n);
    return { layerName: layer.name, x: { dims: layer.inDims, data: x }, maxAbs: 0, ...(withDots ? { dots: { values, draw: side.draw } } : {}) };
  }

  /** The reply y crossing the layer's boundary with the verifier's output side (outputs as floats: no next layer). */
  function cross(v: Verifier, layer: QuantizedLayer, req: Sendable, y: Uint32Array): void {
    const bias = alloc(4 * y.length);
    i32(bias, y.length).fill(0);
    try {
      const plan: BoundaryPlan = {
        reply: { requestId: 'r1', layerId: layer.index, layerName: layer.name, dims: layer.outDims },
        layout: rowLayout(layer),
        check: v.outputSide(layer, req),
        requant: { bias, perColumn: layer.op === 'Gemm', channels: layer.outDims[1]!, lo: -(2 ** 30), hi: 2 ** 30, poolWidth: 0, shift: -1, dequant: 1, floatDims: layer.outDims, decide() {} },
        fuse: true,
      };
      const c = acceptReply(untrusted({ requestId: 'r1', layerId: layer.index, dims: layer.outDims, data: y } as LinearReply), plan);
      release(regionOf(c.floats!.data)!);
    } finally {
      release(bias);
    }
  }

  it('honest replies pass, with the request\'s input side and without it (recomputed from x)', () => {
    const rng = new Rng(31);
    for (const batch of [1, 3]) {
      const ls = layers(batch, rng);
      const v = new Verifier(ls);
      for (const layer of ls) {
        const x = residues(rng, size(layer.inDims));
        const y = honest(layer, x);
        cross(v, layer, request(v, layer, x, true), y);
        cross(v, layer, request(v, layer, x, false), y);
      }
      v.dispose();
    }
  });

  it('a wrong reply fails at any position; the failure re-draws the secrets, and a request\'s input side of the old draw is not used', () => {
    const rng = new Rng(34);
    for (const layer of layers(2, rng)) {
      const v = new Verifier([layer]);
      const x = residues(rng, size(layer.inDims));
      const y = honest(layer, x);
      for (const at of [0, y.length >> 1, y.length - 1]) {
        const wrong = y.slice();
        wrong[at] = (wrong[at]! + 1 + ((rng.nextI32() >>> 0) % (P - 1))) % P;
        const req = request(v, layer, x, true);
        const draw = v.inputSide(layer)!.draw;
        assert.throws(() => cross(v, layer, req, wrong), (e: unknown) => e instanceof IntegrityError && e.layer === layer.name, `${layer.name} at ${at}`);
        assert.equal(v.inputSide(layer)!.draw, draw + 1, 'new secrets after the failure');
        // Retried with the same request (its input side is of the old draw): an honest reply passes, a wrong one fails.
        cross(v, layer, req, y);
        assert.throws(() => cross(v, layer, req, wrong), IntegrityError);
      }
      v.dispose();
    }
  });

  it('variants without preprocessed secrets read the whole output, and catch what the fused check catches', () => {
    const rng = new Rng(33);
    const layer = layers(1, rng)[0]!;
    for (const variant of ['fresh', 'batched'] as const) {
      const v = new Verifier([layer], { variant });
      assert.equal(v.inputSide(layer), undefined);
      assert.equal(v.outputSide(layer, { layerName: layer.name, x: { dims: layer.inDims, data: new Uint32Array(size(layer.inDims)) }, maxAbs: 0 }).weights, undefined);
    }
  });
});
