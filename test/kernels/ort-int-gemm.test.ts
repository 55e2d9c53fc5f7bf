/**
 * The integer-GEMM path (src/kernels/ort/int-gemm.ts) at its bounds, against the BigInt reference:
 * x = p − 1 with weights at −128/127 over K at the int32 bound maxK and one past it (the K split),
 * for 8- and 7-bit limbs; weights wider than int8 in two to four limbs, with the largest bias; the
 * limbs' digits; convolutions with stride, padding, dilation and several images; and what 'auto'
 * and SLALOM_ORT_KERNEL choose. A path whose start-up probe fails on this CPU is skipped, named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_EXACT, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { OrtExactKernels, type OrtKernelPath } from '../../src/kernels/ort-exact.js';
import { maxK, planesOf, weightLimbs } from '../../src/kernels/ort/int-gemm.js';
import { convRef, gemmRef } from '../reference/bigint.js';
import { int, rng, size } from '../helpers/random.js';
import { openOrtPaths, type OrtPaths } from '../helpers/ort-paths.js';

const INT_PATHS = ['int-gemm', 'int-gemm-7'] as const;

let paths: OrtPaths;
before(async () => {
  paths = await openOrtPaths();
});
after(async () => {
  await Promise.all([paths.auto, ...paths.forced.values()].map((k) => k.close()));
});

function mismatches(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) bad++;
  return bad;
}

describe('weight limbs', () => {
  it('are balanced base-256 digits that give the weight back, as many as the widest weight needs', () => {
    const ws = [0, 1, -1, 127, -127, -128, 128, 255, -32_768, 32_767, 8_388_607, -8_388_608, MAX_WEIGHT_L1, -MAX_WEIGHT_L1];
    const limbs = weightLimbs(ws.length, 1, (k) => ws[k]!);
    assert.equal(limbs.limbs, 4);
    for (let k = 0; k < ws.length; k++) {
      let v = 0;
      for (let l = limbs.limbs - 1; l >= 0; l--) v = v * 256 + limbs.data[k * limbs.limbs + l]!;
      assert.equal(v, ws[k], `w = ${ws[k]}`);
    }
    assert.equal(weightLimbs(2, 1, (k) => [127, -127][k]!).limbs, 1);
    assert.equal(weightLimbs(1, 1, () => 300).limbs, 2);
  });

  it('state the int32 bound: K·(2^b − 1)·128 < 2^31 at maxK, not one past it', () => {
    for (const bits of [8, 7] as const) {
      assert.ok(maxK(bits) * (2 ** bits - 1) * 128 < 2 ** 31);
      assert.ok((maxK(bits) + 1) * (2 ** bits - 1) * 128 >= 2 ** 31);
    }
    assert.deepEqual([maxK(8), maxK(7), planesOf(8), planesOf(7)], [65_793, 132_104, 3, 4]);
  });
});

for (const path of INT_PATHS) {
  describe(`${path} path`, () => {
    const kernels = (): OrtExactKernels | undefined => paths.forced.get(path);
    const skip = (t: { skip(m: string): void }): boolean => {
      if (kernels() !== undefined) return false;
      t.skip(`the ${path} probe fails on this CPU`);
      return true;
    };
    const bits = path === 'int-gemm' ? 8 : 7;

    it('is exact with x = p − 1 and weights at −128 / 127 over K = maxK and maxK + 1 (split)', async (t) => {
      if (skip(t)) return;
      const r = rng(bits);
      for (const k of [maxK(bits), maxK(bits) + 1]) {
        const n = 4;
        const w = new Float64Array(k * n);
        for (let i = 0; i < k; i++) {
          w[i * n] = -128;
          w[i * n + 1] = 127;
          w[i * n + 2] = i % 2 ? 127 : -128;
          w[i * n + 3] = r() < 0.5 ? -128 : 127;
        }
        const x = new Float64Array(2 * k);
        for (let i = 0; i < k; i++) {
          x[i] = P - 1;
          x[k + i] = r() < 0.5 ? P - 1 : 2 ** 24 - 256 * int(r, 1, 3) - 1;
        }
        const got = await kernels()!.gemmField({ dims: [2, k], data: x }, { dims: [k, n], data: w });
        assert.equal(mismatches(got.data, gemmRef(2, k, n, x, w)), 0, `K = ${k}`);
      }
    });

    it('is exact with weights in two to four limbs and outputs at ±(2^53 − 1)', async (t) => {
      if (skip(t)) return;
      const maxBias = MAX_EXACT - (P - 1) * MAX_WEIGHT_L1;
      for (const k of [1, 5, 300]) {
        const n = 3;
        const w = new Float64Array(k * n);
        for (let i = 0; i < k; i++) {
          const mag = Math.floor(MAX_WEIGHT_L1 / k) + (i < MAX_WEIGHT_L1 % k ? 1 : 0);
          w[i * n] = mag;
          w[i * n + 1] = -mag;
          w[i * n + 2] = i % 2 ? mag : -300;
        }
        const bias = Float64Array.of(maxBias, -maxBias, 7);
        for (const xv of [P - 1, -(P - 1)]) {
          const x = new Float64Array(2 * k).fill(xv);
          const got = await kernels()!.gemmField({ dims: [2, k], data: x }, { dims: [k, n], data: w }, bias);
          assert.equal(mismatches(got.data, gemmRef(2, k, n, x, w, bias)), 0, `K = ${k}, x = ${xv}`);
        }
      }
    });

    it('computes convolutions with stride, padding, dilation, several images and wide weights', async (t) => {
      if (skip(t)) return;
      const r = rng(100 + bits);
      const A = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number]): ConvAttrs => ({ strides, pads, dilations, group: 1 });
      const cases: [number[], number[], ConvAttrs, number][] = [
        [[2, 5, 9, 8], [6, 5, 3, 3], A([2, 1], [1, 0, 2, 1], [1, 2]), 127],
        [[1, 7, 6, 6], [4, 7, 1, 1], A([1, 1], [0, 0, 0, 0], [1, 1]), 127], // no im2col
        [[3, 4, 7, 7], [5, 4, 1, 1], A([2, 2], [0, 0, 0, 0], [1, 1]), 40_000], // strided 1×1, two-limb weights
        [[1, 3, 10, 10], [2, 3, 5, 3], A([3, 2], [2, 1, 0, 2], [2, 1]), 2_000_000], // three limbs
        [[1, 512, 3, 3], [3, 512, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1]), 127],
      ];
      for (const [xd, wd, attrs, wMax] of cases) {
        convOutputDims(xd, wd, attrs);
        const x = Float64Array.from({ length: size(xd) }, (_, i) => (i % 5 === 0 ? P - 1 : i % 5 === 1 ? -(P - 1) : int(r, -(P - 1), P - 1)));
        const w = Float64Array.from({ length: size(wd) }, (_, i) => (i % 3 === 0 ? -wMax : i % 3 === 1 ? wMax : int(r, -wMax, wMax)));
        const bias = Float64Array.from({ length: wd[0]! }, () => int(r, -(2 ** 30), 2 ** 30));
        const got = await kernels()!.convField({ dims: xd, data: x }, { dims: wd, data: w }, attrs, bias);
        assert.equal(mismatches(got.data, convRef(xd, x, wd, w, attrs, bias).data), 0, JSON.stringify([xd, wd, attrs]));
      }
    });
  });
}

describe('choosing a path', () => {
  it("'auto' times the integer GEMM against float64 on a layer's first call and keeps the faster", async () => {
    const auto = paths.auto;
    const w = Float64Array.from({ length: 8 * 4 * 9 }, (_, i) => (i % 255) - 127);
    const x = Float64Array.from({ length: 2 * 4 * 6 * 6 }, (_, i) => (i * 7919) % P);
    const attrs: ConvAttrs = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
    const got = await auto.convField({ dims: [2, 4, 6, 6], data: x }, { dims: [8, 4, 3, 3], data: w }, attrs);
    assert.equal(mismatches(got.data, convRef([2, 4, 6, 6], x, [8, 4, 3, 3], w, attrs).data), 0);
    const want: (OrtKernelPath | undefined)[] = auto.path.startsWith('int-gemm') ? [auto.path, 'f64'] : [undefined];
    assert.ok(want.includes(auto.chosen(w)), `chosen ${auto.chosen(w)}`);
    auto.release(w);
    assert.equal(auto.chosen(w), undefined);
  });

  it('SLALOM_ORT_KERNEL forces a path; an unknown one is a one-line error', async () => {
    const saved = process.env['SLALOM_ORT_KERNEL'];
    try {
      process.env['SLALOM_ORT_KERNEL'] = 'f64';
      const k = await OrtExactKernels.create();
      assert.equal(k.path, 'f64');
      assert.match(k.device, /^CPU, ort kernels \(f64: /);
      await k.close();
      process.env['SLALOM_ORT_KERNEL'] = 'fastest';
      await assert.rejects(OrtExactKernels.create(), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'SLALOM_ERR_INVALID_ARG' && /SLALOM_ORT_KERNEL/.test(e.message));
    } finally {
      if (saved === undefined) delete process.env['SLALOM_ORT_KERNEL'];
      else process.env['SLALOM_ORT_KERNEL'] = saved;
    }
  });
});
