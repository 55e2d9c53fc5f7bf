/**
 * Scheduling of the accelerator service (server.ts): requests for a layer wait in its bounded queue
 * (repository.ts slots; 503 + Retry-After past `maxQueue`, checked by the route) made of one FIFO per
 * client (http/fair-queue.ts). A batch is formed round-robin over the clients from requests with the
 * same per-item shape, up to `maxBatch` items, once the oldest request waited `maxDelayMs` or the
 * batch is full; it runs once (concatenated on the batch axis) and is split back. Batches run
 * `concurrency` at a time (default 1), layers taking turns; a batch whose working memory would pass
 * the budget runs in pieces along the batch axis (memory.ts). A request that waits past
 * `requestTimeoutMs` gets 503; one whose client went away is dropped.
 */
import type { ServerResponse } from 'node:http';
import { isSlalomError } from '../../errors.js';
import type { Residues } from '../../field/residues.js';
import type { QueueItem } from '../../http/fair-queue.js';
import { busy, HttpError } from '../../http/http-error.js';
import { sizeOf } from '../../tensor/tensor.js';
import { joinArrays } from '../../tensor/join.js';
import type { Outcome } from './infer-request.js';
import type { ModelSlot } from './repository.js';
import type { Runner } from './runners.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { AcceleratorMetrics, MutableStats } from './stats.js';

export interface Entry extends QueueItem {
  readonly client: string;
  readonly dims: readonly number[];
  readonly outDims: readonly number[];
  readonly x: Residues;
  readonly items: number;
  /** Items per backend run for this per-item shape (memory.ts). */
  readonly itemsPerRun: number;
  readonly shapeKey: string;
  readonly enqueuedAt: number;
  settled: boolean;
  resolve(o: Outcome): void;
  reject(e: HttpError): void;
}

