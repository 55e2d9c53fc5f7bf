/**
 * conv2d / convField (src/kernels/conv.ts, field.ts) against the BigInt reference on random shapes
 * (strides 1–3, asymmetric pads, dilations 1–2, groups incl. depthwise and pointwise, batch > 1) and
 * at the exactness bound of prime.ts (x = ±(p − 1), weight rows with L1 = MAX_WEIGHT_L1, the largest
 * bias allowed); the float path against onnxruntime's fp32 Conv; weightRowL1 and assertExact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { MAX_EXACT, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { conv2d, convOutputDims } from '../../src/kernels/conv.js';
import { assertExact, convField, weightRowL1 } from '../../src/kernels/field.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { singleNodeModel } from '../../src/onnx/single-node.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { convRef } from '../reference/bigint.js';
import { rng, int, size } from '../helpers/random.js';


interface ConvCase {
  x: number[];
  w: number[];
  attrs: ConvAttrs;
}

/** A random valid convolution: about a third grouped, a sixth depthwise, a sixth pointwise. */
function randomCase(r: () => number): ConvCase {
  const kind = int(r, 0, 5);
  const n = int(r, 1, 3);
  let group = 1;
  let cg = int(r, 1, 5);
  let mg = int(r, 1, 5);
  if (kind === 1 || kind === 2) {
    group = int(r, 2, 3);
  } else if (kind === 3) {
    group = int(r, 1, 6); // depthwise, channel multiplier 1 or 2
    cg = 1;
    mg = int(r, 1, 2);
  }
  const c = cg * group;
  const m = mg * group;
  if (kind === 4) {
    const h = int(r, 1, 7);
    const w = int(r, 1, 7);
    return { x: [n, c, h, w], w: [m, cg, 1, 1], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group } };
  }
  for (;;) {
    const kH = int(r, 1, 3);
    const kW = int(r, 1, 3);
    const attrs: ConvAttrs = {
      strides: [int(r, 1, 3), int(r, 1, 3)],
      pads: [int(r, 0, 2), int(r, 0, 2), int(r, 0, 2), int(r, 0, 2)],
      dilations: [int(r, 1, 2), int(r, 1, 2)],
      group,
    };
    const x = [n, c, int(r, 1, 9), int(r, 1, 9)];
    const wd = [m, cg, kH, kW];
    try {
      convOutputDims(x, wd, attrs);
      return { x, w: wd, attrs };
    } catch {
      // kernel larger than the padded input: draw again
    }
  }
}

function fill(r: () => number, dims: readonly number[], lo: number, hi: number): Tensor {
  const data = new Float64Array(size(dims));
  for (let i = 0; i < data.length; i++) data[i] = int(r, lo, hi);
  return { dims: [...dims], data };
}

function mismatches(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) bad++;
  return bad;
}

/**
 * Conv weights whose every output row has L1 norm exactly `l1`, with row signs: all +, all −,
 * alternating, random.
 */
function boundConvWeights(r: () => number, dims: readonly number[], l1: number): Tensor {
  const m = dims[0]!;
  const per = size(dims) / m;
  const base = Math.floor(l1 / per);
  const extra = l1 - base * per;
  const data = new Float64Array(m * per);
  for (let o = 0; o < m; o++) {
    for (let i = 0; i < per; i++) {
      const mag = base + (i < extra ? 1 : 0);
      const pattern = o % 4;
      const sign = pattern === 0 ? 1 : pattern === 1 ? -1 : pattern === 2 ? (i % 2 === 0 ? 1 : -1) : r() < 0.5 ? 1 : -1;
      data[o * per + i] = sign * mag;
    }
  }
  return { dims: [...dims], data };
}

test('convField matches the BigInt reference on random shapes (0 mismatches)', () => {
  const r = rng(11);
  let outputs = 0;
  for (let t = 0; t < 150; t++) {
    const c = randomCase(r);
    const x = t % 2 === 0 ? fill(r, c.x, 0, P - 1) : fill(r, c.x, -(P - 1), P - 1);
    const wMax = t % 3 === 0 ? 127 : 100_000;
    const w = fill(r, c.w, -wMax, wMax);
    const bias = t % 4 === 3 ? undefined : fill(r, [c.w[0]!], -(2 ** 40), 2 ** 40).data;
    const got = convField(x, w, c.attrs, bias);
    const ref = convRef(c.x, x.data, c.w, w.data, c.attrs, bias);
    assert.deepEqual(got.dims, ref.dims, `case ${t}: ${JSON.stringify(c)}`);
    assert.equal(mismatches(got.data, ref.data), 0, `case ${t}: ${JSON.stringify(c)}`);
    outputs += got.data.length;
  }
  assert.ok(outputs > 1000);
});

