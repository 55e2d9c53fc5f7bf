/**
 * One model the trusted service serves (issue 15, deliverables 1–3): a bounded queue of requests,
 * one FIFO per client taken round-robin (http/fair-queue.ts; 503 + Retry-After when full), and
 * `lanes` sessions that run requests concurrently against one shared accelerator (shared-accelerator.ts),
 * so the accelerator computes one request's layer while the trusted thread checks another's. Each
 * request is one run of one lane: its own pads (each item one pad, consumed durably before anything
 * leaves), its own result; a lane's Freivalds secrets and failure state are its own.
 *
 * Pads (private modes) come from the sealed store, refilled in idle time by a nice-19 child
 * (refill.ts, pad-source.ts), or from one in-memory pool per model shared by its lanes, which
 * refills itself in idle time (memory-pad-source.ts). No pad ready: `onEmpty` 'wait' waits for the
 * refill up to the request's deadline, 'fail' answers 503 + Retry-After, 'local' runs that inference
 * in the trusted runtime (the result says mode baseline); either source alike. A PadsExhaustedError
 * is raised before anything is consumed or sent, so waiting and trying again is safe.
 */
import type { AcceleratorBackend } from '../accel/backend.js';
import { HttpBackend } from '../accel/http/client.js';
import { WorkerBackend } from '../accel/worker/client.js';
import { createSession, type CreateSessionOptions, type RunResult, type Session, type SessionInput } from '../api/session.js';
import type { MonotonicCounters } from '../blind/monotonic-counter.js';
import { FairQueue, type QueueItem } from '../http/fair-queue.js';
import { busy, HttpError } from '../http/http-error.js';
import { createExactKernels } from '../kernels/exact-linear.js';
import type { SlalomModel } from '../runtime/model.js';
import type { Mode } from '../runtime/modes.js';
import type { AdmissionOptions } from './accelerator-admission.js';
import type { ServeMetrics } from './metrics.js';
import { MemoryPadSource, type MemoryPadOptions } from './memory-pad-source.js';
import { StorePadSource, type PadMaker } from './pad-source.js';
import { PadRefill, type PadSupply, type RefillOptions } from './refill.js';
import { shareAccelerator, type SharedAccelerator } from './shared-accelerator.js';

export type EmptyPolicy = 'wait' | 'fail' | 'local';
export const EMPTY_POLICIES: readonly EmptyPolicy[] = ['wait', 'fail', 'local'];

interface EmptyHandling {
  /** What a request does when no pad is ready (default 'wait'). */
  readonly onEmpty?: EmptyPolicy;
}

/** The private modes' pads: a sealed store, or an in-memory pool (a confidential VM; `--pads memory`). */
export type ServedPads =
  | (EmptyHandling & {
      readonly source?: 'store';
      /** The pad store directory. */
      readonly store: string;
      readonly stateDir?: string;
      /** Monotonic counters the state's ledgers are bound to (docs/rollback.md); the refill child needs them in a directory. */
      readonly counters?: MonotonicCounters;
      /** Background refill between water marks (default on; false: none, pads come from `slalom precompute`). */
      readonly refill?: RefillOptions | false;
    })
  | (EmptyHandling & { readonly source: 'memory' } & Omit<MemoryPadOptions, 'kernels'>);

export interface ServedModelConfig {
  readonly model: SlalomModel;
  /** The OIP model name (default model.name). */
  readonly name?: string;
  readonly mode: Mode;
  /** Requests run at once (default 2). */
  readonly lanes?: number;
  /** Requests waiting at most (default 64). */
  readonly maxQueue?: number;
  /** The accelerator all lanes share (default: one embedded worker); closed with the model. */
  readonly accelerator?: AcceleratorBackend;
  /** Required by the private modes. */
  readonly pads?: ServedPads;
  /** Checks, failure policy, kernels, top-k. */
  readonly session?: Omit<CreateSessionOptions, 'mode' | 'accelerator' | 'pads' | 'load'>;
  /** Re-admission of a quarantined accelerator: its backoff (accelerator-admission.ts) and where its events go. */
  readonly admission?: Omit<AdmissionOptions, 'kernels'>;
}

