/**
 * One token's attention over a KV cache in SIMD (assembly/attention.ts): float32, f32x4 lanes. The
 * cache's keys and values are resident (graph/decoder/kv-cache.ts allocates them in the arena), so
 * the kernel reads them in place; only the small arrays that are not resident are staged.
 */
import { alloc, release } from './arena.js';
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
 * out_h = softmax_t(q_h·k_{h,t}) · v_{h,t} over t = 0 … last for every head h. q ([heads][stride],
 * lanes past headDim zero) is already scaled by 1/√headDim; out is [heads][stride].
 */
export function attendRow(q: Float32Array, keys: Float32Array, values: Float32Array, layout: AttentionLayout, last: number, out: Float32Array): void {
  const { heads, capacity, stride } = layout;
  const rowLength = heads * stride;
  const cacheLength = heads * capacity * stride;
  if (stride % 4 !== 0 || stride < 4) throw new RangeError(`a head stride of ${stride}: a positive multiple of 4 is needed`);
  if (q.length !== rowLength || out.length !== rowLength) throw new RangeError(`attention over ${heads} heads of ${stride}: query of ${q.length} and output of ${out.length} values, expected ${rowLength}`);
  if (keys.length < cacheLength || values.length < cacheLength) throw new RangeError(`a cache of ${capacity} positions needs ${cacheLength} keys and values, got ${keys.length} and ${values.length}`);
  if (!Number.isInteger(last) || last < 0 || last >= capacity) throw new RangeError(`position ${last} is outside the cache's 0 … ${capacity - 1}`);
  const scores = alloc((last + 1) * 4);
  try {
    withStaged(
      [
        { view: q, use: 'in' },
        { view: keys, use: 'in' },
        { view: values, use: 'in' },
        { view: out, use: 'out' },
      ],
      (qAt, kAt, vAt, outAt) => simd().kernels.attendRow(qAt, kAt, vAt, heads, capacity, stride, last, scores.at, outAt),
    );
  } finally {
    release(scores);
  }
}
