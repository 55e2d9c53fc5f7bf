/**
 * Free lists of Float64Arrays (float activations) and Uint8Arrays (packed unblinding factors) by
 * length, for values outside the trusted runtime's resident memory (simd/arena.ts). Allocating a fresh large typed array costs more than
 * filling it (the OS hands out zeroed pages one fault at a time: ~13 ns per value here, against ~3 ns
 * to write one), and the trusted runtime's per-inference work is a few passes over every activation,
 * so recycling dead activations' memory is one of its largest savings (docs/design.md §6).
 *
 * `take…` returns an array with ARBITRARY contents: only for callers that write every element.
 * `give…` must only receive arrays nothing else references (graph/execute.ts checks aliasing).
 */
import { regionOf, release } from '../simd/arena.js';

/** At most 512 MiB are kept, over both kinds. */
const MAX_POOLED_BYTES = 512 * 2 ** 20;
/** Small arrays are cheap to allocate and would only clutter the pool. */
const MIN_POOLED_BYTES = 32 * 1024;
let pooledBytes = 0;

type Pooled = Float64Array | Uint8Array;

class FreeLists<T extends Pooled> {
  private readonly lists = new Map<number, T[]>();

  constructor(private readonly create: (length: number) => T) {}

  take(length: number): T {
    const a = this.lists.get(length)?.pop();
    if (a === undefined) return this.create(length);
    pooledBytes -= a.byteLength;
    return a;
  }

  give(a: T): void {
    const bytes = a.byteLength;
    if (bytes < MIN_POOLED_BYTES || pooledBytes + bytes > MAX_POOLED_BYTES) return;
    // Only whole, unshared buffers: a view may share memory with something still in use.
    if (a.byteOffset !== 0 || a.buffer.byteLength !== bytes || !(a.buffer instanceof ArrayBuffer)) return;
    let list = this.lists.get(a.length);
    if (list === undefined) this.lists.set(a.length, (list = []));
    list.push(a);
    pooledBytes += bytes;
  }
}

const doubles = new FreeLists<Float64Array>((n) => new Float64Array(n));
const bytes = new FreeLists<Uint8Array>((n) => new Uint8Array(n));

export const takeF64 = (length: number): Float64Array => doubles.take(length);
/** Gives back a dead value's memory: a region of the trusted runtime's memory (simd/arena.ts) to the arena, anything else to the pool. */
export const giveF64 = (a: Float64Array): void => {
  const region = regionOf(a);
  if (region !== undefined) release(region);
  else doubles.give(a);
};
export const takeBytes = (length: number): Uint8Array => bytes.take(length);
export const giveBytes = (a: Uint8Array): void => bytes.give(a);
