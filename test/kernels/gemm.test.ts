/**
 * gemm / gemmField (src/kernels/gemm.ts, field.ts) against the BigInt reference on random shapes and
 * at the exactness bound of prime.ts (x = ±(p − 1), columns of w with L1 = MAX_WEIGHT_L1, the
 * largest bias allowed); the float path against a naive double loop; weightRowL1 and assertExact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_EXACT, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { gemm } from '../../src/kernels/gemm.js';
import { assertExact, gemmField, weightRowL1 } from '../../src/kernels/field.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { gemmRef } from '../reference/bigint.js';
import { rng, int } from '../helpers/random.js';


function fill(r: () => number, dims: number[], lo: number, hi: number): Tensor {
  const data = new Float64Array(dims[0]! * dims[1]!);
  for (let i = 0; i < data.length; i++) data[i] = int(r, lo, hi);
  return { dims, data };
}

function mismatches(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) bad++;
  return bad;
}

/** w [K, N] whose every column has L1 norm exactly l1; column signs all +, all −, alternating, random. */
function boundGemmWeights(r: () => number, k: number, n: number, l1: number): Tensor {
  const base = Math.floor(l1 / k);
  const extra = l1 - base * k;
  const data = new Float64Array(k * n);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < k; i++) {
      const mag = base + (i < extra ? 1 : 0);
      const pattern = j % 4;
      const sign = pattern === 0 ? 1 : pattern === 1 ? -1 : pattern === 2 ? (i % 2 === 0 ? 1 : -1) : r() < 0.5 ? 1 : -1;
      data[i * n + j] = sign * mag;
    }
  }
  return { dims: [k, n], data };
}

test('gemmField matches the BigInt reference on random shapes (0 mismatches)', () => {
  const r = rng(21);
  for (let t = 0; t < 120; t++) {
    const b = int(r, 1, 5);
    const k = t < 10 ? t + 1 : int(r, 1, 90);
    const n = int(r, 1, t % 10 === 0 ? 600 : 40);
    const x = t % 2 === 0 ? fill(r, [b, k], 0, P - 1) : fill(r, [b, k], -(P - 1), P - 1);
    const wMax = t % 3 === 0 ? 127 : 1_000_000;
    const w = fill(r, [k, n], -wMax, wMax);
    const bias = t % 4 === 3 ? undefined : Float64Array.from({ length: n }, () => int(r, -(2 ** 40), 2 ** 40));
    const got = gemmField(x, w, bias);
    assert.deepEqual(got.dims, [b, n]);
    assert.equal(mismatches(got.data, gemmRef(b, k, n, x.data, w.data, bias)), 0, `case ${t}: ${b}×${k}·${k}×${n}`);
  }
});

test('gemmField is exact at the bound: x = ±(p − 1), column L1 = MAX_WEIGHT_L1, largest bias', () => {
  const r = rng(22);
  const maxBias = MAX_EXACT - (P - 1) * MAX_WEIGHT_L1;
  for (const [b, k, n] of [
    [1, 1, 4],
    [2, 7, 9],
    [3, 64, 8],
    [2, 513, 5],
  ] as const) {
    const w = boundGemmWeights(r, k, n, MAX_WEIGHT_L1);
    assert.equal(weightRowL1(w, 'gemm'), MAX_WEIGHT_L1);
    assertExact(w, 'gemm', maxBias, 'fc');
    const bias = Float64Array.from({ length: n }, (_, j) => (j % 2 === 0 ? maxBias : -maxBias));
    for (const xv of [P - 1, -(P - 1)]) {
      const x: Tensor = { dims: [b, k], data: new Float64Array(b * k).fill(xv) };
      assert.equal(mismatches(gemmField(x, w, bias).data, gemmRef(b, k, n, x.data, w.data, bias)), 0, `${b}×${k}·${k}×${n}`);
    }
    const x: Tensor = { dims: [b, k], data: new Float64Array(b * k).fill(P - 1) };
    const z = gemm(x, w, bias);
    assert.equal(z.data[0], MAX_EXACT);
    assert.equal(z.data[1], -MAX_EXACT);
  }
});

test('assertExact rejects a dense layer over the bound', () => {
  const r = rng(23);
  const over = boundGemmWeights(r, 10, 3, MAX_WEIGHT_L1 + 1);
  assert.equal(weightRowL1(over, 'gemm'), MAX_WEIGHT_L1 + 1);
  assert.throws(
    () => assertExact(over, 'gemm', 0, 'fc1'),
    (e: unknown) => (e as { code?: string }).code === 'SLALOM_ERR_OVERFLOW' && (e as { layer?: string }).layer === 'fc1',
  );
  const ok = boundGemmWeights(r, 10, 3, 1000);
  assertExact(ok, 'gemm', 12345, 'fc1');
  assert.throws(() => weightRowL1(ok, 'conv'), { code: 'SLALOM_ERR_INVALID_ARG' });
});

test('float gemm agrees with a naive double loop', () => {
  const r = rng(24);
  for (let t = 0; t < 40; t++) {
    const b = int(r, 1, 6);
    const k = int(r, 1, 70);
    const n = int(r, 1, t % 8 === 0 ? 1200 : 50);
    const x = Float64Array.from({ length: b * k }, () => r() * 2 - 1);
    const w = Float64Array.from({ length: k * n }, () => r() * 2 - 1);
    const bias = t % 2 === 0 ? Float64Array.from({ length: n }, () => r() - 0.5) : undefined;
    const got = gemm({ dims: [b, k], data: x }, { dims: [k, n], data: w }, bias);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias === undefined ? 0 : bias[j]!;
        for (let q = 0; q < k; q++) s += x[i * k + q]! * w[q * n + j]!;
        assert.ok(Math.abs(got.data[i * n + j]! - s) <= 1e-12 * (1 + Math.abs(s)), `case ${t} (${i}, ${j})`);
      }
    }
  }
});

test('gemm rejects inconsistent shapes with InvalidArgumentError', () => {
  const x: Tensor = { dims: [2, 3], data: new Float64Array(6) };
  assert.throws(() => gemm(x, { dims: [4, 2], data: new Float64Array(8) }), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.throws(() => gemm(x, { dims: [3, 2, 1], data: new Float64Array(6) }), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.throws(() => gemm(x, { dims: [3, 2], data: new Float64Array(5) }), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.throws(() => gemm(x, { dims: [3, 2], data: new Float64Array(6) }, new Float64Array(3)), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.deepEqual(gemm({ dims: [0, 3], data: new Float64Array(0) }, { dims: [3, 2], data: new Float64Array(6) }).dims, [0, 2]);
});
