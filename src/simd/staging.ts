/**
 * Running a kernel on arrays that may or may not be resident (arena.ts): a resident view is
 * addressed in place; any other array is copied into a scratch region first (and back, for an
 * output). The hot path passes resident views only; the copies serve tests, tools and the few
 * callers whose data comes from outside the trusted runtime's memory.
 */
import { alloc, isResident, release, u8, type Region } from './arena.js';

/** An array a kernel reads (`in`), writes (`out`) or both (`inout`). */
export interface Staged {
  readonly view: ArrayBufferView;
  readonly use: 'in' | 'out' | 'inout';
  /** Bytes the kernel may read past the end (16-byte loads of packed data): a scratch copy gets them; the arena keeps them readable past any region. */
  readonly slack?: number;
}

/** Calls `run` with the byte address of each array in the module's memory, copying what is not resident. */
export function withStaged<T>(arrays: readonly Staged[], run: (...at: number[]) => T): T {
  const scratch: (Region | undefined)[] = arrays.map(({ view, slack = 0 }) => (isResident(view) ? undefined : alloc(view.byteLength + slack)));
  try {
    arrays.forEach(({ view, use }, k) => {
      const r = scratch[k];
      if (r !== undefined && use !== 'out') u8(r, view.byteLength).set(bytesOf(view));
    });
    const result = run(...arrays.map(({ view }, k) => scratch[k]?.at ?? view.byteOffset));
    arrays.forEach(({ view, use }, k) => {
      const r = scratch[k];
      if (r !== undefined && use !== 'in') bytesOf(view).set(u8(r, view.byteLength));
    });
    return result;
  } finally {
    for (const r of scratch) if (r !== undefined) release(r);
  }
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
