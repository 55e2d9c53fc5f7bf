/**
 * train/products.ts: the outsourced products of a training step are exact (chunked so every chunk
 * stays inside (−p/2, p/2)), and every lie of the cheating suite's accelerator, in each of the three
 * products of a layer, is caught before the result is used: IntegrityError or MalformedResponseError
 * under `abort`, the honest product (recomputed here) under `recompute`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LocalBackend } from '../../src/accel/local.js';
import { HALF_P } from '../../src/field/prime.js';
import { chunkLength, chunkPlan, PRODUCT_KINDS, productLayerId, VerifiedProducts, type ProductKind } from '../../src/train/products.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { CheatingBackend, STRATEGIES } from '../accel/cheating.js';

function randomInts(rng: Rng, n: number, max: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((rng.nextI32() >>> 0) % (2 * max + 1)) - max;
  return out;
}

function reference(a: Float64Array, rows: number, inner: number, b: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let k = 0; k < inner; k++) for (let c = 0; c < cols; c++) out[r * cols + c] += a[r * inner + k]! * b[k * cols + c]!;
  return out;
}

function sliceCols(a: Float64Array, rows: number, inner: number, k0: number, k1: number): Float64Array {
  const out = new Float64Array(rows * (k1 - k0));
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * inner + k0, r * inner + k1), r * (k1 - k0));
  return out;
}

describe('verified training products', () => {
  test('the chunk length keeps every chunk inside (−p/2, p/2), and no longer than needed', () => {
    assert.equal(chunkLength(10_000, 127, 127), Math.floor(HALF_P / (127 * 127)));
    assert.equal(chunkLength(100, 127, 127), 100);
    assert.equal(chunkLength(50, 0, 127), 50);
    for (const [a, b] of [[127, 127], [2047, 2047], [1, 1], [300, 7]] as const) assert.ok(chunkLength(1e9, a, b) * a * b <= HALF_P);
    assert.throws(() => chunkLength(4, 2 ** 13, 2 ** 12), { code: 'SLALOM_ERR_OVERFLOW' });
  });

  test('the chunk plan keeps every chunk inside (−p/2, p/2): worst-case operands get the worst-case chunks, typical ones far fewer', () => {
    const rng = new Rng(3);
    const [rows, inner, cols] = [6, 5000, 4];
    const full = new Float64Array(rows * inner).fill(-127);
    const fullB = new Float64Array(inner * cols).fill(127);
    const kc = chunkLength(inner, 127, 127);
    assert.deepEqual(chunkPlan(full, rows, inner, fullB, cols, 127, 127), [...Array.from({ length: Math.ceil(inner / kc) }, (_, c) => c * kc), inner]);
    // Gradient-like operands: mostly 0 and ±1, a few at the maximum.
    const sparse = (n: number): Float64Array => randomInts(rng, n, 1).map((v, i) => (i % 997 === 0 ? 127 : v));
    for (const [a, b] of [[sparse(rows * inner), randomInts(rng, inner * cols, 127)], [randomInts(rng, rows * inner, 127), randomInts(rng, inner * cols, 127)], [full, sparse(inner * cols)]] as const) {
      const starts = chunkPlan(a, rows, inner, b, cols, 127, 127);
      assert.equal(starts[0], 0);
      assert.equal(starts[starts.length - 1], inner);
      assert.ok(starts.length - 1 < Math.ceil(inner / kc), `${starts.length - 1} chunks`);
      for (let c = 0; c + 1 < starts.length; c++) {
        const [k0, k1] = [starts[c]!, starts[c + 1]!];
        assert.ok(k1 > k0);
        const part = reference(sliceCols(a, rows, inner, k0, k1), rows, k1 - k0, b.slice(k0 * cols, k1 * cols), cols);
        assert.ok(part.every((v) => Math.abs(v) <= HALF_P), `chunk ${c} [${k0}, ${k1}) overflows`);
      }
    }
  });

  test('products are exact, chunked or not, through the accelerator and in baseline', async () => {
    const rng = new Rng(5);
    for (const [rows, inner, cols, max] of [[3, 7, 4, 127], [5, 1300, 3, 127], [2, 40, 6, 2047]] as const) {
      const a = randomInts(rng, rows * inner, max);
      const b = randomInts(rng, inner * cols, max);
      const want = reference(a, rows, inner, b, cols);
      for (const backend of [new LocalBackend(), undefined]) {
        const products = new VerifiedProducts({ backend, repetitions: 2, onFailure: 'abort' });
        const got = await products.multiply({ layer: 0, layerName: 'l', kind: 'forward' }, a, rows, inner, b, cols, max, max);
        assert.deepEqual(got, want);
        assert.equal(products.stats.chunks, chunkPlan(a, rows, inner, b, cols, max, max).length - 1);
        assert.ok(products.stats.chunks <= Math.ceil(inner / chunkLength(inner, max, max)));
      }
    }
  });

  for (const kind of PRODUCT_KINDS) {
    describe(`a lying accelerator in the ${kind} product`, () => {
      for (const strategy of STRATEGIES) {
        test(`${strategy.name} is caught (${strategy.kind})`, async () => {
          const rng = new Rng(11);
          const [rows, inner, cols] = [4, 9, 5];
          const cheater = new CheatingBackend(new LocalBackend(), strategy.name, { layers: [productLayerId(2, kind)] });
          const site = { layer: 2, layerName: 'conv', kind: kind as ProductKind };
          const products = new VerifiedProducts({ backend: cheater, repetitions: 2, onFailure: 'abort' });
          cheater.enabled = false; // an honest first reply, for 'replay' to replay
          await products.multiply(site, randomInts(rng, rows * inner, 100), rows, inner, randomInts(rng, inner * cols, 100), cols, 100, 100);
          cheater.enabled = true;
          const a = randomInts(rng, rows * inner, 100);
          const b = randomInts(rng, inner * cols, 100);
          await assert.rejects(products.multiply(site, a, rows, inner, b, cols, 100, 100), { code: strategy.kind === 'wrong-value' ? 'SLALOM_ERR_INTEGRITY' : 'SLALOM_ERR_MALFORMED' });
          assert.equal(cheater.tampered.length, 1, `the strategy applied (${cheater.skipped.map((s) => s.why).join('; ')})`);
          const recomputing = new VerifiedProducts({ backend: cheater, repetitions: 2, onFailure: 'recompute' });
          assert.deepEqual(await recomputing.multiply(site, a, rows, inner, b, cols, 100, 100), reference(a, rows, inner, b, cols));
          assert.equal(recomputing.stats.incidents.length, 1);
        });
      }
    });
  }
});
