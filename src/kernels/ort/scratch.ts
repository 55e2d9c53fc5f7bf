/**
 * One reusable buffer for im2col columns and byte planes: fresh pages are costly to fault in (the OS
 * zeroes them one fault at a time), and the exact ORT kernels fill a large buffer on every call.
 * One holder at a time: `take` hands the buffer out, `give` returns it.
 */

/** Largest scratch buffer kept between calls. */
const MAX_SCRATCH_BYTES = 64 << 20;

export class Scratch {
  #buffer: ArrayBuffer | undefined;
  #closed = false;

  /** A buffer of at least `bytes` bytes, with arbitrary contents. */
  take(bytes: number): ArrayBuffer {
    const s = this.#buffer;
    if (s !== undefined && s.byteLength >= bytes) {
      this.#buffer = undefined;
      return s;
    }
    return new ArrayBuffer(bytes);
  }

  /** Keeps `buf` for the next `take` if it is the largest seen and not too large. */
  give(buf: ArrayBuffer): void {
    if (buf.byteLength > MAX_SCRATCH_BYTES || this.#closed) return;
    if (this.#buffer === undefined || this.#buffer.byteLength < buf.byteLength) this.#buffer = buf;
  }

  /** Drops the buffer and keeps none from now on. */
  close(): void {
    this.#closed = true;
    this.#buffer = undefined;
  }
}
