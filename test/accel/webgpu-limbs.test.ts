/**
 * The WebGPU kernels' exactness scheme (src/accel/webgpu/limbs.ts), without a GPU: the constants of
 * the bound, the plan at and just past it, and the fold's algebra (2^24 ≡ 3 mod p) replayed in i32/u32
 * arithmetic against BigInt on the extremes the bound allows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { I32_MAX, LIMB_MAX, MAX_FOLDED_WEIGHT, MIN_SEGMENT_TAPS, planLayer, SEGMENT_L1 } from '../../src/accel/webgpu/limbs.js';
import { InvalidArgumentError, OverflowError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { tensor } from '../../src/tensor/tensor.js';

const A = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } as const;
const gemm = (k: number, n: number, fill: (i: number) => number) => ({ op: 'Gemm' as const, wDims: [k, n], w: tensor([k, n], Float64Array.from({ length: k * n }, (_, i) => fill(i))) });
const conv = (m: number, c: number, fill: (i: number) => number) => ({ op: 'Conv' as const, conv: A, wDims: [m, c, 1, 1], w: tensor([m, c, 1, 1], Float64Array.from({ length: m * c }, (_, i) => fill(i))) });

/** The WGSL fold, step by step in the same 32-bit arithmetic: (t + lo + hi·2^12) mod p. */
function foldLikeWgsl(t: number, lo: number, hi: number): number {
  const residue = (a: number): number => {
    let r = a % P; // i32 % truncates towards zero, like JS's %
    if (r < 0) r += P;
    return r;
  };
  const b = residue(hi);
  const shifted = (((b >>> 12) * 3 + ((b & 4095) << 12)) >>> 0) % P;
  const sum = t + residue(lo) + shifted;
  assert.ok(sum < 2 ** 32, 'the u32 sum does not wrap');
  return sum % P;
}

describe('the limb bound', () => {
  it('SEGMENT_L1 is the largest Σ|w| whose limb sums stay in i32', () => {
    assert.equal(LIMB_MAX, 4095);
    assert.equal(SEGMENT_L1, 524_416);
    assert.ok(LIMB_MAX * SEGMENT_L1 <= I32_MAX);
    assert.ok(LIMB_MAX * (SEGMENT_L1 + 1) > I32_MAX);
    assert.equal(MAX_FOLDED_WEIGHT, Math.floor(SEGMENT_L1 / MIN_SEGMENT_TAPS));
    // Both limbs of any residue are at most 4095.
    assert.equal((P - 1) >>> 12, 4095);
  });

  it('a row at exactly SEGMENT_L1 needs no fold; any larger max |w| ≤ 32 776 folds every ⌊524 416 / max|w|⌋ taps', () => {
    const at = planLayer(gemm(16, 2, (i) => (i % 2 === 0 ? MAX_FOLDED_WEIGHT : -MAX_FOLDED_WEIGHT)), 'at');
    assert.equal(at.rowL1, SEGMENT_L1);
    assert.equal(at.segmentTaps, 16);
    const long = planLayer(conv(3, 1000, (i) => (i % 3 === 0 ? -MAX_FOLDED_WEIGHT : 7)), 'long');
    assert.equal(long.maxAbsWeight, MAX_FOLDED_WEIGHT);
    assert.equal(long.segmentTaps, MIN_SEGMENT_TAPS);
    const mild = planLayer(gemm(4096, 3, () => 1500), 'mild');
    assert.equal(mild.segmentTaps, Math.floor(SEGMENT_L1 / 1500));
    // A row may hold one huge weight if the whole row still fits.
    assert.equal(planLayer(gemm(2, 1, (i) => (i === 0 ? SEGMENT_L1 - 1 : 1)), 'one').segmentTaps, 2);
  });

  it('just over the bound is refused, naming the layer: Σ|w| > 524 416 with max |w| = 32 777', () => {
    for (const layer of [gemm(16, 1, () => MAX_FOLDED_WEIGHT + 1), conv(2, 16, (i) => (i < 16 ? -(MAX_FOLDED_WEIGHT + 1) : 1))]) {
      assert.throws(() => planLayer(layer, 'too_big'), (e: unknown) => e instanceof OverflowError && e.layer === 'too_big' && /32776/.test(e.message));
    }
    // One unit less on that single weight and it loads again.
    assert.equal(planLayer(gemm(16, 1, () => MAX_FOLDED_WEIGHT), 'ok').segmentTaps, 16);
  });

  it('non-integer weights are refused', () => {
    assert.throws(() => planLayer(gemm(2, 1, () => 0.5), 'frac'), (e: unknown) => e instanceof InvalidArgumentError && e.layer === 'frac');
  });
});

describe('the fold', () => {
  const BP = BigInt(P);
  const big = (t: number, lo: number, hi: number): number => Number((((BigInt(t) + BigInt(lo) + BigInt(hi) * 4096n) % BP) + BP) % BP);
  const extremes = [0, 1, -1, I32_MAX, -I32_MAX, P, -P, P - 1, 2 ** 30, -(2 ** 30), 4095 * SEGMENT_L1, -4095 * SEGMENT_L1];

  it('(t + lo + hi·2^12) mod p on every pair of extremes and every running residue t', () => {
    for (const t of [0, 1, P - 1, 8_388_606]) {
      for (const lo of extremes) for (const hi of extremes) assert.equal(foldLikeWgsl(t, lo, hi), big(t, lo, hi), `t ${t} lo ${lo} hi ${hi}`);
    }
  });

  it('a whole segment at the bound: x = p − 1 (both limbs 4092 and 4095) against ±32 776 over 16 taps', () => {
    const xl = (P - 1) & 4095;
    const xh = (P - 1) >>> 12;
    for (const sign of [1, -1]) {
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < 16; i++) {
        lo += xl * sign * MAX_FOLDED_WEIGHT;
        hi += xh * sign * MAX_FOLDED_WEIGHT;
        assert.ok(Math.abs(lo) <= I32_MAX && Math.abs(hi) <= I32_MAX);
      }
      const expected = Number((((BigInt(P - 1) * BigInt(sign * MAX_FOLDED_WEIGHT) * 16n) % BP) + BP) % BP);
      assert.equal(foldLikeWgsl(0, lo, hi), expected);
    }
  });
});
