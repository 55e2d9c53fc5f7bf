/**
 * Memory reused from one training step to the next for the step's large transient arrays (im2col
 * rows, quantized operands, residues, products, activations and their gradients). A step allocates
 * the same sizes every step, and fresh typed-array memory costs a page fault per 4 KiB on first touch
 * — on the 2-vCPU EPYC this was measured on, about 2.7 ms per MB, more than the passes that fill it —
 * while the garbage collector frees the old arrays only later. Arrays below REUSE_MIN elements are
 * plain allocations. Every array handed out since the last `reset` must be dead when it is called:
 * the trainer resets at the start of each step, when nothing of the previous step is read again.
 */
const REUSE_MIN = 1 << 14;

type Pooled = Float64Array | Uint32Array;

export class StepScratch {
  private readonly free = new Map<string, Pooled[]>();
  private readonly lent: [string, Pooled][] = [];

  /** A zero-filled Float64Array of `length` values. */
  f64(length: number): Float64Array {
    if (length < REUSE_MIN) return new Float64Array(length);
    const a = this.take(`f${length}`) as Float64Array | undefined;
    return a === undefined ? this.lend(`f${length}`, new Float64Array(length)) : a.fill(0);
  }

  /** A Uint32Array of `length` values for the caller to overwrite entirely (contents unspecified). */
  u32(length: number): Uint32Array {
    if (length < REUSE_MIN) return new Uint32Array(length);
    return (this.take(`u${length}`) as Uint32Array | undefined) ?? this.lend(`u${length}`, new Uint32Array(length));
  }

  /** Everything lent since the last reset becomes reusable. */
  reset(): void {
    for (const [key, a] of this.lent) {
      const list = this.free.get(key);
      if (list === undefined) this.free.set(key, [a]);
      else list.push(a);
    }
    this.lent.length = 0;
  }

  private take(key: string): Pooled | undefined {
    const a = this.free.get(key)?.pop();
    if (a !== undefined) this.lent.push([key, a]);
    return a;
  }

  private lend<T extends Pooled>(key: string, a: T): T {
    this.lent.push([key, a]);
    return a;
  }
}

/** A zero-filled Float64Array from the step's scratch, or a fresh one where there is none (a test's context). */
export function f64Of(scratch: StepScratch | undefined, length: number): Float64Array {
  return scratch === undefined ? new Float64Array(length) : scratch.f64(length);
}