test('convField is exact at the bound: x = ±(p − 1), row L1 = MAX_WEIGHT_L1, largest bias', () => {
  const r = rng(12);
  const maxBias = MAX_EXACT - (P - 1) * MAX_WEIGHT_L1;
  const shapes: ConvCase[] = [
    { x: [1, 3, 4, 5], w: [4, 3, 3, 3], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } },
    { x: [2, 4, 5, 5], w: [8, 2, 2, 3], attrs: { strides: [2, 1], pads: [1, 0, 0, 2], dilations: [1, 2], group: 2 } },
    { x: [1, 4, 6, 6], w: [8, 1, 3, 3], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 4 } },
    { x: [2, 8, 3, 3], w: [4, 8, 1, 1], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } },
  ];
  for (const c of shapes) {
    const w = boundConvWeights(r, c.w, MAX_WEIGHT_L1);
    assert.equal(weightRowL1(w, 'conv'), MAX_WEIGHT_L1);
    assertExact(w, 'conv', maxBias, 'bound');
    const bias = Float64Array.from({ length: c.w[0]! }, (_, i) => (i % 2 === 0 ? maxBias : -maxBias));
    for (const xv of [P - 1, -(P - 1)]) {
      const x: Tensor = { dims: c.x, data: new Float64Array(size(c.x)).fill(xv) };
      const got = convField(x, w, c.attrs, bias);
      const ref = convRef(c.x, x.data, c.w, w.data, c.attrs, bias);
      assert.equal(mismatches(got.data, ref.data), 0, JSON.stringify(c));
    }
    // the raw (unreduced) sum reaches ±(2^53 − 1) exactly where every tap lands on x
    if (c.attrs.pads.every((p) => p === 0) && c.attrs.group === 1) {
      const x: Tensor = { dims: c.x, data: new Float64Array(size(c.x)).fill(P - 1) };
      const z = conv2d(x, w, c.attrs, bias);
      assert.equal(z.data[0], MAX_EXACT);
      assert.equal(z.data[size(z.dims.slice(2))], -MAX_EXACT);
    }
  }
});

test('convField over several im2col chunks matches the reference', () => {
  const r = rng(13);
  const c: ConvCase = { x: [1, 32, 34, 33], w: [2, 32, 3, 3], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 } };
  const x = fill(r, c.x, 0, P - 1);
  const w = fill(r, c.w, -128, 127);
  const bias = Float64Array.of(5, -7);
  const got = convField(x, w, c.attrs, bias);
  const ref = convRef(c.x, x.data, c.w, w.data, c.attrs, bias);
  assert.equal(mismatches(got.data, ref.data), 0);
});

test('weightRowL1 and assertExact reject a layer over the bound', () => {
  const w: Tensor = { dims: [2, 1, 1, 3], data: Float64Array.of(1, -2, 3, -4, 0, 4) };
  assert.equal(weightRowL1(w, 'conv'), 8);
  const g: Tensor = { dims: [3, 2], data: Float64Array.of(1, -5, -2, 0, 3, 1) };
  assert.equal(weightRowL1(g, 'gemm'), 6);

  const r = rng(14);
  const over = boundConvWeights(r, [4, 3, 3, 3], MAX_WEIGHT_L1 + 1);
  assert.throws(
    () => assertExact(over, 'conv', 0, 'conv7'),
    (e: unknown) => (e as { code?: string }).code === 'SLALOM_ERR_OVERFLOW' && (e as { layer?: string }).layer === 'conv7',
  );
  const at = boundConvWeights(r, [4, 3, 3, 3], MAX_WEIGHT_L1);
  assertExact(at, 'conv', MAX_EXACT - (P - 1) * MAX_WEIGHT_L1, 'conv7');
  assert.throws(() => assertExact(at, 'conv', MAX_EXACT - (P - 1) * MAX_WEIGHT_L1 + 1, 'conv7'), { code: 'SLALOM_ERR_OVERFLOW' });
  assert.throws(() => assertExact({ dims: [1, 1, 1, 1], data: Float64Array.of(0.5) }, 'conv', 0, 'c'), { code: 'SLALOM_ERR_INVALID_ARG' });
});

