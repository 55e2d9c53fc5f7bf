/**
 * A free list of Float64Arrays by length. Allocating a fresh large typed array costs more than
 * filling it (the OS hands out zeroed pages one fault at a time: ~13 ns per value here, against ~3 ns
 * to write one), and the trusted runtime's per-inference work is a few passes over every activation,
 * so recycling dead activations' memory is one of its largest savings (DESIGN.md §6).
 *
 * `takeF64` returns an array with ARBITRARY contents: only for callers that write every element.
 * `giveF64` must only receive arrays nothing else references (graph/execute.ts checks aliasing).
 */
const free = new Map<number, Float64Array[]>();
let pooledValues = 0;
/** At most 64 Mi values (512 MiB) are kept. */
const MAX_POOLED_VALUES = 64 * 2 ** 20;
/** Small arrays are cheap to allocate and would only clutter the pool. */
const MIN_POOLED_LENGTH = 4096;

export function takeF64(length: number): Float64Array {
  const list = free.get(length);
  const a = list?.pop();
  if (a === undefined) return new Float64Array(length);
  pooledValues -= length;
  return a;
}

export function giveF64(a: Float64Array): void {
  const n = a.length;
  if (n < MIN_POOLED_LENGTH || pooledValues + n > MAX_POOLED_VALUES) return;
  // Only whole, unshared buffers: a view may share memory with something still in use.
  if (a.byteOffset !== 0 || a.buffer.byteLength !== n * 8 || !(a.buffer instanceof ArrayBuffer)) return;
  let list = free.get(n);
  if (list === undefined) free.set(n, (list = []));
  list.push(a);
  pooledValues += n;
}
