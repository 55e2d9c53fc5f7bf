/**
 * Streaming memory bandwidth of this machine, measured in the benchmark's own process on one thread
 * (the trusted runtime's thread): the physical floor of an O(activations) trusted runtime.
 *
 * - copy: `dst.set(src)` of a 256 MiB Float64Array (a memmove); bytes counted = read + written.
 * - read: a JS sum of a 256 MiB Float64Array with four independent accumulators (so the loop is
 *   not bound by the add latency); bytes counted = read.
 * Each is the best of `reps` passes after one untimed pass that faults the pages in.
 */

export interface Bandwidth {
  readonly bufferBytes: number;
  /** Best copy bandwidth, bytes/s (read + write counted). */
  readonly copyBytesPerS: number;
  /** Best read-only (sum) bandwidth, bytes/s. */
  readonly readBytesPerS: number;
  /** The larger of the two: the most optimistic streaming rate, used for the floor. */
  readonly bestBytesPerS: number;
  readonly reps: number;
}

export function measureBandwidth(bufferBytes = 256 * 2 ** 20, reps = 8): Bandwidth {
  const n = bufferBytes / 8;
  const src = new Float64Array(n);
  for (let i = 0; i < n; i++) src[i] = i & 1023;
  const dst = new Float64Array(n);
  dst.set(src); // fault the destination's pages in
  let copyBest = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    dst.set(src);
    copyBest = Math.min(copyBest, performance.now() - t0);
  }
  let readBest = Infinity;
  let sink = 0;
  sink += sum4(src); // warm up the JIT
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    sink += sum4(dst);
    readBest = Math.min(readBest, performance.now() - t0);
  }
  if (sink === -1) console.error(sink); // keep the sums observable
  const copyBytesPerS = (2 * bufferBytes) / (copyBest / 1000);
  const readBytesPerS = bufferBytes / (readBest / 1000);
  return { bufferBytes, copyBytesPerS, readBytesPerS, bestBytesPerS: Math.max(copyBytesPerS, readBytesPerS), reps };
}

function sum4(a: Float64Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = a.length - (a.length % 4);
  for (let i = 0; i < n; i += 4) {
    s0 += a[i]!;
    s1 += a[i + 1]!;
    s2 += a[i + 2]!;
    s3 += a[i + 3]!;
  }
  for (let i = n; i < a.length; i++) s0 += a[i]!;
  return s0 + s1 + s2 + s3;
}
