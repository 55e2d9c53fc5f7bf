/**
 * OrtExactKernels (src/kernels/ort-exact.ts) against the BigInt reference: random layers through
 * every path, each forced in turn where this CPU's probe passes (integer GEMM over 8- and 7-bit limbs,
 * byte-plane ConvInteger, float64 MatMul with and without im2col; depthwise in JS) and 'auto', and
 * worst-case magnitudes: x = ±(p − 1) with weights at −128/127 over the largest byte-plane fan-in,
 * and weight rows at MAX_WEIGHT_L1 with the largest bias (outputs at ±(2^53 − 1)). The integer
 * GEMM's own worst cases (K at its split boundary, wide weights in limbs) are in ort-int-gemm.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_EXACT, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import { convField } from '../../src/kernels/field.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { MAX_BYTE_PLANE_K, OrtExactKernels } from '../../src/kernels/ort-exact.js';
import { openOrtPaths } from '../helpers/ort-paths.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { convRef, gemmRef } from '../reference/bigint.js';
import { rng, int, size } from '../helpers/random.js';


function fill(r: () => number, dims: readonly number[], lo: number, hi: number): Tensor {
  const data = new Float64Array(size(dims));
  for (let i = 0; i < data.length; i++) data[i] = int(r, lo, hi);
  return { dims: [...dims], data };
}

function mismatches(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || Object.is(a[i], -0)) bad++;
  return bad;
}

interface ConvCase {
  x: number[];
  w: number[];
  attrs: ConvAttrs;
}

function randomCase(r: () => number): ConvCase {
  const kind = int(r, 0, 5);
  const n = int(r, 1, 2);
  let group = kind === 1 ? int(r, 2, 3) : 1;
  let cg = int(r, 1, 6);
  let mg = int(r, 1, 5);
  if (kind === 3) {
    group = int(r, 1, 4);
    cg = 1;
    mg = int(r, 1, 2);
  }
  const c = cg * group;
  const m = mg * group;
  if (kind === 4) {
    return { x: [n, c, int(r, 1, 6), int(r, 1, 6)], w: [m, cg, 1, 1], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group } };
  }
  for (;;) {
    const attrs: ConvAttrs = {
      strides: [int(r, 1, 3), int(r, 1, 3)],
      pads: [int(r, 0, 2), int(r, 0, 2), int(r, 0, 2), int(r, 0, 2)],
      dilations: [int(r, 1, 2), int(r, 1, 2)],
      group,
    };
    const x = [n, c, int(r, 1, 8), int(r, 1, 8)];
    const wd = [m, cg, int(r, 1, 3), int(r, 1, 3)];
    try {
      convOutputDims(x, wd, attrs);
      return { x, w: wd, attrs };
    } catch {
      // draw again
    }
  }
}

let auto: OrtExactKernels;
/** 'auto' and every path this CPU's probes allow, forced (byte planes with two threads). */
let all: OrtExactKernels[];

before(async () => {
  const paths = await openOrtPaths({ 'byte-planes': { threads: 2 } });
  auto = paths.auto;
  all = [auto, ...paths.forced.values()];
});

after(async () => {
  await Promise.all(all.map((k) => k.close()));
});

test('convField matches the BigInt reference on random layers, every path (0 mismatches)', async () => {
  const r = rng(31);
  for (let t = 0; t < 72; t++) {
    const c = randomCase(r);
    const x = t % 2 === 0 ? fill(r, c.x, 0, P - 1) : fill(r, c.x, -(P - 1), P - 1);
    const wMax = t % 3 === 2 ? 50_000 : 127; // int8 weights take the byte planes
    const w = fill(r, c.w, t % 3 === 1 ? -128 : -wMax, wMax);
    const bias = t % 4 === 3 ? undefined : Float64Array.from({ length: c.w[0]! }, () => int(r, -(2 ** 40), 2 ** 40));
    const ref = convRef(c.x, x.data, c.w, w.data, c.attrs, bias);
    const kernels = all[(t + Math.floor(t / 3)) % all.length]!;
    const got = await kernels.convField(x, w, c.attrs, bias);
    assert.deepEqual(got.dims, ref.dims, `case ${t}: ${JSON.stringify(c)}`);
    assert.equal(mismatches(got.data, ref.data), 0, `case ${t}: ${JSON.stringify(c)}`);
  }
});

