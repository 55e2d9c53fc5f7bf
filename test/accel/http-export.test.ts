/**
 * The exact ONNX formulation of linear layers (src/accel/http/export.ts) run in onnxruntime-node
 * against the BigInt reference: random layers of every kind (strided padded conv, dilation, groups,
 * depthwise, channel-multiplier depthwise, pointwise, strided 1×1, gemm), batch > 1, with the spatial
 * size fixed in the graph and symbolic; worst-case magnitudes (x = p − 1, weight rows at the exactness
 * bound MAX_WEIGHT_L1, so outputs reach (p − 1)·MAX_WEIGHT_L1 ≈ 2^53); parseLayerOnnx round trips and
 * refuses what is not a slalom layer; exportModelRepository writes the Triton layout.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';

import type { PublicLayer } from '../../src/accel/backend.js';
import { EXPORT_INDEX_FILE, exportLayerOnnx, exportModelRepository, parseLayerOnnx, publicLayerDigest, type ExportableLayer } from '../../src/accel/http/export.js';
import { layerModelName, modelIdOf } from '../../src/accel/http/protocol.js';
import { MalformedModelError, OverflowError } from '../../src/errors.js';
import { MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { convField, gemmField } from '../../src/kernels/field.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { convRef, gemmRef } from '../reference/bigint.js';

const rng = new Rng(0x5e7);
const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const randInt = (lo: number, hi: number): number => lo + ((rng.nextI32() >>> 0) % (hi - lo + 1));

function ints(n: number, max: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = randInt(-max, max);
  return out;
}

function residues(n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = randInt(0, P - 1);
  return out;
}

const sessions: ort.InferenceSession[] = [];
after(async () => {
  await Promise.all(sessions.map((s) => s.release()));
});

async function runOnnx(bytes: Uint8Array, dims: readonly number[], x: Float64Array): Promise<{ dims: number[]; data: Float64Array }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  sessions.push(session);
  const out = await session.run({ x: new ort.Tensor('float64', x, [...dims]) });
  const y = out['y']!;
  assert.ok(y.data instanceof Float64Array, 'y is float64');
  return { dims: y.dims.map(Number), data: y.data };
}

function mismatches(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || Object.is(a[i], -0)) bad++;
  return bad;
}

interface ConvCase {
  readonly label: string;
  readonly x: [number, number, number, number];
  readonly m: number;
  readonly k: [number, number];
  readonly attrs: ConvAttrs;
}

const attrs = (s: [number, number], p: [number, number, number, number], d: [number, number], group: number): ConvAttrs => ({ strides: s, pads: p, dilations: d, group });

const CONV_CASES: ConvCase[] = [
  { label: 'strided padded 3×3', x: [2, 3, 9, 8], m: 5, k: [3, 3], attrs: attrs([2, 2], [1, 1, 1, 1], [1, 1], 1) },
  { label: 'asymmetric pads and strides', x: [3, 4, 7, 10], m: 3, k: [3, 2], attrs: attrs([2, 3], [0, 2, 1, 0], [1, 1], 1) },
  { label: 'dilation', x: [2, 2, 11, 9], m: 4, k: [3, 3], attrs: attrs([1, 1], [2, 2, 2, 2], [2, 3], 1) },
  { label: 'groups', x: [2, 6, 8, 8], m: 9, k: [3, 3], attrs: attrs([1, 2], [1, 1, 1, 1], [1, 1], 3) },
  { label: 'depthwise', x: [3, 5, 9, 7], m: 5, k: [3, 3], attrs: attrs([2, 1], [1, 1, 1, 1], [1, 1], 5) },
  { label: 'depthwise with channel multiplier', x: [2, 3, 6, 6], m: 6, k: [3, 3], attrs: attrs([1, 1], [1, 1, 1, 1], [1, 1], 3) },
  { label: 'pointwise', x: [4, 7, 5, 6], m: 6, k: [1, 1], attrs: attrs([1, 1], [0, 0, 0, 0], [1, 1], 1) },
  { label: 'strided 1×1', x: [2, 4, 7, 7], m: 3, k: [1, 1], attrs: attrs([2, 2], [0, 0, 0, 0], [1, 1], 1) },
  { label: 'large kernel, no padding', x: [1, 2, 12, 12], m: 2, k: [5, 5], attrs: attrs([3, 3], [0, 0, 0, 0], [1, 1], 1) },
];

function convLayer(c: ConvCase, w: Float64Array, withDims: boolean): ExportableLayer {
  const cg = c.x[1] / c.attrs.group;
  const wDims = [c.m, cg, c.k[0], c.k[1]];
  return { id: 7, name: `conv ${c.label}`, op: 'Conv', conv: c.attrs, wDims, w: { dims: wDims, data: w }, ...(withDims ? { inDims: [1, ...c.x.slice(1)] } : {}) };
}

describe('exported conv layers equal the BigInt reference', () => {
  for (const c of CONV_CASES) {
    for (const withDims of [true, false]) {
      it(`${c.label} (${withDims ? 'fixed H, W' : 'symbolic H, W'})`, async () => {
        const cg = c.x[1] / c.attrs.group;
        const wDims = [c.m, cg, c.k[0], c.k[1]];
        const w = ints(size(wDims), 128);
        const x = residues(size(c.x));
        const got = await runOnnx(exportLayerOnnx(convLayer(c, w, withDims)), c.x, x);
        const want = convRef(c.x, x, wDims, w, c.attrs);
        assert.deepEqual(got.dims, want.dims);
        assert.equal(mismatches(got.data, want.data), 0);
        // and the project's own exact kernel agrees
        assert.equal(mismatches(got.data, convField({ dims: c.x, data: x }, { dims: wDims, data: w }, c.attrs).data), 0);
      });
    }
  }

  it('one symbolic-size session serves several spatial sizes', async () => {
    const c = CONV_CASES[0]!;
    const wDims = [c.m, c.x[1], 3, 3];
    const w = ints(size(wDims), 50);
    const session = await ort.InferenceSession.create(exportLayerOnnx(convLayer(c, w, false)), { logSeverityLevel: 3 });
    sessions.push(session);
    for (const [h, wd] of [[5, 5], [9, 8], [16, 3]] as const) {
      const dims = [2, c.x[1], h, wd];
      const x = residues(size(dims));
      const y = (await session.run({ x: new ort.Tensor('float64', x, dims) }))['y']!;
      const want = convRef(dims, x, wDims, w, c.attrs);
      assert.deepEqual(y.dims.map(Number), want.dims);
      assert.equal(mismatches(y.data as Float64Array, want.data), 0);
    }
  });
});

describe('exported gemm layers equal the BigInt reference', () => {
  for (const [b, k, n] of [[1, 17, 5], [5, 64, 10], [3, 300, 33]] as const) {
    it(`[${b}, ${k}] · [${k}, ${n}]`, async () => {
      const w = ints(k * n, 1000);
      const x = residues(b * k);
      const got = await runOnnx(exportLayerOnnx({ id: 1, name: 'fc', op: 'Gemm', wDims: [k, n], w: { dims: [k, n], data: w } }), [b, k], x);
      assert.deepEqual(got.dims, [b, n]);
      assert.equal(mismatches(got.data, gemmRef(b, k, n, x, w)), 0);
      assert.equal(mismatches(got.data, gemmField({ dims: [b, k], data: x }, { dims: [k, n], data: w }).data), 0);
    });
  }
});

/** Weight rows whose L1 norm is exactly MAX_WEIGHT_L1 (the largest the bound allows), signs by `sign`. */
function boundaryRows(rows: number, perRow: number, sign: (row: number, i: number) => number): Float64Array {
  const base = Math.floor(MAX_WEIGHT_L1 / perRow);
  const extra = MAX_WEIGHT_L1 - base * perRow;
  const out = new Float64Array(rows * perRow);
  for (let r = 0; r < rows; r++) for (let i = 0; i < perRow; i++) out[r * perRow + i] = sign(r, i) * (base + (i < extra ? 1 : 0));
  return out;
}

