/**
 * Attention over the KV cache (src/graph/decoder/attention.ts, the SIMD kernel of
 * src/simd/assembly/attention.ts, the cache's layout in src/graph/decoder/kv-cache.ts) against a
 * float64 scalar reference: one-token steps and prefill steps (each row stops at its own position),
 * several sequences in one step, head sizes that are and are not a multiple of 4, softmax over
 * scores far apart; a row's result is the same alone or beside others; and the cache's memory goes
 * back to the arena when it is disposed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attend } from '../../../src/graph/decoder/attention.js';
import { KvCache } from '../../../src/graph/decoder/kv-cache.js';
import type { DecoderConfig } from '../../../src/graph/decoder/structure.js';
import { arenaBytes } from '../../../src/simd/arena.js';
import { Rng } from '../../../src/util/seeded-rng.js';

function config(heads: number, headDim: number, maxPositions: number): DecoderConfig {
  return { layers: 2, d: heads * headDim, heads, headDim, hidden: 4 * heads * headDim, vocab: 10, maxPositions };
}

/** softmax(q·kᵀ/√headDim)·v over positions 0 … last, float64, row-major [positions][d] keys and values. */
function reference(c: DecoderConfig, q: Float64Array, keys: Float64Array, values: Float64Array, last: number): Float64Array {
  const { d, heads, headDim } = c;
  const out = new Float64Array(d);
  const scores = new Float64Array(last + 1);
  for (let h = 0; h < heads; h++) {
    let max = -Infinity;
    for (let t = 0; t <= last; t++) {
      let s = 0;
      for (let j = 0; j < headDim; j++) s += q[h * headDim + j]! * keys[t * d + h * headDim + j]!;
      scores[t] = s / Math.sqrt(headDim);
      max = Math.max(max, scores[t]!);
    }
    let sum = 0;
    for (let t = 0; t <= last; t++) sum += scores[t] = Math.exp(scores[t]! - max);
    for (let t = 0; t <= last; t++) for (let j = 0; j < headDim; j++) out[h * headDim + j] += (scores[t]! / sum) * values[t * d + h * headDim + j]!;
  }
  return out;
}

