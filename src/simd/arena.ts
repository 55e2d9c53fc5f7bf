/**
 * The trusted runtime's resident memory (docs/design.md §7): regions of the SIMD kernels' WebAssembly
 * memory (module.ts), so the kernels read and write activations, replies, pads and check secrets in
 * place — no chunk copied in or out on the hot path. Lifetimes are explicit: whoever allocates a
 * region releases it, the executor at a value's last use in the graph (graph/execute.ts knows it),
 * the boundary pass when its scratch is accepted or discarded.
 *
 * Regions are reused by size (rounded up to 64 bytes) and otherwise cut from the top; a fresh page
 * costs a fault per 4 KiB (more than the pass over it), so repeated inferences, which ask for the
 * same sizes, run without touching new memory. Nothing is ever zeroed: a region's contents are
 * whatever its last owner left, so only callers that write every element may take one.
 *
 * Views (Uint32Array, Float64Array…) into the memory stay valid when it grows (it is shared) and
 * must never be posted to another thread or handed to code outside the trusted runtime: the
 * transports copy what they send.
 */
import { InvalidArgumentError } from '../errors.js';
import { MAX_PAGES, PAGE_BYTES, simd } from './module.js';

export interface Region {
  /** Byte offset in the module's memory (64-byte aligned). */
  readonly at: number;
  readonly bytes: number;
}

const ALIGN = 64;
const MAX_BYTES = MAX_PAGES * PAGE_BYTES;

const free = new Map<number, number[]>();
const live = new Map<number, number>();
/** Every ArrayBuffer object the memory has had (one per size after each growth). */
const buffers = new WeakSet<object>();
let top = -1;

function rounded(bytes: number): number {
  return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
}

function memoryBuffer(): ArrayBufferLike {
  const buffer = simd().memory.buffer;
  buffers.add(buffer);
  return buffer;
}

/** A region of at least `bytes` bytes with arbitrary contents, until released. */
export function alloc(bytes: number): Region {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InvalidArgumentError(`cannot allocate ${bytes} bytes`);
  const size = rounded(bytes);
  const reused = free.get(size)?.pop();
  if (reused !== undefined) {
    live.set(reused, size);
    return { at: reused, bytes: size };
  }
  const { memory, kernels } = simd();
  if (top < 0) top = rounded(kernels.heapBase());
  // A kernel's vector loads may read up to 16 bytes past a region: the memory always extends past the top one.
  if (top + size + ALIGN > MAX_BYTES) return fromLarger(size);
  const have = memory.buffer.byteLength;
  if (top + size + ALIGN > have) memory.grow(Math.ceil((top + size + ALIGN - have) / PAGE_BYTES));
  const at = top;
  top += size;
  live.set(at, size);
  return { at, bytes: size };
}

/** When the memory is full: the smallest free region that is large enough, cut to size. */
function fromLarger(size: number): Region {
  let best: number | undefined;
  for (const [s, list] of free) if (s >= size && list.length > 0 && (best === undefined || s < best)) best = s;
  if (best === undefined) throw new InvalidArgumentError(`the trusted runtime's memory is full (4 GiB): cannot allocate ${size} bytes`);
  const at = free.get(best)!.pop()!;
  if (best > size) release({ at: at + size, bytes: best - size }, true);
  live.set(at, size);
  return { at, bytes: size };
}

/** Gives a region back; its views must no longer be used. */
export function release(region: Region, fresh = false): void {
  if (!fresh) {
    if (live.get(region.at) !== region.bytes) throw new Error(`internal: releasing ${region.bytes} bytes at ${region.at}, which are not allocated`);
    live.delete(region.at);
  }
  let list = free.get(region.bytes);
  if (list === undefined) free.set(region.bytes, (list = []));
  list.push(region.at);
}

/** Whether a view lies in the module's memory (so the kernels can address it). */
export function isResident(view: ArrayBufferView): boolean {
  return buffers.has(view.buffer);
}

/** The region a resident view covers exactly from its start, if it is one the arena handed out. */
export function regionOf(view: ArrayBufferView): Region | undefined {
  if (!isResident(view)) return undefined;
  const bytes = live.get(view.byteOffset);
  return bytes === undefined || bytes < view.byteLength || bytes >= view.byteLength + ALIGN ? undefined : { at: view.byteOffset, bytes };
}

export function u32(region: Region, length = region.bytes >> 2): Uint32Array {
  return new Uint32Array(memoryBuffer(), region.at, length);
}

export function i32(region: Region, length = region.bytes >> 2): Int32Array {
  return new Int32Array(memoryBuffer(), region.at, length);
}

export function f64(region: Region, length = region.bytes >> 3): Float64Array {
  return new Float64Array(memoryBuffer(), region.at, length);
}

export function f32(region: Region, length = region.bytes >> 2): Float32Array {
  return new Float32Array(memoryBuffer(), region.at, length);
}

export function u8(region: Region, length = region.bytes): Uint8Array {
  return new Uint8Array(memoryBuffer(), region.at, length);
}

/** Bytes in use and bytes the memory holds (for reports). */
export function arenaBytes(): { readonly live: number; readonly reserved: number } {
  let inUse = 0;
  for (const b of live.values()) inUse += b;
  return { live: inUse, reserved: top < 0 ? 0 : top };
}
