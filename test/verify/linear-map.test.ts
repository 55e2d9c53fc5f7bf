/**
 * The pieces Freivalds' checks are built from (src/verify/linear-map.ts) against straightforward
 * BigInt computations (docs/design.md §3): collapse (V = W·r), combineOutputs (Y·r per pixel),
 * applyCollapsed (conv(X, V), exact through limb splitting) and transposeCollapsed (T = convᵀ(s ⊗ V)),
 * on random small layers — strides 1–3, asymmetric pads, dilation 2, groups (depthwise, depthwise with
 * multiplier, grouped 2), pointwise, Gemm — at the worst-case residues (p − 1 everywhere, r = p − 1,
 * weights at their largest magnitude) and at large fan-ins (C·k² = 4608; a Gemm with K = 25088) where
 * applyCollapsed has to split V into limbs. Also the two identities the checks rest on:
 * Y·r = conv(X, W·r) for Y = conv(X, W), and ⟨X, T⟩ = Σ_o s_o·conv(X, V)[o] mod p.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MAX_EXACT, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { tensor } from '../../src/tensor/tensor.js';
import { applyCollapsed, collapse, combineOutputs, linearMap, transposeCollapsed, type LinearMap } from '../../src/verify/linear-map.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { convRef, gemmRef, modBig } from '../reference/bigint.js';

const BP = BigInt(P);

// ---------------------------------------------------------------------------------------------
// Layers and data

interface ConvSpec {
  readonly label: string;
  readonly x: readonly [number, number, number, number]; // [N, C, H, W]
  readonly w: readonly [number, number, number, number]; // [M, C/g, kH, kW]
  readonly attrs: ConvAttrs;
}

interface GemmSpec {
  readonly label: string;
  readonly b: number;
  readonly k: number;
  readonly n: number;
}

function attrs(strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], group = 1): ConvAttrs {
  return { strides, pads, dilations, group };
}

const CONV_SPECS: readonly ConvSpec[] = [
  { label: 'stride 1, pad 1', x: [2, 3, 6, 6], w: [4, 3, 3, 3], attrs: attrs([1, 1], [1, 1, 1, 1]) },
  { label: 'stride 2, asymmetric pads, 3×2 kernel', x: [2, 2, 7, 5], w: [3, 2, 3, 2], attrs: attrs([2, 2], [0, 1, 2, 1]) },
  { label: 'stride 3, asymmetric pads, dilation 2', x: [1, 3, 9, 9], w: [2, 3, 3, 3], attrs: attrs([3, 3], [2, 0, 1, 3], [2, 2]) },
  { label: 'strides (1, 2), dilations (2, 1)', x: [2, 2, 8, 7], w: [3, 2, 3, 3], attrs: attrs([1, 2], [1, 2, 0, 1], [2, 1]) },
  { label: 'depthwise (group = C), stride 2', x: [2, 4, 7, 7], w: [4, 1, 3, 3], attrs: attrs([2, 2], [1, 1, 1, 1], [1, 1], 4) },
  { label: 'depthwise with multiplier 2 (C = 3, M = 6)', x: [1, 3, 5, 6], w: [6, 1, 3, 3], attrs: attrs([1, 1], [1, 0, 1, 2], [1, 1], 3) },
  { label: 'grouped (group 2), dilation 2', x: [2, 4, 8, 8], w: [6, 2, 3, 3], attrs: attrs([1, 1], [2, 2, 2, 2], [2, 2], 2) },
  { label: 'grouped (group 2), stride 3', x: [1, 6, 9, 8], w: [4, 3, 2, 2], attrs: attrs([3, 3], [0, 1, 1, 0], [1, 1], 2) },
  { label: 'pointwise 1×1', x: [3, 5, 4, 4], w: [7, 5, 1, 1], attrs: attrs([1, 1], [0, 0, 0, 0]) },
  { label: 'pointwise 1×1, stride 2', x: [1, 4, 5, 5], w: [3, 4, 1, 1], attrs: attrs([2, 2], [0, 0, 0, 0]) },
  { label: 'depthwise 1×1 with multiplier 3 (fan-in 1: |w| up to MAX_WEIGHT_L1)', x: [2, 2, 3, 3], w: [6, 1, 1, 1], attrs: attrs([1, 1], [0, 0, 0, 0], [1, 1], 2) },
  { label: 'kernel as large as the padded input', x: [1, 2, 3, 3], w: [2, 2, 5, 5], attrs: attrs([1, 1], [1, 1, 1, 1]) },
];

const GEMM_SPECS: readonly GemmSpec[] = [
  { label: 'gemm 2×10 · 10×6', b: 2, k: 10, n: 6 },
  { label: 'gemm 3×33 · 33×1', b: 3, k: 33, n: 1 },
  { label: 'gemm 1×1 · 1×40', b: 1, k: 1, n: 40 },
];

function convLayer(spec: ConvSpec, w: Float64Array): QuantizedLayer {
  const outDims = convOutputDims(spec.x, spec.w, spec.attrs);
  return {
    index: 0,
    name: `conv ${spec.label}`,
    op: 'Conv',
    conv: { ...spec.attrs, kernel: [spec.w[2], spec.w[3]] },
    inDims: [...spec.x],
    outDims,
    w: tensor(spec.w, w),
  } as unknown as QuantizedLayer;
}

function gemmLayer(spec: GemmSpec, w: Float64Array): QuantizedLayer {
  return { index: 0, name: spec.label, op: 'Gemm', inDims: [spec.b, spec.k], outDims: [spec.b, spec.n], w: tensor([spec.k, spec.n], w) } as unknown as QuantizedLayer;
}

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function residues(rng: Rng, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.nextI32() >>> 0) % P;
  // Make sure the extremes are always present.
  if (n > 0) out[0] = P - 1;
  if (n > 1) out[n - 1] = 0;
  return out;
}

function ints(rng: Rng, n: number, max: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((rng.nextI32() >>> 0) % (2 * max + 1)) - max;
  return out;
}

const filled = (n: number, v: number): Float64Array => new Float64Array(n).fill(v);

// ---------------------------------------------------------------------------------------------
// BigInt references, written from the definitions (not from linear-map.ts)

/** V[c, kh, kw] = Σ_{m in c's group} r_m·W[m, c mod C/g, kh, kw] (Conv); V[k] = Σ_j W[k, j]·r_j (Gemm). */
function collapseRef(layer: QuantizedLayer, r: Float64Array): Float64Array {
  const wd = layer.w.data;
  if (layer.op === 'Gemm') {
    const [k, n] = layer.w.dims as [number, number];
    const v = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      let acc = 0n;
      for (let j = 0; j < n; j++) acc += BigInt(wd[i * n + j]!) * BigInt(r[j]!);
      v[i] = modBig(acc);
    }
    return v;
  }
  const [m, cg, kH, kW] = layer.w.dims as [number, number, number, number];
  const group = layer.conv!.group;
  const c = cg * group;
  const mg = m / group;
  const v = new Float64Array(c * kH * kW);
  for (let ch = 0; ch < c; ch++) {
    const grp = Math.floor(ch / cg);
    const ci = ch % cg;
    for (let t = 0; t < kH * kW; t++) {
      let acc = 0n;
      for (let mi = 0; mi < mg; mi++) {
        const om = grp * mg + mi;
        acc += BigInt(r[om]!) * BigInt(wd[(om * cg + ci) * kH * kW + t]!);
      }
      v[ch * kH * kW + t] = modBig(acc);
    }
  }
  return v;
}