test('conv2d rejects inconsistent shapes with InvalidArgumentError', () => {
  const a: ConvAttrs = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 };
  const x: Tensor = { dims: [1, 4, 5, 5], data: new Float64Array(100) };
  const bad: [readonly number[], ConvAttrs][] = [
    [[2, 3, 3, 3], a], // channel mismatch
    [[3, 2, 3, 3], { ...a, group: 2 }], // group does not divide M
    [[2, 1, 3, 3], { ...a, group: 3 }], // group does not divide C
    [[2, 4, 6, 3], a], // kernel taller than the input: output height 0
    [[2, 4, 3, 3], { ...a, dilations: [3, 1] }], // dilated kernel too tall
    [[2, 4, 3, 3], { ...a, strides: [0, 1] }],
    [[2, 4, 3, 3], { ...a, pads: [-1, 0, 0, 0] }],
    [[2, 4, 3], a],
  ];
  for (const [wd, attrs] of bad) {
    const w: Tensor = { dims: wd, data: new Float64Array(size(wd)) };
    assert.throws(() => conv2d(x, w, attrs), { code: 'SLALOM_ERR_INVALID_ARG' }, `w ${wd.join('×')} ${JSON.stringify(attrs)}`);
  }
  const w: Tensor = { dims: [2, 4, 3, 3], data: new Float64Array(72) };
  assert.throws(() => conv2d(x, w, a, new Float64Array(3)), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.throws(() => conv2d({ dims: [1, 4, 5, 5], data: new Float64Array(99) }, w, a), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.deepEqual(convOutputDims([1, 4, 5, 5], [2, 4, 3, 3], { ...a, pads: [1, 0, 2, 1], strides: [2, 2] }), [1, 2, 3, 2]);
});

test('float conv2d agrees with onnxruntime fp32 Conv', async () => {
  const r = rng(15);
  const cases: ConvCase[] = [
    { x: [2, 6, 11, 9], w: [4, 3, 3, 2], attrs: { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2], group: 2 } },
    { x: [1, 5, 8, 8], w: [10, 1, 3, 3], attrs: { strides: [1, 2], pads: [1, 1, 1, 1], dilations: [2, 1], group: 5 } },
    { x: [3, 16, 7, 6], w: [8, 16, 1, 1], attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } },
    { x: [1, 24, 14, 14], w: [9, 24, 3, 3], attrs: { strides: [3, 3], pads: [0, 2, 1, 0], dilations: [1, 1], group: 1 } },
  ];
  for (const c of cases) {
    const x = { dims: c.x, data: Float64Array.from({ length: size(c.x) }, () => Math.fround(r() * 2 - 1)) };
    const w = { dims: c.w, data: Float64Array.from({ length: size(c.w) }, () => Math.fround(r() * 2 - 1)) };
    const bias = Float64Array.from({ length: c.w[0]! }, () => Math.fround(r() - 0.5));
    const session = await ort.InferenceSession.create(
      singleNodeModel({
        op: 'Conv',
        inputs: [
          { name: 'X', elemType: 'float', dims: c.x },
          { name: 'W', elemType: 'float', dims: c.w },
          { name: 'B', elemType: 'float', dims: [c.w[0]!] },
        ],
        outputs: [{ name: 'Y', elemType: 'float', dims: ['n', 'm', 'oh', 'ow'] }],
        attrs: { strides: c.attrs.strides, pads: c.attrs.pads, dilations: c.attrs.dilations, group: c.attrs.group },
      }),
    );
    try {
      const res = await session.run({
        X: new ort.Tensor('float32', Float32Array.from(x.data), c.x),
        W: new ort.Tensor('float32', Float32Array.from(w.data), c.w),
        B: new ort.Tensor('float32', Float32Array.from(bias), [c.w[0]!]),
      });
      const want = res.Y!;
      const got = conv2d(x, w, c.attrs, bias);
      assert.deepEqual(got.dims, [...want.dims], JSON.stringify(c));
      const wantData = want.data as Float32Array;
      for (let i = 0; i < got.data.length; i++) {
        assert.ok(Math.abs(got.data[i]! - wantData[i]!) <= 1e-4 * (1 + Math.abs(wantData[i]!)), `${JSON.stringify(c)} at ${i}: ${got.data[i]} vs ${wantData[i]}`);
      }
    } finally {
      await session.release();
    }
  }
});