test('byte planes are exact at the worst case: x = p − 1, w = −128 / 127, largest fan-in', async () => {
  const r = rng(32);
  const cases: [ConvCase, number][] = [
    [{ x: [1, 512, 3, 3], w: [4, 512, 3, 3], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } }, 0],
    [{ x: [2, 64, 4, 4], w: [6, 32, 3, 3], attrs: { strides: [1, 2], pads: [1, 0, 1, 2], dilations: [1, 1], group: 2 } }, 0],
    [{ x: [1, MAX_BYTE_PLANE_K, 1, 2], w: [3, MAX_BYTE_PLANE_K, 1, 1], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } }, 0],
    // one past the byte-plane fan-in: falls back to float64
    [{ x: [1, MAX_BYTE_PLANE_K + 1, 1, 1], w: [2, MAX_BYTE_PLANE_K + 1, 1, 1], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } }, 0],
  ];
  for (const [c] of cases) {
    const m = c.w[0]!;
    const per = size(c.w) / m;
    const w: Tensor = { dims: c.w, data: new Float64Array(size(c.w)) };
    for (let o = 0; o < m; o++) {
      for (let i = 0; i < per; i++) w.data[o * per + i] = o % 3 === 0 ? 127 : o % 3 === 1 ? -128 : r() < 0.5 ? 127 : -128;
    }
    const bias = Float64Array.from({ length: m }, (_, i) => (i % 2 ? 2 ** 40 : -(2 ** 40)));
    for (const xv of [P - 1, -(P - 1), 'mixed'] as const) {
      const x: Tensor = { dims: c.x, data: new Float64Array(size(c.x)) };
      for (let i = 0; i < x.data.length; i++) x.data[i] = xv === 'mixed' ? (r() < 0.5 ? P - 1 : 2 ** 24 - 256 * int(r, 1, 3)) : xv;
      const ref = convRef(c.x, x.data, c.w, w.data, c.attrs, bias);
      for (const k of all) {
        const got = await k.convField(x, w, c.attrs, bias);
        assert.equal(mismatches(got.data, ref.data), 0, `${JSON.stringify(c.w)} x=${xv}`);
      }
    }
  }
});

test('float64 path is exact with outputs at ±(2^53 − 1) (row L1 = MAX_WEIGHT_L1, largest bias)', async () => {
  const maxBias = MAX_EXACT - (P - 1) * MAX_WEIGHT_L1;
  const c: ConvCase = { x: [1, 3, 5, 4], w: [4, 3, 2, 2], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } };
  const per = 12;
  const base = Math.floor(MAX_WEIGHT_L1 / per);
  const w: Tensor = { dims: c.w, data: new Float64Array(4 * per) };
  for (let o = 0; o < 4; o++) {
    for (let i = 0; i < per; i++) {
      const mag = base + (i < MAX_WEIGHT_L1 - base * per ? 1 : 0);
      w.data[o * per + i] = (o === 1 || (o === 2 && i % 2 === 1) ? -1 : 1) * mag;
    }
  }
  const bias = Float64Array.of(maxBias, -maxBias, maxBias, -maxBias);
  for (const xv of [P - 1, -(P - 1)]) {
    const x: Tensor = { dims: c.x, data: new Float64Array(size(c.x)).fill(xv) };
    const ref = convRef(c.x, x.data, c.w, w.data, c.attrs, bias);
    for (const k of all) assert.equal(mismatches((await k.convField(x, w, c.attrs, bias)).data, ref.data), 0);
  }
  // the same at the gemm bound
  const k = 5;
  const gw = new Float64Array(k * 3);
  for (let i = 0; i < k; i++) {
    const mag = Math.floor(MAX_WEIGHT_L1 / k) + (i < MAX_WEIGHT_L1 % k ? 1 : 0);
    gw[i * 3] = mag;
    gw[i * 3 + 1] = -mag;
    gw[i * 3 + 2] = i % 2 ? mag : -mag;
  }
  const gb = Float64Array.of(maxBias, -maxBias, 7);
  for (const xv of [P - 1, -(P - 1)]) {
    const gx = new Float64Array(2 * k).fill(xv);
    for (const kk of all) {
      const got = await kk.gemmField({ dims: [2, k], data: gx }, { dims: [k, 3], data: gw }, gb);
      assert.equal(mismatches(got.data, gemmRef(2, k, 3, gx, gw, gb)), 0, kk.path);
    }
  }
});