/** Σ_m r_m·Y[n, m, o] for every item n and pixel o. */
function combineRef(y: Float64Array, items: number, channels: number, pixels: number, r: Float64Array): Float64Array {
  const out = new Float64Array(items * pixels);
  for (let n = 0; n < items; n++) {
    for (let o = 0; o < pixels; o++) {
      let acc = 0n;
      for (let m = 0; m < channels; m++) acc += BigInt(y[(n * channels + m) * pixels + o]!) * BigInt(r[m]!);
      out[n * pixels + o] = modBig(acc);
    }
  }
  return out;
}

/** conv(X, V) with V as one output channel over all C input channels (group 1); Gemm: X·V. */
function applyRef(layer: QuantizedLayer, x: Float64Array, v: Float64Array): Float64Array {
  const items = layer.inDims[0]!;
  if (layer.op === 'Gemm') return gemmRef(items, layer.inDims[1]!, 1, x, v);
  const [, cg, kH, kW] = layer.w.dims as [number, number, number, number];
  const c = cg * layer.conv!.group;
  return convRef(layer.inDims, x, [1, c, kH, kW], v, { ...layer.conv!, group: 1 }).data;
}

/** T[c, ih, iw] = Σ over (o, kh, kw) reading X[c, ih, iw] of s_o·V[c, kh, kw], by brute force. */
function transposeRef(map: LinearMap, s: Float64Array, v: Float64Array): Float64Array {
  const g = map.g;
  const acc: bigint[] = Array.from({ length: g.c * g.h * g.w }, () => 0n);
  for (let c = 0; c < g.c; c++) {
    for (let oh = 0; oh < g.oh; oh++) {
      for (let ow = 0; ow < g.ow; ow++) {
        for (let kh = 0; kh < g.kH; kh++) {
          for (let kw = 0; kw < g.kW; kw++) {
            const ih = oh * g.sH - g.padTop + kh * g.dH;
            const iw = ow * g.sW - g.padLeft + kw * g.dW;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            acc[(c * g.h + ih) * g.w + iw]! += BigInt(s[oh * g.ow + ow]!) * BigInt(v[(c * g.kH + kh) * g.kW + kw]!);
          }
        }
      }
    }
  }
  return Float64Array.from(acc, (a) => modBig(a));
}

