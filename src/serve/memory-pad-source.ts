/**
 * The in-memory pad pool (runtime/pad-pool.ts) as the trusted service's pad source (`slalom serve
 * --pads memory`, issue 15 deliverable 3): one pool per served model, shared by all its lanes.
 * Sharing is safe because each inference leases its own pad and the pool's one counter numbers
 * them, so no two requests ever get the same pad and every receipt names the same pool (its random
 * id). One pool rather than one per lane also means one thread and one `--pad-pool` of ready pads per model.
 *
 * The pool refills itself in idle time (its thread starts once no inference ran for `idleMs`), so
 * the service's refill (refill.ts, a child process for the store) is not used: this class is both the
 * source and its own PadSupply. `produce` asks the pool to fill now, which is what a request that
 * waits for a pad (policy wait) needs; the lanes' sessions take pads without waiting (session option
 * `wait: false`), so an empty pool is the service's policy to handle, as with the store.
 */
import type { ExactKernelsName } from '../kernels/exact-linear.js';
import type { SlalomModel } from '../runtime/model.js';
import { PadPool } from '../runtime/pad-pool.js';
import type { PadMaker } from './pad-source.js';
import type { PadSupply, RefillStatus } from './refill.js';

export interface MemoryPadOptions {
  /** Pads kept ready (default 8). */
  readonly capacity?: number;
  /** Idle milliseconds after the last inference before the pool refills (default 50). */
  readonly idleMs?: number;
  readonly kernels?: ExactKernelsName;
}

export class MemoryPadSource implements PadMaker, PadSupply {
  readonly kind = 'memory';
  private produced = 0;
  private rate = 0;
  private lastError: string | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly pool: PadPool,
    private readonly onPadMade: (ratePerSecond: number) => void,
  ) {}

  /** Opens the pool and resolves once it is full (precomputing the first pads is the offline phase). */
  static async open(model: SlalomModel, options: MemoryPadOptions, onPad: (ratePerSecond: number) => void = () => {}): Promise<MemoryPadSource> {
    let source: MemoryPadSource | undefined;
    const pool = PadPool.open(model.quantized, { capacity: options.capacity ?? 8, kernels: options.kernels ?? 'ort', idleMs: options.idleMs ?? 50, onFilled: (ms) => source?.filled(ms) });
    source = new MemoryPadSource(pool, onPad);
    try {
      await pool.filled();
    } catch (e) {
      await pool.close();
      throw e;
    }
    return source;
  }

  remaining(): number {
    return this.pool.inventory().remaining;
  }

  /** Has the pool make up to `count` more pads now (at most its capacity), not waiting for idle time. */
  async produce(count: number, onPad: () => void): Promise<number> {
    const target = Math.min(this.pool.inventory().capacity, this.remaining() + count);
    const before = this.produced;
    this.listeners.add(onPad);
    try {
      await this.pool.filled(target);
    } catch (e) {
      this.lastError = (e as Error).message;
      throw e;
    } finally {
      this.listeners.delete(onPad);
    }
    return this.produced - before;
  }

  status(): RefillStatus {
    const { remaining, capacity, filling } = this.pool.inventory();
    return { remaining, capacity, refilling: filling > 0, produced: this.produced, padsPerSecond: this.rate, ...(this.lastError !== undefined ? { lastError: this.lastError } : {}) };
  }

  /** Nothing to do after a request: the pool starts its own refill once no inference ran for its idle time. */
  check(): void {}

  /** Resolves true once a pad is ready (asking the pool for one now), false after `timeoutMs`; the pool's failure rejects. */
  async waitForPad(timeoutMs: number): Promise<boolean> {
    if (this.remaining() > 0) return true;
    const made = this.produce(1, () => {}).then(() => true);
    made.catch(() => {}); // still pending when the timeout wins: its failure is in lastError
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([made, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private filled(ms: number): void {
    this.produced++;
    this.rate = 1000 / Math.max(ms, 1e-3);
    this.onPadMade(this.rate);
    for (const onPad of this.listeners) onPad();
  }
}