describe('worst-case magnitudes stay exact', () => {
  it('conv: x = p − 1 and weight rows at MAX_WEIGHT_L1 (all positive, all negative, alternating)', async () => {
    const xDims = [2, 3, 5, 5];
    const kDims = [3, 3, 3, 3];
    const perRow = 3 * 3 * 3;
    const w = boundaryRows(3, perRow, (r, i) => (r === 0 ? 1 : r === 1 ? -1 : i % 2 === 0 ? 1 : -1));
    const a = attrs([1, 1], [0, 0, 0, 0], [1, 1], 1);
    const x = new Float64Array(size(xDims)).fill(P - 1);
    const got = await runOnnx(exportLayerOnnx({ id: 0, name: 'edge', op: 'Conv', conv: a, wDims: kDims, w: { dims: kDims, data: w } }), xDims, x);
    assert.equal(mismatches(got.data, convRef(xDims, x, kDims, w, a).data), 0);
    // a mixed input too
    const x2 = Float64Array.from(x, (_, i) => (i % 3 === 0 ? P - 1 : randInt(0, P - 1)));
    const got2 = await runOnnx(exportLayerOnnx({ id: 0, name: 'edge', op: 'Conv', conv: a, wDims: kDims, w: { dims: kDims, data: w } }), xDims, x2);
    assert.equal(mismatches(got2.data, convRef(xDims, x2, kDims, w, a).data), 0);
  });

  it('gemm: x = p − 1 and weight columns at MAX_WEIGHT_L1', async () => {
    const k = 40;
    const n = 3;
    const cols = boundaryRows(n, k, (r, i) => (r === 0 ? 1 : r === 1 ? -1 : i % 2 === 0 ? 1 : -1)); // [n, k]
    const w = new Float64Array(k * n);
    for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) w[i * n + j] = cols[j * k + i]!;
    const x = new Float64Array(2 * k).fill(P - 1);
    const got = await runOnnx(exportLayerOnnx({ id: 0, name: 'edge', op: 'Gemm', wDims: [k, n], w: { dims: [k, n], data: w } }), [2, k], x);
    assert.equal(mismatches(got.data, gemmRef(2, k, n, x, w)), 0);
  });

  it('a layer one past the bound is refused at export', () => {
    const w = boundaryRows(1, 4, () => 1);
    w[0]! += 1;
    assert.throws(() => exportLayerOnnx({ id: 0, name: 'over', op: 'Gemm', wDims: [4, 1], w: { dims: [4, 1], data: w } }), OverflowError);
    assert.throws(() => exportLayerOnnx({ id: 0, name: 'frac', op: 'Gemm', wDims: [1, 1], w: { dims: [1, 1], data: Float64Array.of(0.5) } }));
  });
});