interface Job extends QueueItem {
  readonly input: SessionInput;
  readonly deadline: number;
  settled: boolean;
  resolve(r: { result: RunResult; queueMs: number }): void;
  reject(e: unknown): void;
}

export class ServedModel {
  private readonly queue = new FairQueue<Job>();
  private readonly free: Session[];
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  private constructor(
    readonly name: string,
    readonly model: SlalomModel,
    readonly mode: Mode,
    readonly onEmpty: EmptyPolicy | undefined,
    private readonly lanes: readonly Session[],
    private readonly maxQueue: number,
    private readonly shared: SharedAccelerator | undefined,
    readonly pads: PadMaker | undefined,
    /** What keeps the pads coming: the store's refill, or the memory pool itself. */
    readonly refill: PadSupply | undefined,
    private readonly metrics: ServeMetrics,
  ) {
    this.free = [...lanes];
  }

  static async open(config: ServedModelConfig, metrics: ServeMetrics): Promise<ServedModel> {
    const { model, mode } = config;
    const name = config.name ?? model.name;
    const lanes = config.lanes ?? 2;
    if (!Number.isSafeInteger(lanes) || lanes < 1) throw new RangeError(`lanes must be a positive integer, got ${lanes}`);
    const isPrivate = mode === 'private' || mode === 'private+verified';
    if (isPrivate && config.pads === undefined) throw new RangeError(`mode '${mode}' of ${name} needs pads (a store, or source 'memory')`);
    // The lanes' shared accelerator registers the model's layers once (shared-accelerator.ts): a per-request operand would never reach it.
    if ((config.session?.attention ?? 'trusted') !== 'trusted') throw new RangeError(`${name}: attention on the accelerator is not served (the lanes share one registration of the model's layers)`);
    const kernels = config.session?.kernels ?? 'ort';
    const shared = mode === 'baseline' ? undefined : shareAccelerator(config.accelerator ?? new WorkerBackend({ kernels }), { ...config.admission, kernels: () => createExactKernels(kernels) });
    const p = isPrivate ? config.pads! : undefined;
    const onEmpty = p !== undefined ? (p.onEmpty ?? 'wait') : undefined;
    // The sessions never wait for a pad themselves: an empty source is this model's policy (run()).
    const padPolicy = { onExhausted: onEmpty === 'local' ? ('local' as const) : ('fail' as const), lowWater: 0 };
    const countPad = (): void => metrics.padsPrecomputed.inc({ model: name });
    let pads: PadMaker | undefined;
    let refill: PadSupply | undefined;
    const sessions: Session[] = [];
    try {
      let sessionPads: CreateSessionOptions['pads'];
      if (p?.source === 'memory') {
        const memory = await MemoryPadSource.open(model, { capacity: p.capacity, idleMs: p.idleMs, kernels }, countPad);
        pads = refill = memory;
        sessionPads = { source: 'shared', from: memory.pool, wait: false, ...padPolicy };
      } else if (p !== undefined) {
        pads = new StorePadSource(model, p.store, p.stateDir, kernels, p.refill === false ? undefined : p.refill?.nice, p.counters);
        refill = p.refill !== false ? new PadRefill(pads, p.refill ?? {}, countPad) : undefined;
        sessionPads = { store: p.store, stateDir: p.stateDir, ...(p.counters !== undefined ? { counters: p.counters } : {}), ...padPolicy };
      }
      for (let k = 0; k < lanes; k++) {
        sessions.push(
          await createSession(model, {
            ...config.session,
            mode,
            ...(shared !== undefined ? { accelerator: shared.lane() } : {}),
            ...(sessionPads !== undefined ? { pads: sessionPads } : {}),
          }),
        );
      }
    } catch (e) {
      await Promise.all(sessions.map((s) => s.close()));
      if (refill !== undefined) await refill.close();
      else await pads?.close();
      await shared?.close();
      throw e;
    }
    refill?.check();
    return new ServedModel(name, model, mode, onEmpty, sessions, config.maxQueue ?? 64, shared, pads, refill, metrics);
  }

  get accelerator(): AcceleratorBackend | undefined {
    return this.shared?.backend;
  }

  queueDepth(): number {
    return this.queue.size;
  }

  inflight(): number {
    return this.running;
  }

