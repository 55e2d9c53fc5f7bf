/**
 * Pads refilled in idle time (issue 15, deliverable 3): keeps a pad source (pad-source.ts) between a
 * low and a high water mark. Once fewer than `lowWater` pads are ready, it asks the source for more,
 * `chunk` at a time, until `highWater` are; the source works at a lower priority than requests (the
 * sealed store's refill is a nice-19 child process), one run at a time, so no two runs of this
 * service reserve at once (and the ledger keeps runs of other processes disjoint).
 *
 * What happens when no pad is ready is the served model's policy (served-model.ts): `wait` (for the
 * refill, `waitForPad`, up to the request's deadline), `fail` (503 + Retry-After) or `local` (that
 * inference runs in the trusted runtime, mode baseline); each is counted in the metrics.
 */
import type { PadMaker } from './pad-source.js';

export interface RefillOptions {
  /** Start refilling when fewer pads than this are ready (default 8). */
  readonly lowWater?: number;
  /** Refill up to this many ready pads (default 32). */
  readonly highWater?: number;
  /** Pads per run of the source (default 8): a run can only be stopped between pads. */
  readonly chunk?: number;
  /** How often the level is checked besides after each request (default 1 s). */
  readonly intervalMs?: number;
  /** Scheduling niceness of the refill process (default 19, the lowest priority). */
  readonly nice?: number;
}

export interface RefillStatus {
  readonly remaining: number;
  /** Pads the source holds at most (the memory pool's slots; a store has no bound). */
  readonly capacity?: number;
  readonly refilling: boolean;
  /** Pads made since start. */
  readonly produced: number;
  /** Pads per second of the last run, or of the last pad for the memory pool (0 before the first). */
  readonly padsPerSecond: number;
  readonly lastError?: string;
}

/**
 * What keeps a served model's pads coming, as the service uses it (served-model.ts): this refill
 * over the sealed store, or the memory pool, which refills itself in idle time (memory-pad-source.ts).
 */
export interface PadSupply {
  status(): RefillStatus;
  /** Looks at the level after a request. */
  check(): void;
  /** Resolves true once a pad is ready, false after `timeoutMs`. */
  waitForPad(timeoutMs: number): Promise<boolean>;
  /** Stops refilling and closes the source. */
  close(): Promise<void>;
}

export class PadRefill implements PadSupply {
  private readonly low: number;
  private readonly high: number;
  private readonly chunk: number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private produced = 0;
  private rate = 0;
  private lastError: string | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    readonly source: PadMaker,
    options: RefillOptions = {},
    private readonly onPad: (ratePerSecond: number) => void = () => {},
  ) {
    this.low = options.lowWater ?? 8;
    this.high = options.highWater ?? 32;
    this.chunk = options.chunk ?? 8;
    if (!Number.isSafeInteger(this.low) || this.low < 1 || !Number.isSafeInteger(this.high) || this.high < this.low) throw new RangeError(`refill water marks must satisfy 1 ≤ low ≤ high, got low ${this.low}, high ${this.high}`);
    const intervalMs = options.intervalMs ?? 1000;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  status(): RefillStatus {
    return { remaining: this.source.remaining(), refilling: this.running, produced: this.produced, padsPerSecond: this.rate, ...(this.lastError !== undefined ? { lastError: this.lastError } : {}) };
  }

  /** Looks at the level now (called after each request and on the timer); starts a refill below the low water mark. */
  check(): void {
    if (this.running || this.closed || this.source.remaining() >= this.low) return;
    this.running = true;
    void this.fill().finally(() => {
      this.running = false;
      this.wake();
    });
  }

  /** Resolves true once a pad is ready (starting a refill if none runs), false after `timeoutMs`. */
  async waitForPad(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.source.remaining() > 0) return true;
      if (this.closed) return false;
      this.check();
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 500));
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.waiters.push(done);
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.wake();
    await this.source.close();
  }

  private async fill(): Promise<void> {
    for (;;) {
      const remaining = this.source.remaining();
      if (this.closed || remaining >= this.high) return;
      const count = Math.min(this.chunk, this.high - remaining);
      const start = performance.now();
      let done = 0;
      try {
        await this.source.produce(count, () => {
          done++;
          this.produced++;
          this.rate = (1000 * done) / Math.max(1, performance.now() - start);
          this.onPad(this.rate);
          this.wake();
        });
      } catch (e) {
        if (!this.closed) this.lastError = (e as Error).message;
        return; // tried again on the next check
      }
      this.lastError = undefined;
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
