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
import { chunkLength, PRODUCT_KINDS, productLayerId, VerifiedProducts, type ProductKind } from '../../src/train/products.js';
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

describe('verified training products', () => {
  test('the chunk length keeps every chunk inside (−p/2, p/2), and no longer than needed', () => {
    assert.equal(chunkLength(10_000, 127, 127), Math.floor(HALF_P / (127 * 127)));
    assert.equal(chunkLength(100, 127, 127), 100);
    assert.equal(chunkLength(50, 0, 127), 50);
    for (const [a, b] of [[127, 127], [2047, 2047], [1, 1], [300, 7]] as const) assert.ok(chunkLength(1e9, a, b) * a * b <= HALF_P);
    assert.throws(() => chunkLength(4, 2 ** 13, 2 ** 12), { code: 'SLALOM_ERR_OVERFLOW' });
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
        assert.equal(products.stats.chunks, Math.ceil(inner / chunkLength(inner, max, max)));
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