  /** Accelerators quarantined after refused replies: of an http backend, each; else the one backend while it awaits re-admission. */
  quarantined(): number {
    const b = this.shared?.backend;
    if (b instanceof HttpBackend) return b.stats().accelerators.filter((a) => a.quarantined !== undefined).length;
    return this.shared?.admission.admitted() === false ? 1 : 0;
  }

  /** The shared accelerator's admission (undefined in mode baseline). */
  get admission(): SharedAccelerator['admission'] | undefined {
    return this.shared?.admission;
  }

  /**
   * Runs `input` for `client` once a lane is free (its turn in the fair queue) and resolves with the
   * result; 503 when the queue is full or the request waited past `timeoutMs`; a run's own error
   * (IntegrityError, …) rejects it, never a result.
   */
  infer(client: string, input: SessionInput, timeoutMs: number): Promise<{ result: RunResult; queueMs: number }> {
    if (this.queue.size >= this.maxQueue) return Promise.reject(busy(`the queue of '${this.name}' is full (${this.maxQueue} requests)`));
    return new Promise((resolve, reject) => {
      const job: Job = { client, items: 1, shapeKey: '', enqueuedAt: performance.now(), input, deadline: performance.now() + timeoutMs, settled: false, resolve, reject };
      const timer = setTimeout(() => {
        if (this.queue.remove(job)) this.settle(job, busy(`timed out after ${timeoutMs} ms in the queue of '${this.name}'`));
      }, timeoutMs);
      timer.unref();
      const settle = (): void => clearTimeout(timer);
      job.resolve = (v) => {
        settle();
        resolve(v);
      };
      job.reject = (e) => {
        settle();
        reject(e);
      };
      this.queue.push(job);
      this.pump();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      if (this.running === 0 && this.queue.size === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
  }

  /** What is still queued gets 503 (shutdown). */
  abandon(): void {
    for (const job of this.queue.drain()) this.settle(job, busy('the service is shutting down'));
  }

  async close(): Promise<void> {
    this.abandon();
    await this.idle();
    await Promise.all(this.lanes.map((s) => s.close()));
    await this.refill?.close();
    if (this.refill === undefined) await this.pads?.close();
    await this.shared?.close();
  }

  private pump(): void {
    while (this.free.length > 0 && this.queue.size > 0) {
      const job = this.queue.take(1)[0]!;
      const lane = this.free.pop()!;
      this.running++;
      void this.run(lane, job).finally(() => {
        this.running--;
        this.free.push(lane);
        this.refill?.check();
        if (this.running === 0 && this.queue.size === 0) for (const w of this.idleWaiters.splice(0)) w();
        this.pump();
      });
    }
  }

  private async run(lane: Session, job: Job): Promise<void> {
    const queueMs = performance.now() - job.enqueuedAt;
    try {
      for (;;) {
        try {
          const result = await lane.run(job.input);
          for (const i of result.incidents) if (i.code === 'SLALOM_ERR_PADS_EXHAUSTED') this.metrics.padsExhausted.inc({ model: this.name, policy: 'local' });
          this.settleOk(job, { result, queueMs });
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== 'SLALOM_ERR_PADS_EXHAUSTED') throw e;
          this.metrics.padsExhausted.inc({ model: this.name, policy: this.onEmpty ?? 'fail' });
          const left = job.deadline - performance.now();
          if (this.onEmpty !== 'wait' || left <= 0 || !(await this.waitForPad(left))) throw busy(`no one-time pad is ready for '${this.name}' (${this.onEmpty === 'wait' ? 'waited for the refill' : 'policy fail'}); retry later`);
        }
      }
    } catch (e) {
      this.settle(job, e);
    }
  }

  private async waitForPad(timeoutMs: number): Promise<boolean> {
    if (this.refill !== undefined) return this.refill.waitForPad(timeoutMs);
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if ((this.pads?.remaining() ?? 0) > 0) return true;
      await new Promise((r) => setTimeout(r, Math.min(250, deadline - performance.now())));
    }
    return false;
  }

  private settle(job: Job, e: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(e instanceof HttpError || e instanceof Error ? e : new Error(String(e)));
  }

  private settleOk(job: Job, v: { result: RunResult; queueMs: number }): void {
    if (job.settled) return;
    job.settled = true;
    job.resolve(v);
  }
}