/** max |a − b| over max |b|. */
function relativeError(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** Rows' [n, 3d] q·k·v with queries and keys of std `spread` (scores of a few units to tens: logits scale). */
function qkvRows(rng: Rng, c: DecoderConfig, n: number, spread: number): Float64Array {
  const qkv = new Float64Array(n * 3 * c.d);
  for (let i = 0; i < n; i++) {
    rng.fillNormal(qkv.subarray(i * 3 * c.d, i * 3 * c.d + 2 * c.d), spread);
    rng.fillNormal(qkv.subarray(i * 3 * c.d + 2 * c.d, (i + 1) * 3 * c.d), 1);
  }
  return qkv;
}

/** Each row's keys and values appended to its sequence's row-major history, and its query. */
function split(c: DecoderConfig, qkv: Float64Array, i: number): { q: Float64Array; k: Float64Array; v: Float64Array } {
  const at = i * 3 * c.d;
  return { q: qkv.slice(at, at + c.d), k: qkv.slice(at + c.d, at + 2 * c.d), v: qkv.slice(at + 2 * c.d, at + 3 * c.d) };
}

/**
 * Runs `steps` (each a list of sequence indices, one row per entry) through attend() on one layer of
 * fresh caches and checks every row against the reference over its sequence's positions 0 … its own.
 */
function checkSteps(c: DecoderConfig, sequences: number, steps: readonly (readonly number[])[], spread: number, bound: number): number {
  const rng = new Rng(c.heads * 1000 + c.headDim);
  const capacity = Math.max(...Array.from({ length: sequences }, (_, s) => steps.flat().filter((x) => x === s).length));
  const caches = Array.from({ length: sequences }, (_, s) => new KvCache(`s${s}`, c, capacity));
  const history = caches.map(() => ({ keys: new Float64Array(capacity * c.d), values: new Float64Array(capacity * c.d) }));
  let worst = 0;
  try {
    for (const step of steps) {
      const rows = step.map((s) => caches[s]!);
      const taken = new Map<KvCache, number>();
      const positions = rows.map((cache) => {
        const k = taken.get(cache) ?? 0;
        taken.set(cache, k + 1);
        return cache.length + k;
      });
      const qkv = qkvRows(rng, c, rows.length, spread);
      const out = attend(c, 1, rows, positions, qkv);
      step.forEach((s, i) => {
        const { k, v } = split(c, qkv, i);
        history[s]!.keys.set(k, positions[i]! * c.d);
        history[s]!.values.set(v, positions[i]! * c.d);
      });
      step.forEach((s, i) => {
        const expected = reference(c, split(c, qkv, i).q, history[s]!.keys, history[s]!.values, positions[i]!);
        const error = relativeError(out.subarray(i * c.d, (i + 1) * c.d), expected);
        assert.ok(error < bound, `heads ${c.heads} × ${c.headDim}, sequence ${s} at position ${positions[i]}: relative error ${error}`);
        worst = Math.max(worst, error);
      });
      for (const [cache, k] of taken) cache.advance(k);
    }
  } finally {
    for (const cache of caches) cache.dispose();
  }
  return worst;
}

describe('attention over the KV cache (SIMD, float32) against float64', () => {
  it('GPT-2-small shape: a 256-token prefill, then one-token steps (12 heads of 64, 258 positions)', () => {
    const c = config(12, 64, 1024);
    const prefill = Array<number>(256).fill(0);
    checkSteps(c, 1, [prefill, [0], [0]], 1, 1e-5);
  });

  it('head sizes that are not a multiple of 4 (the cache pads each head to whole lanes), and rows of 32 + 16 + 4 lanes', () => {
    for (const [heads, headDim, positions] of [
      [3, 6, 33],
      [2, 5, 7],
      [1, 1, 4],
      [4, 10, 130],
      [5, 3, 1],
      [2, 52, 20],
      [2, 40, 9],
    ] as const) {
      const c = config(heads, headDim, 256);
      checkSteps(c, 1, [Array<number>(positions - 1).fill(0), [0]].filter((s) => s.length > 0), 1, 1e-5);
    }
  });

  it('several sequences in one step, each row stopping at its own position (prefill beside decoding)', () => {
    const c = config(4, 16, 64);
    // Sequence 0 prefills 5 tokens, sequence 1 prefills 3; then both decode together, then sequence 1 takes 4 more in one step beside sequence 0's one.
    checkSteps(c, 2, [[0, 0, 0, 0, 0, 1, 1, 1], [0, 1], [1, 0, 1, 1, 1]], 1, 1e-5);
  });

  it('scores far apart (a peaked softmax) and all equal (a flat one) stay within float32 of float64', () => {
    const c = config(2, 8, 128);
    // Queries and keys of std 6: scores of std ~100 after scaling, most weights below e^−87 (flushed to 0).
    checkSteps(c, 1, [Array<number>(100).fill(0)], 6, 2e-5);
    // std 0: every score 0, every weight 1/(t + 1).
    checkSteps(c, 1, [Array<number>(40).fill(0)], 0, 1e-6);
  });

  it("a row's result does not depend on the rows beside it: a prefill gives, bit for bit, what one-token steps give", () => {
    const c = config(3, 20, 32);
    const qkv = qkvRows(new Rng(7), c, 9, 1);
    const together = new KvCache('together', c, 9);
    const alone = new KvCache('alone', c, 9);
    try {
      const positions = Array.from({ length: 9 }, (_, i) => i);
      const prefill = attend(c, 0, Array<KvCache>(9).fill(together), positions, qkv);
      for (const i of positions) {
        const out = attend(c, 0, [alone], [i], qkv.subarray(i * 3 * c.d, (i + 1) * 3 * c.d));
        alone.advance(1);
        assert.deepEqual(out, prefill.subarray(i * c.d, (i + 1) * c.d), `row ${i}`);
      }
    } finally {
      together.dispose();
      alone.dispose();
    }
  });

  it('a disposed cache gives its memory back and cannot be used', () => {
    const c = config(12, 64, 1024);
    const before = arenaBytes().live;
    const cache = new KvCache('gone', c, 256);
    assert.equal(arenaBytes().live - before, 2 * 2 * 12 * 256 * 64 * 4, 'keys and values per layer, float32');
    cache.dispose();
    assert.equal(arenaBytes().live, before);
    assert.throws(() => cache.layer(0), /used after it was disposed/);
    cache.dispose();
  });
});