/** The true layer output Y = f(X) mod p. */
function layerRef(layer: QuantizedLayer, x: Float64Array): Float64Array {
  if (layer.op === 'Gemm') return gemmRef(layer.inDims[0]!, layer.w.dims[0]!, layer.w.dims[1]!, x, layer.w.data);
  return convRef(layer.inDims, x, layer.w.dims, layer.w.data, layer.conv!).data;
}

function dotRef(a: Float64Array, aOff: number, b: Float64Array, bOff: number, n: number): number {
  let acc = 0n;
  for (let i = 0; i < n; i++) acc += BigInt(a[aOff + i]!) * BigInt(b[bOff + i]!);
  return modBig(acc);
}

function assertResidues(actual: Float64Array, what: string): void {
  for (let i = 0; i < actual.length; i++) {
    const v = actual[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < P)) assert.fail(`${what}: value ${v} at ${i} is not a canonical residue`);
  }
}

function assertSame(actual: Float64Array, expected: Float64Array, what: string): void {
  assertResidues(actual, what);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: index ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The whole battery on one layer

interface Data {
  x: Float64Array;
  y: Float64Array;
  r: Float64Array;
  s: Float64Array;
  v: Float64Array;
}

function battery(layer: QuantizedLayer, data: Data, label: string): void {
  const map = linearMap(layer);
  const items = layer.inDims[0]!;
  const pixels = map.g.oh * map.g.ow;
  assert.equal(map.inSize * items, data.x.length, `${label}: inSize`);
  assert.equal(map.outSize * items, size(layer.outDims), `${label}: outSize`);

  const v = collapse(map, data.r);
  assertSame(v, collapseRef(layer, data.r), `${label}: collapse`);

  assertSame(combineOutputs(map, Uint32Array.from(data.y), data.r), combineRef(data.y, items, map.g.m, pixels, data.r), `${label}: combineOutputs`);

  // applyCollapsed on an arbitrary V (here: the given one, often all p − 1) and on W·r.
  assertSame(applyCollapsed(map, Uint32Array.from(data.x), data.v), applyRef(layer, data.x, data.v), `${label}: applyCollapsed(arbitrary V)`);
  const xv = applyCollapsed(map, Uint32Array.from(data.x), v);
  assertSame(xv, applyRef(layer, data.x, v), `${label}: applyCollapsed(W·r)`);

  // The fresh check's identity: Y·r = conv(X, W·r) when Y = conv(X, W).
  const y = layerRef(layer, data.x);
  assertSame(combineOutputs(map, Uint32Array.from(y), data.r), xv, `${label}: Y·r = conv(X, W·r)`);

  // The preprocessed check's identity: ⟨X_n, T⟩ = Σ_o s_o·conv(X_n, V)[o] = sᵀ·Y_n·r.
  for (const vv of [v, data.v]) {
    const t = transposeCollapsed(map, data.s, vv);
    assertSame(t, transposeRef(map, data.s, vv), `${label}: transposeCollapsed`);
    const conv = applyRef(layer, data.x, vv);
    for (let n = 0; n < items; n++) {
      assert.equal(dotRef(data.x, n * map.inSize, t, 0, map.inSize), dotRef(conv, n * pixels, data.s, 0, pixels), `${label}: ⟨X_${n}, T⟩ = Σ s_o·conv(X_${n}, V)[o]`);
    }
  }
}

function randomData(layer: QuantizedLayer, map: LinearMap, rng: Rng): Data {
  return {
    x: residues(rng, size(layer.inDims)),
    y: residues(rng, size(layer.outDims)),
    r: residues(rng, map.g.m),
    s: residues(rng, map.g.oh * map.g.ow),
    v: residues(rng, map.g.c * map.g.kH * map.g.kW),
  };
}

function worstData(layer: QuantizedLayer, map: LinearMap): Data {
  return {
    x: filled(size(layer.inDims), P - 1),
    y: filled(size(layer.outDims), P - 1),
    r: filled(map.g.m, P - 1),
    s: filled(map.g.oh * map.g.ow, P - 1),
    v: filled(map.g.c * map.g.kH * map.g.kW, P - 1),
  };
}

/** The largest |w| a row of `fanIn` equal-magnitude weights may have under the 2^53 bound. */
function maxUniformWeight(fanIn: number): number {
  return Math.floor(MAX_WEIGHT_L1 / fanIn);
}

// ---------------------------------------------------------------------------------------------

describe('linear-map: random small layers against BigInt', () => {
  const rng = new Rng(0x11ea);
  for (const spec of CONV_SPECS) {
    it(`Conv ${spec.label}`, () => {
      for (const maxW of [3, 127, 40_000]) {
        const layer = convLayer(spec, ints(rng, size(spec.w), maxW));
        battery(layer, randomData(layer, linearMap(layer), rng), `${spec.label}, |w| ≤ ${maxW}`);
      }
    });
  }
  for (const spec of GEMM_SPECS) {
    it(`Gemm ${spec.label}`, () => {
      for (const maxW of [3, 127, 40_000]) {
        const layer = gemmLayer(spec, ints(rng, spec.k * spec.n, maxW));
        battery(layer, randomData(layer, linearMap(layer), rng), `${spec.label}, |w| ≤ ${maxW}`);
      }
    });
  }
  it('linearMap reports the geometry of one batch item', () => {
    const spec = CONV_SPECS[6]!; // grouped, dilation 2, batch 2
    const map = linearMap(convLayer(spec, ints(rng, size(spec.w), 5)));
    assert.equal(map.g.n, 1);
    assert.equal(map.inSize, 4 * 8 * 8);
    assert.equal(map.outSize, 6 * map.g.oh * map.g.ow);
    assert.equal(map.g.group, 2);
    const gm = linearMap(gemmLayer(GEMM_SPECS[0]!, ints(rng, 60, 5)));
    assert.deepEqual([gm.g.c, gm.g.m, gm.g.oh, gm.g.ow, gm.inSize, gm.outSize], [10, 6, 1, 1, 10, 6]);
  });
});

describe('linear-map: worst-case residues (p − 1 everywhere, r = s = p − 1)', () => {
  for (const spec of CONV_SPECS) {
    it(`Conv ${spec.label}`, () => {
      const fanIn = spec.w[1] * spec.w[2] * spec.w[3];
      for (const sign of [1, -1]) {
        const w = maxUniformWeight(fanIn) * sign;
        const layer = convLayer(spec, filled(size(spec.w), w));
        battery(layer, worstData(layer, linearMap(layer)), `${spec.label}, w = ${w}`);
      }
    });
  }
  for (const spec of GEMM_SPECS) {
    it(`Gemm ${spec.label}`, () => {
      for (const sign of [1, -1]) {
        const w = maxUniformWeight(spec.k) * sign;
        const layer = gemmLayer(spec, filled(spec.k * spec.n, w));
        battery(layer, worstData(layer, linearMap(layer)), `${spec.label}, w = ${w}`);
      }
    });
  }
  it('weights at the quantizer’s largest magnitude (one weight per output carrying L1 = MAX_WEIGHT_L1 / 2)', () => {
    // The quantizer caps Σ|w̃| near MAX_WEIGHT_L1 / 2; put all of it on one tap, for every output,
    // so collapse() sums M products of (p − 1)·2^28 each.
    const spec: GemmSpec = { label: 'gemm with huge weights', b: 2, k: 3, n: 50 };
    const big = Math.floor(MAX_WEIGHT_L1 / 2);
    const w = new Float64Array(spec.k * spec.n);
    for (let j = 0; j < spec.n; j++) w[(j % spec.k) * spec.n + j] = j % 2 === 0 ? big : -big;
    const layer = gemmLayer(spec, w);
    battery(layer, worstData(layer, linearMap(layer)), spec.label);
    const cspec: ConvSpec = { label: 'conv with huge weights', x: [1, 2, 3, 3], w: [40, 2, 1, 1], attrs: attrs([1, 1], [0, 0, 0, 0]) };
    const cw = new Float64Array(size(cspec.w));
    for (let m = 0; m < 40; m++) cw[m * 2 + (m % 2)] = m % 3 === 0 ? -big : big;
    const clayer = convLayer(cspec, cw);
    battery(clayer, worstData(clayer, linearMap(clayer)), cspec.label);
  });
});

describe('linear-map: large fan-in (applyCollapsed splits V into limbs)', () => {
  it('Conv with C·k² = 512·9 = 4608', () => {
    const spec: ConvSpec = { label: 'C = 512, 3×3, pad 1', x: [1, 512, 3, 3], w: [4, 512, 3, 3], attrs: attrs([1, 1], [1, 1, 1, 1]) };
    const fanIn = 4608;
    // The limb width the design needs: fanIn·(p − 1)·(2^b − 1) < 2^53 forces b < 24.
    assert.ok(fanIn * (P - 1) * (P - 1) > MAX_EXACT);
    const rng = new Rng(4608);
    const wmax = maxUniformWeight(fanIn);
    const worst = convLayer(spec, filled(size(spec.w), -wmax));
    battery(worst, worstData(worst, linearMap(worst)), 'C·k² = 4608, worst case');
    const random = convLayer(spec, ints(rng, size(spec.w), wmax));
    battery(random, randomData(random, linearMap(random), rng), 'C·k² = 4608, random');
  });
  it('Gemm with K = 25088 and N = 4', () => {
    const spec: GemmSpec = { label: 'K = 25088', b: 2, k: 25_088, n: 4 };
    const rng = new Rng(25088);
    const wmax = maxUniformWeight(spec.k);
    const worst = gemmLayer(spec, filled(spec.k * spec.n, wmax));
    battery(worst, worstData(worst, linearMap(worst)), 'K = 25088, worst case');
    const random = gemmLayer(spec, ints(rng, spec.k * spec.n, wmax));
    battery(random, randomData(random, linearMap(random), rng), 'K = 25088, random');
  });
  it('applyCollapsed stays exact where one unsplit conv would not (sanity: the naive double sum is wrong)', () => {
    // Σ over 25088 products of (p − 1)·(p − 1) ≈ 2^62.6: doubles cannot hold it, the limbs can.
    const k = 25_088;
    const x = filled(k, P - 1);
    const v = filled(k, P - 1);
    let naive = 0;
    for (let i = 0; i < k; i++) naive += x[i]! * v[i]!;
    const exact = modBig(BigInt(k) * (BP - 1n) * (BP - 1n));
    assert.notEqual(naive % P, exact, 'the naive sum should have lost precision');
    const map = linearMap(gemmLayer({ label: 'naive', b: 1, k, n: 1 }, filled(k, 1)));
    assert.deepEqual([...applyCollapsed(map, Uint32Array.from(x), v)], [exact]);
  });
});
