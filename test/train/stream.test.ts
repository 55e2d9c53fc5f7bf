/**
 * train/stream.ts and train/quantize.ts: the run's streams are reproducible and distinct per
 * (purpose, a, b); permutations are permutations; quantization keeps |q| ≤ qmax and stochastic
 * rounding is unbiased.
 */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import { qmaxOf, quantizeNearest, quantizeStochastic, residuesOf } from '../../src/train/quantize.js';
import { SeededStream } from '../../src/train/stream.js';

const key = SeededStream.keyOfSeed(42);

test('a stream is AES-256-CTR from its counter block, the same for the same key and index, distinct otherwise', () => {
  const s = new SeededStream(key);
  const a = s.words('gradient', 7, 3, 64);
  assert.deepEqual(new SeededStream(key).words('gradient', 7, 3, 64), a);
  // The counter block [purpose 1 | b = 3 | a = 7 | 0]: the stream is plain AES-CTR over it.
  const iv = Buffer.from('01000003' + '0000000000000007' + '00000000', 'hex');
  const raw = createCipheriv('aes-256-ctr', Buffer.from(key), iv).update(Buffer.alloc(256));
  assert.deepEqual(Buffer.from(a.buffer, a.byteOffset, a.byteLength), raw);
  // A prefix of a longer draw: draws depend on the index, not on how much was drawn.
  assert.deepEqual(s.words('gradient', 7, 3, 16), a.subarray(0, 16));
  for (const other of [s.words('gradient', 8, 3, 64), s.words('gradient', 7, 4, 64), s.words('shuffle', 7, 3, 64), new SeededStream(SeededStream.keyOfSeed(43)).words('gradient', 7, 3, 64)]) assert.notDeepEqual(other, a);
  assert.throws(() => s.words('init', 0, 2 ** 24, 1), { code: 'SLALOM_ERR_INVALID_ARG' });
  assert.throws(() => new SeededStream(new Uint8Array(16)), { code: 'SLALOM_ERR_INVALID_ARG' });
});

test('permutations hold every index once and differ per epoch', () => {
  const s = new SeededStream(key);
  const p = s.permutation('shuffle', 0, 1000);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual(s.permutation('shuffle', 1, 1000), p);
  assert.deepEqual(s.permutation('shuffle', 0, 1000), p);
});

test('quantization keeps |q| ≤ qmax; stochastic rounding is unbiased; residues are canonical', () => {
  const x = Float64Array.from({ length: 4000 }, (_, i) => Math.sin(i) * 3);
  const q = quantizeNearest(x, 8);
  assert.equal(q.maxAbs, qmaxOf(8));
  x.forEach((v, i) => assert.ok(Math.abs(q.q[i]! * q.scale - v) <= q.scale / 2 + 1e-12));
  const s = new SeededStream(key);
  const constant = new Float64Array(20_000).fill(0.3);
  constant[0] = 1; // scale 1/127: 0.3 is 38.1 steps
  const sr = quantizeStochastic(constant, 8, s.words('gradient', 0, 0, constant.length));
  const mean = sr.q.subarray(1).reduce((a, v) => a + v, 0) / (constant.length - 1);
  assert.ok(Math.abs(mean - 38.1) < 0.02, `mean ${mean}`);
  assert.ok(sr.q.every((v) => v === 38 || v === 39 || v === 127));
  assert.deepEqual(residuesOf(Float64Array.of(-1, 0, 5)), Uint32Array.of(16_777_212, 0, 5));
  assert.equal(quantizeNearest(new Float64Array(3), 8).scale, 1);
  assert.throws(() => quantizeNearest(Float64Array.of(NaN), 8), { code: 'SLALOM_ERR_INVALID_ARG' });
});
