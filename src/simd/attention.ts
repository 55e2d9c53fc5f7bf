/**
 * Attention over a KV cache in SIMD (assembly/attention.ts): float32, f32x4 lanes. The cache's keys
 * and values are resident (graph/decoder/kv-cache.ts allocates them in the arena), so the kernel
 * reads them in place; only the small arrays that are not resident are staged.
 */
import { alloc, i32, release } from './arena.js';
import { simd } from './module.js';
import { withStaged } from './staging.js';

/** Keys and values per layer as [heads][capacity][stride] f32; stride is headDim rounded up to 4, lanes past headDim zero. */
export interface AttentionLayout {
  readonly heads: number;
  readonly capacity: number;
  readonly stride: number;
}

/** The stride of a head's rows: headDim rounded up to whole f32x4 lanes. */
export function headStride(headDim: number): number {
  return Math.ceil(headDim / 4) * 4;
}

/**
 * For tokens r of one sequence and every head h: out_{r,h} = softmax_t(q_{r,h}·k_{h,t}) · v_{h,t}
 * over t = 0 … lasts[r]. q ([rows][heads][stride], lanes past headDim zero) is already scaled by
 * 1/√headDim; out is [rows][heads][stride].
 */
export function attendRows(q: Float32Array, keys: Float32Array, values: Float32Array, layout: AttentionLayout, lasts: readonly number[], out: Float32Array): void {
  const { heads, capacity, stride } = layout;
  const rows = lasts.length;
  const rowsLength = rows * heads * stride;
  const cacheLength = heads * capacity * stride;
  if (stride % 4 !== 0 || stride < 4) throw new RangeError(`a head stride of ${stride}: a positive multiple of 4 is needed`);
  if (rows < 1 || q.length !== rowsLength || out.length !== rowsLength) throw new RangeError(`attention for ${rows} tokens of ${heads} heads of ${stride}: queries of ${q.length} and output of ${out.length} values, expected ${rowsLength}`);
  if (keys.length < cacheLength || values.length < cacheLength) throw new RangeError(`a cache of ${capacity} positions needs ${cacheLength} keys and values, got ${keys.length} and ${values.length}`);
  for (const last of lasts) if (!Number.isInteger(last) || last < 0 || last >= capacity) throw new RangeError(`position ${last} is outside the cache's 0 … ${capacity - 1}`);
  const lastRegion = alloc(rows * 4);
  const scores = alloc((Math.max(...lasts) + 1) * 4);
  try {
    i32(lastRegion, rows).set(lasts);
    withStaged(
      [
        { view: q, use: 'in' },
        { view: keys, use: 'in' },
        { view: values, use: 'in' },
        { view: out, use: 'out' },
      ],
      (qAt, kAt, vAt, outAt) => simd().kernels.attendRows(qAt, kAt, vAt, heads, capacity, stride, rows, lastRegion.at, scores.at, outAt),
    );
  } finally {
    release(scores);
    release(lastRegion);
  }
}