describe('parseLayerOnnx', () => {
  it('round-trips the description and weights', () => {
    const c = CONV_CASES[3]!;
    const w = ints(size([c.m, c.x[1] / c.attrs.group, 3, 3]), 99);
    const layer = convLayer(c, w, true);
    const parsed = parseLayerOnnx(exportLayerOnnx(layer));
    assert.equal(parsed.description.op, 'Conv');
    assert.deepEqual(parsed.description.conv, c.attrs);
    assert.deepEqual(parsed.description.inputDims, c.x.slice(1));
    assert.deepEqual([...parsed.layer.w.data], [...w]);
    assert.deepEqual([...parsed.weights], [...w]);
    assert.deepEqual(exportLayerOnnx(layer), exportLayerOnnx(layer), 'deterministic bytes');
  });

  it('refuses bytes that are not an exported slalom layer', () => {
    assert.throws(() => parseLayerOnnx(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)), MalformedModelError);
    assert.throws(() => parseLayerOnnx(new Uint8Array(0)), MalformedModelError);
    const bytes = exportLayerOnnx({ id: 0, name: 'g', op: 'Gemm', wDims: [3, 2], w: { dims: [3, 2], data: Float64Array.of(1, 2, 3, 4, 5, 6) } });
    assert.throws(() => parseLayerOnnx(bytes.subarray(0, bytes.length - 10)), MalformedModelError);
  });
});

describe('exportModelRepository', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-export-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes config.pbtxt, 1/model.onnx per layer and the index', async () => {
    const layers: PublicLayer[] = [
      { id: 0, name: 'conv', op: 'Conv', conv: attrs([1, 1], [1, 1, 1, 1], [1, 1], 1), wDims: [4, 2, 3, 3], w: { dims: [4, 2, 3, 3], data: ints(72, 10) } },
      { id: 1, name: 'fc', op: 'Gemm', wDims: [16, 3], w: { dims: [16, 3], data: ints(48, 10) } },
    ];
    const model = { name: 'tiny net', modelHash: 'ab'.repeat(32), layers: [{ ...layers[0]!, inDims: [1, 2, 2, 2] }, layers[1]!] };
    const index = exportModelRepository(model, dir);
    const id = modelIdOf('tiny net', 'ab'.repeat(32));
    assert.deepEqual(index.layers, [layerModelName(id, 0, publicLayerDigest(layers[0]!)), layerModelName(id, 1, publicLayerDigest(layers[1]!))]);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, EXPORT_INDEX_FILE), 'utf8')).layers, index.layers);
    for (const name of index.layers) {
      assert.ok(existsSync(join(dir, name, '1', 'model.onnx')));
      const config = readFileSync(join(dir, name, 'config.pbtxt'), 'utf8');
      assert.match(config, new RegExp(`name: "${name.replace(/\./g, '\\.')}"`));
      assert.match(config, /platform: "onnxruntime_onnx"/);
      assert.match(config, /max_batch_size: 0/);
      assert.match(config, /data_type: TYPE_FP64/);
    }
    assert.match(readFileSync(join(dir, index.layers[0]!, 'config.pbtxt'), 'utf8'), /dims: \[ -1, 2, 2, 2 \][\s\S]*dims: \[ -1, 4, 2, 2 \]/);
    const x = residues(2 * 16);
    const got = await runOnnx(readFileSync(join(dir, index.layers[1]!, '1', 'model.onnx')), [2, 16], x);
    assert.equal(mismatches(got.data, gemmRef(2, 16, 3, x, layers[1]!.w.data)), 0);
  });
});
