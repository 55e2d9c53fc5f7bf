/**
 * GPU buffers reused across requests: sizes rounded up (bucketSize: powers of two, at least 256 bytes) and
 * kept per (usage, size) when released, up to `maxIdleBytes`; beyond that a released buffer is
 * destroyed. Inputs, outputs, partial sums, uniforms and read-back buffers all come from here, so a
 * steady stream of requests for the same layers allocates nothing after the first.
 */
/// <reference types="@webgpu/types" />

/** Powers of two up to 64 MiB, then multiples of 16 MiB (so a large buffer never doubles past the device's limits). */
export function bucketSize(bytes: number): number {
  const LARGE = 64 * 2 ** 20;
  if (bytes > LARGE) return Math.ceil(bytes / (16 * 2 ** 20)) * 16 * 2 ** 20;
  return Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1))));
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, string>();
  private idleBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxIdleBytes = 1 << 30,
  ) {}

  /** A buffer of at least `bytes` bytes with exactly `usage`. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const size = bucketSize(bytes);
    const key = `${usage}:${size}`;
    const reused = this.free.get(key)?.pop();
    if (reused !== undefined) {
      this.idleBytes -= size;
      return reused;
    }
    const buffer = this.device.createBuffer({ size, usage, ...(label !== undefined ? { label } : {}) });
    this.sizes.set(buffer, key);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const key = this.sizes.get(buffer);
    if (key === undefined || this.idleBytes + buffer.size > this.maxIdleBytes) {
      buffer.destroy();
      return;
    }
    let list = this.free.get(key);
    if (list === undefined) this.free.set(key, (list = []));
    list.push(buffer);
    this.idleBytes += buffer.size;
  }

  destroy(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.idleBytes = 0;
  }
}
