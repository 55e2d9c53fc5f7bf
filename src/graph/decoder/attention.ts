/**
 * Attention over the KV cache for one layer of a decoding step (step.ts): each row's key and value
 * go into its sequence's cache first, then each row's heads attend to positions 0 … its own —
 * softmax(q·kᵀ/√(d/H))·v — in the SIMD kernel (simd/attention.ts), float32, reading the cache in
 * place, one call per sequence. A prefill step's rows each stop at their own position, so a row
 * never sees a later one.
 */
import { alloc, f32, release } from '../../simd/arena.js';
import { attendRows } from '../../simd/attention.js';
import type { KvCache } from './kv-cache.js';
import type { DecoderConfig } from './structure.js';

/** Rows' [n, 3d] q·k·v (in that order) at their positions → the heads side by side, [n, d]. */
export function attend(config: DecoderConfig, layer: number, caches: readonly KvCache[], positions: readonly number[], qkv: Float64Array): Float64Array {
  const { d, heads, headDim } = config;
  const n = caches.length;
  if (positions.length !== n || qkv.length !== n * 3 * d) throw new Error(`internal: attention over ${n} rows with ${positions.length} positions and ${qkv.length} q·k·v values`);
  caches.forEach((cache, i) => cache.write(layer, positions[i]!, qkv.subarray(i * 3 * d + d, i * 3 * d + 2 * d), qkv.subarray(i * 3 * d + 2 * d, i * 3 * d + 3 * d)));
  const bySequence = new Map<KvCache, number[]>();
  caches.forEach((cache, i) => (bySequence.get(cache) ?? bySequence.set(cache, []).get(cache)!).push(i));
  const out = new Float64Array(n * d);
  const scale = 1 / Math.sqrt(headDim);
  for (const [cache, rows] of bySequence) {
    const { stride } = cache.layout;
    const length = rows.length * heads * stride;
    const scratch = alloc(2 * length * 4);
    try {
      const q = f32(scratch, length);
      const o = f32({ at: scratch.at + length * 4, bytes: length * 4 }, length);
      // The queries in the cache's head layout, scaled once here rather than every score.
      rows.forEach((i, r) => {
        for (let h = 0; h < heads; h++) {
          const to = (r * heads + h) * stride;
          for (let j = 0; j < headDim; j++) q[to + j] = qkv[i * 3 * d + h * headDim + j]! * scale;
          for (let j = headDim; j < stride; j++) q[to + j] = 0;
        }
      });
      const { keys, values } = cache.layer(layer);
      attendRows(q, keys, values, cache.layout, rows.map((i) => positions[i]!), o);
      rows.forEach((i, r) => {
        for (let h = 0; h < heads; h++) for (let j = 0; j < headDim; j++) out[i * d + h * headDim + j] = o[(r * heads + h) * stride + j]!;
      });
    } finally {
      release(scratch);
    }
  }
  return out;
}