export class Batcher {
  private running = 0;
  private rr = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly o: ResolvedServerOptions,
    private readonly slots: () => Iterable<ModelSlot>,
    private readonly metrics: AcceleratorMetrics,
    private readonly draining: () => boolean,
  ) {}

  /**
   * Queues one parsed request on `slot` and resolves with its share of a batch run; rejects with an
   * HttpError on a timeout in the queue (503), an unload (404) or a failed run. Dropped if `res`
   * closes first (the client went away).
   */
  enqueue(slot: ModelSlot, fields: Omit<Entry, 'enqueuedAt' | 'settled' | 'resolve' | 'reject'>, res: ServerResponse): Promise<Outcome> {
    const o = this.o;
    return new Promise<Outcome>((resolve, reject) => {
      const entry: Entry = { ...fields, enqueuedAt: performance.now(), settled: false, resolve, reject };
      const timeout = setTimeout(() => {
        if (slot.queue.remove(entry)) {
          this.metrics.recordRejection(slot, 'timeout');
          this.settle(entry, busy(`timed out after ${o.requestTimeoutMs} ms in the queue of '${slot.name}'`));
        }
      }, o.requestTimeoutMs);
      const cleanup = (): void => clearTimeout(timeout);
      entry.resolve = (v) => {
        cleanup();
        resolve(v);
      };
      entry.reject = (err) => {
        cleanup();
        reject(err);
      };
      res.once('close', () => {
        // The client went away: drop its queued request.
        if (!entry.settled && slot.queue.remove(entry)) this.settle(entry, new HttpError(499, 'client closed the connection'));
      });
      slot.queue.push(entry);
      this.kick();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.isIdle()) resolve();
      else this.idleWaiters.push(resolve);
    });
  }

  /** At shutdown, after the grace period: what is still queued gets 503. */
  abandon(): void {
    for (const s of this.slots()) for (const e of s.queue.drain()) this.settle(e, busy('the accelerator is shutting down'));
    if (this.timer) clearTimeout(this.timer);
  }

  isIdle(): boolean {
    if (this.running > 0) return false;
    for (const s of this.slots()) if (s.queue.size > 0) return false;
    return true;
  }

  /** Starts the batches that are due (full, or their oldest request waited maxDelayMs), up to `concurrency` at once. */
  kick(): void {
    if (this.idleWaiters.length > 0 && this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
    while (this.running < this.o.concurrency) {
      const now = performance.now();
      const pending = [...this.slots()].filter((s) => s.queue.size > 0 && s.model !== undefined);
      if (pending.length === 0) return;
      let pick: ModelSlot | undefined;
      let nextAt = Infinity;
      for (let k = 0; k < pending.length; k++) {
        const s = pending[(this.rr + k) % pending.length]!;
        const due = s.queue.oldestAt() + this.o.maxDelayMs;
        if (s.queue.items >= this.o.maxBatch || due <= now || this.draining()) {
          pick = s;
          this.rr = (this.rr + k + 1) % Math.max(1, pending.length);
          break;
        }
        nextAt = Math.min(nextAt, due);
      }
      if (pick === undefined) {
        this.arm(nextAt, now);
        return;
      }
      const batch = pick.queue.take(this.o.maxBatch);
      this.running++;
      void this.runBatch(pick, batch).finally(() => {
        this.running--;
        this.kick();
      });
    }
  }

  private arm(at: number, now: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, Math.ceil(at - now)));
  }

  private async runBatch(slot: ModelSlot, batch: Entry[]): Promise<void> {
    const live = batch.filter((e) => !e.settled);
    const model = slot.model;
    if (live.length === 0) return;
    if (model === undefined) {
      for (const e of live) this.settle(e, new HttpError(404, `model '${slot.name}' was unloaded`));
      return;
    }
    const items = live.reduce((a, e) => a + e.items, 0);
    const dims = [items, ...live[0]!.dims.slice(1)];
    const x = joinArrays(live.map((e) => e.x));
    const start = performance.now();
    this.metrics.recordWaits(slot, live.map((e) => start - e.enqueuedAt));
    model.active++;
    try {
      const outDims = [items, ...live[0]!.outDims.slice(1)];
      const y = await this.runInPieces(model.runner, dims, x, outDims, live[0]!.itemsPerRun, slot.stats);
      if (y.length !== sizeOf(outDims)) throw new Error(`the backend returned ${y.length} values for [${outDims.join(', ')}]`);
      const computeMs = performance.now() - start;
      this.metrics.recordBatch(slot, items, live.length, computeMs);
      let at = 0;
      for (const e of live) {
        const n = sizeOf(e.outDims);
        const part = live.length === 1 ? y : y.subarray(at, at + n);
        at += n;
        if (!e.settled) this.metrics.recordAnswer(slot, e.client);
        this.settleOk(e, { y: part, computeMs, batchItems: items, batchRequests: live.length });
      }
    } catch (err) {
      this.metrics.recordRejection(slot, 'failed', live.length);
      const status = isSlalomError(err) && err.code === 'SLALOM_ERR_INVALID_ARG' ? 400 : 500;
      for (const e of live) this.settle(e, new HttpError(status, `model '${slot.name}': ${(err as Error).message}`));
    } finally {
      model.active--;
      if (model.retired && model.active === 0) void model.runner.close().catch(() => {});
    }
  }

  /** One run, or runs of at most `itemsPerRun` items along the batch axis, concatenated. */
  private async runInPieces(runner: Runner, dims: readonly number[], x: Residues, outDims: readonly number[], itemsPerRun: number, st: MutableStats): Promise<Residues> {
    const items = dims[0]!;
    if (items <= itemsPerRun) {
      st.runs++;
      return runner.run(dims, x);
    }
    const inItem = x.length / items;
    const outItem = sizeOf(outDims) / items;
    const y = new Uint32Array(sizeOf(outDims));
    for (let at = 0; at < items; at += itemsPerRun) {
      const n = Math.min(itemsPerRun, items - at);
      st.runs++;
      const part = await runner.run([n, ...dims.slice(1)], x.slice(at * inItem, (at + n) * inItem));
      if (part.length !== n * outItem) throw new Error(`the backend returned ${part.length} values for ${n} items`);
      y.set(part, at * outItem);
    }
    return y;
  }

  settle(e: Entry, err: HttpError): void {
    if (e.settled) return;
    e.settled = true;
    e.reject(err);
  }

  private settleOk(e: Entry, o: Outcome): void {
    if (e.settled) return;
    e.settled = true;
    e.resolve(o);
  }
}
