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
 *
 * A decoder is served for generation (generate()), one pad per token fed: its lanes take their pads
 * through a WaitingPads each (waiting-pads.ts), so a generation that runs out mid-way waits for the
 * refill right there (policy wait, up to its deadline), ends with finish 'no-pads' (fail, or wait past
 * the deadline), or runs its steps in the trusted runtime (local); the result records which.
 */
import type { AcceleratorBackend } from '../accel/backend.js';
import { HttpBackend } from '../accel/http/client.js';
import { WorkerBackend } from '../accel/worker/client.js';
import { createSession, type CreateSessionOptions, type GenerateResult, type Prompt, type RunResult, type Session, type SessionInput } from '../api/session.js';
import type { MonotonicCounters } from '../blind/monotonic-counter.js';
import type { GenerateOptions } from '../generate/generation.js';
import { FairQueue, type QueueItem } from '../http/fair-queue.js';
import { busy, HttpError } from '../http/http-error.js';
import { createExactKernels } from '../kernels/exact-linear.js';
import type { SlalomModel } from '../runtime/model.js';
import type { PadSource } from '../runtime/pad-lease.js';
import type { Mode } from '../runtime/modes.js';
import { openPads } from '../runtime/session.js';
import type { AdmissionOptions } from './accelerator-admission.js';
import type { ServeMetrics } from './metrics.js';
import { MemoryPadSource, type MemoryPadOptions } from './memory-pad-source.js';
import { StorePadSource, type PadMaker } from './pad-source.js';
import { PadRefill, type PadSupply, type RefillOptions } from './refill.js';
import { shareAccelerator, type SharedAccelerator } from './shared-accelerator.js';
import { WaitingPads } from './waiting-pads.js';

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

/** A session, and for a decoder in a private mode the pad source whose deadline each request sets. */
interface Lane {
  readonly session: Session;
  readonly pads?: WaitingPads;
}

interface Job extends QueueItem {
  readonly deadline: number;
  settled: boolean;
  /** What the job runs on its lane: its result resolves the job, its error rejects it. */
  work(lane: Lane, job: Job): Promise<unknown>;
  resolve(r: unknown): void;
  reject(e: unknown): void;
}