test('chunked float64 im2col over several images matches the JS kernel', async () => {
  const r = rng(33);
  // group·K·OW·OH > 2^21 elements: several chunks of output rows per image
  const c: ConvCase = { x: [2, 64, 70, 70], w: [3, 64, 3, 3], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 } };
  const x = fill(r, c.x, 0, P - 1);
  const w = fill(r, c.w, -1000, 1000);
  const bias = Float64Array.of(1, -2, 3);
  const want = convField(x, w, c.attrs, bias);
  for (const k of all) assert.equal(mismatches((await k.convField(x, w, c.attrs, bias)).data, want.data), 0, k.path);
});

test('gemmField matches the BigInt reference on random shapes', async () => {
  const r = rng(34);
  for (let t = 0; t < 40; t++) {
    const b = int(r, 1, 4);
    const k = int(r, 1, 80);
    const n = int(r, 1, 50);
    const x = fill(r, [b, k], t % 2 ? -(P - 1) : 0, P - 1);
    const w = fill(r, [k, n], -100_000, 100_000);
    const bias = t % 3 === 0 ? undefined : Float64Array.from({ length: n }, () => int(r, -(2 ** 40), 2 ** 40));
    const got = await all[t % all.length]!.gemmField(x, w, bias);
    assert.deepEqual(got.dims, [b, n]);
    assert.equal(mismatches(got.data, gemmRef(b, k, n, x.data, w.data, bias)), 0, `case ${t}`);
  }
});

test('inputs on a SharedArrayBuffer are accepted; misuse is rejected', async () => {
  const r = rng(35);
  const c: ConvCase = { x: [1, 3, 5, 5], w: [2, 3, 3, 3], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 } };
  const shared = (t: Tensor): Tensor => {
    const data = new Float64Array(new SharedArrayBuffer(t.data.byteLength));
    data.set(t.data);
    return { dims: t.dims, data };
  };
  const x = fill(r, c.x, 0, P - 1);
  for (const w of [fill(r, c.w, -128, 127), fill(r, c.w, -5000, 5000)]) {
    const ref = convRef(c.x, x.data, c.w, w.data, c.attrs);
    for (const k of all) assert.equal(mismatches((await k.convField(shared(x), shared(w), c.attrs)).data, ref.data), 0);
  }
  const gx = fill(r, [2, 4], 0, P - 1);
  const gw = fill(r, [4, 3], -9, 9);
  for (const k of all) assert.equal(mismatches((await k.gemmField(shared(gx), shared(gw))).data, gemmRef(2, 4, 3, gx.data, gw.data)), 0);

  await assert.rejects(auto.convField(x, { dims: [2, 4, 3, 3], data: new Float64Array(72) }, c.attrs), { code: 'SLALOM_ERR_INVALID_ARG' });
  await assert.rejects(auto.gemmField(gx, { dims: [5, 3], data: new Float64Array(15) }), { code: 'SLALOM_ERR_INVALID_ARG' });
  await assert.rejects(OrtExactKernels.create({ threads: 0 }), { code: 'SLALOM_ERR_INVALID_ARG' });
  const closed = await OrtExactKernels.create({ path: 'f64' });
  await closed.close();
  await closed.close();
  await assert.rejects(closed.gemmField(gx, gw), { code: 'SLALOM_ERR_INVALID_ARG' });
});