export class ServedModel {
  private readonly queue = new FairQueue<Job>();
  private readonly free: Lane[];
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  private constructor(
    readonly name: string,
    readonly model: SlalomModel,
    readonly mode: Mode,
    readonly onEmpty: EmptyPolicy | undefined,
    private readonly lanes: readonly Lane[],
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
    const sessions: Lane[] = [];
    try {
      let sessionPads: CreateSessionOptions['pads'];
      let laneSource: (() => PadSource) | undefined;
      if (p?.source === 'memory') {
        const memory = await MemoryPadSource.open(model, { capacity: p.capacity, idleMs: p.idleMs, kernels }, countPad);
        pads = refill = memory;
        sessionPads = { source: 'shared', from: memory.pool, wait: false, ...padPolicy };
        laneSource = () => memory.pool;
      } else if (p !== undefined) {
        pads = new StorePadSource(model, p.store, p.stateDir, kernels, p.refill === false ? undefined : p.refill?.nice, p.counters);
        refill = p.refill !== false ? new PadRefill(pads, p.refill ?? {}, countPad) : undefined;
        sessionPads = { store: p.store, stateDir: p.stateDir, ...(p.counters !== undefined ? { counters: p.counters } : {}), ...padPolicy };
        laneSource = () => openPads(model, { store: p.store, stateDir: p.stateDir, ...(p.counters !== undefined ? { counters: p.counters } : {}) }, kernels);
      }
      const supply = refill ?? pads;
      for (let k = 0; k < lanes; k++) {
        // A decoder's lane waits for its pads step by step itself (waiting-pads.ts), from the pool or its own view of the store.
        const lanePads = model.decoder !== undefined && laneSource !== undefined ? new WaitingPads(laneSource(), onEmpty!, (ms) => waitForPadFrom(supply, ms), () => metrics.padsExhausted.inc({ model: name, policy: 'wait' })) : undefined;
        const session = await createSession(model, {
          ...config.session,
          mode,
          ...(shared !== undefined ? { accelerator: shared.lane() } : {}),
          ...(lanePads !== undefined ? { pads: { source: 'shared', from: lanePads, wait: true, ...padPolicy } } : sessionPads !== undefined ? { pads: sessionPads } : {}),
        });
        sessions.push({ session, ...(lanePads !== undefined ? { pads: lanePads } : {}) });
      }
    } catch (e) {
      await Promise.all(sessions.map((s) => s.session.close()));
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
    return this.enqueue(client, timeoutMs, async (lane, job) => {
      const queueMs = performance.now() - job.enqueuedAt;
      for (;;) {
        try {
          const result = await lane.session.run(input);
          for (const i of result.incidents) if (i.code === 'SLALOM_ERR_PADS_EXHAUSTED') this.metrics.padsExhausted.inc({ model: this.name, policy: 'local' });
          return { result, queueMs };
        } catch (e) {
          if ((e as { code?: string }).code !== 'SLALOM_ERR_PADS_EXHAUSTED') throw e;
          this.metrics.padsExhausted.inc({ model: this.name, policy: this.onEmpty ?? 'fail' });
          const left = job.deadline - performance.now();
          if (this.onEmpty !== 'wait' || left <= 0 || !(await this.waitForPad(left))) throw busy(`no one-time pad is ready for '${this.name}' (${this.onEmpty === 'wait' ? 'waited for the refill' : 'policy fail'}); retry later`);
        }
      }
    });
  }

  /**
   * Generates from one prompt with the decoder once a lane is free, each token to `options.onToken`
   * as its step is accepted; a step that finds no pad follows onEmpty (see the module comment). A
   * run's own error (IntegrityError, …) rejects, and no token follows it.
   */
  generate(client: string, prompt: Prompt, options: GenerateOptions, timeoutMs: number): Promise<{ result: GenerateResult; queueMs: number }> {
    return this.enqueue(client, timeoutMs, async (lane, job) => {
      const queueMs = performance.now() - job.enqueuedAt;
      if (lane.pads !== undefined) lane.pads.deadline = job.deadline;
      const result = await lane.session.generate(prompt, options);
      if (this.onEmpty !== 'wait') for (const i of result.incidents) if (i.code === 'SLALOM_ERR_PADS_EXHAUSTED') this.metrics.padsExhausted.inc({ model: this.name, policy: this.onEmpty ?? 'fail' });
      return { result, queueMs };
    });
  }

  /** Queues `work` for `client` until a lane is free (its turn in the fair queue); 503 when the queue is full or the request waited past `timeoutMs`. */
  private enqueue<T>(client: string, timeoutMs: number, work: (lane: Lane, job: Job) => Promise<T>): Promise<T> {
    if (this.queue.size >= this.maxQueue) return Promise.reject(busy(`the queue of '${this.name}' is full (${this.maxQueue} requests)`));
    return new Promise<T>((resolve, reject) => {
      const job: Job = { client, items: 1, shapeKey: '', enqueuedAt: performance.now(), deadline: performance.now() + timeoutMs, settled: false, work, resolve: resolve as (r: unknown) => void, reject };
      const timer = setTimeout(() => {
        if (this.queue.remove(job)) this.settle(job, busy(`timed out after ${timeoutMs} ms in the queue of '${this.name}'`));
      }, timeoutMs);
      timer.unref();
      const settle = (): void => clearTimeout(timer);
      job.resolve = (v) => {
        settle();
        resolve(v as T);
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
    await Promise.all(this.lanes.map((s) => s.session.close()));
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

  private async run(lane: Lane, job: Job): Promise<void> {
    try {
      this.settleOk(job, await job.work(lane, job));
    } catch (e) {
      this.settle(job, e);
    }
  }

  private waitForPad(timeoutMs: number): Promise<boolean> {
    return waitForPadFrom(this.refill ?? this.pads, timeoutMs);
  }

  private settle(job: Job, e: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(e instanceof HttpError || e instanceof Error ? e : new Error(String(e)));
  }

  private settleOk(job: Job, v: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.resolve(v);
  }
}

/** A pad ready within `timeoutMs`: the refill's own wait, or (no refill: pads come from `slalom precompute`) the store looked at until then. */
async function waitForPadFrom(supply: PadSupply | PadMaker | undefined, timeoutMs: number): Promise<boolean> {
  if (supply !== undefined && 'waitForPad' in supply) return supply.waitForPad(timeoutMs);
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((supply?.remaining() ?? 0) > 0) return true;
    await new Promise((r) => setTimeout(r, Math.min(250, deadline - performance.now())));
  }
  return false;
}
