/**
 * Where the trusted service's one-time pads come from (issue 15, deliverable 3): how many are
 * ready, and a way to make more. The sealed store (StorePadSource, here) makes them in a child
 * process at a lower priority than requests, driven by the refill (refill.ts); the in-memory pool
 * (memory-pad-source.ts) makes them in its own thread, in trusted memory under an ephemeral key, and
 * refills itself in idle time, so no refill drives it.
 *
 * StorePadSource: the child (refill-child.ts) loads the model from an artifact the parent wrote
 * (so it computes the very pads the parent will consume: same weightsHash, checked), lowers its own
 * scheduling priority (nice 19 by default) before it starts any thread, and runs `precomputePads` on request:
 * each run reserves a fresh index range in the store's ledger under its lock (ledger.ts), so the
 * child, other `slalom serve` processes and any `slalom precompute` never reserve the same indices;
 * a child killed mid-run leaves a gap, never a reused index.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PadStore } from '../blind/pad-store.js';
import { TrustedState } from '../blind/trusted-state.js';
import { InvalidArgumentError, TransportError } from '../errors.js';
import type { MonotonicCounters } from '../blind/monotonic-counter.js';
import type { ExactKernelsName } from '../kernels/exact-linear.js';
import type { SlalomModel } from '../runtime/model.js';
import { openStore } from '../runtime/precompute.js';

/**
 * The service's view of a pad supply: how many are ready and how to make more. Not the runtime's
 * PadSource (runtime/pad-lease.ts), which hands one inference its pad; the sessions take theirs there.
 */
export interface PadMaker {
  /** 'store' (sealed, untrusted store) or 'memory' (trusted memory, issue 12). */
  readonly kind: 'store' | 'memory';
  /** Pads ready to use now (0 when the source holds none yet). */
  remaining(): number;
  /** Makes `count` more pads at low priority, calling `onPad` after each; resolves with how many were made. */
  produce(count: number, onPad: () => void): Promise<number>;
  close(): Promise<void>;
}

/** Messages of the refill child (refill-child.ts). */
export type FromRefillChild = { type: 'ready' } | { type: 'pad' } | { type: 'done'; made: number } | { type: 'error'; message: string };
export type ToRefillChild = { type: 'produce'; count: number };

export interface RefillChildConfig {
  readonly artifact: string;
  readonly weightsHash: string;
  readonly store: string;
  readonly stateDir?: string;
  /** The monotonic counters' directory (FileCounters), when the ledgers are bound to them. */
  readonly counterDir?: string;
  readonly kernels: ExactKernelsName;
  readonly nice: number;
}

const CHILD_ENTRY = new URL(import.meta.url).pathname.endsWith('.ts') ? new URL('./refill-child.ts', import.meta.url) : new URL('./refill-child.js', import.meta.url);

export class StorePadSource implements PadMaker {
  readonly kind = 'store';
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private dir: string | undefined;
  private busy = false;

  constructor(
    private readonly model: SlalomModel,
    private readonly store: string,
    private readonly stateDir: string | undefined,
    private readonly kernels: ExactKernelsName,
    private readonly nice = 19,
    private readonly counters?: MonotonicCounters,
  ) {
    if (counters !== undefined && counters.dir === undefined) throw new InvalidArgumentError(`the pad refill runs in a child process, which cannot reach ${counters.description}: serve with refill off, or counters in a directory`);
  }

  remaining(): number {
    try {
      return openStore(TrustedState.open(this.stateDir, this.counters !== undefined ? { counters: this.counters } : {}), new PadStore(this.store, { create: false }), this.model).ledger.inventory().ready;
    } catch {
      return 0; // no manifest yet (the first refill creates it), or a store the sessions will refuse with the reason
    }
  }

  async produce(count: number, onPad: () => void): Promise<number> {
    if (this.busy) throw new Error('one refill at a time');
    this.busy = true;
    try {
      const child = await this.start();
      return await new Promise<number>((resolve, reject) => {
        const onMessage = (m: FromRefillChild): void => {
          if (m.type === 'pad') onPad();
          else if (m.type === 'done' || m.type === 'error') {
            child.off('message', onMessage);
            child.off('exit', onExit);
            if (m.type === 'done') resolve(m.made);
            else reject(new Error(m.message));
          }
        };
        const onExit = (code: number | null): void => {
          child.off('message', onMessage);
          reject(new TransportError(`the pad refill process exited (${code ?? 'signal'})`));
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send({ type: 'produce', count } satisfies ToRefillChild);
      });
    } finally {
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.ready = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.ref(); // waited for: its exit must keep the loop alive until it comes
      child.kill('SIGTERM');
      await exited;
    }
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private start(): Promise<ChildProcess> {
    if (this.child !== undefined && this.child.exitCode === null && this.ready !== undefined) return this.ready.then(() => this.child!);
    this.dir ??= mkdtempSync(join(tmpdir(), 'slalom-refill-'));
    const artifact = join(this.dir, 'model.slalom');
    this.model.save(artifact);
    const config: RefillChildConfig = { artifact, weightsHash: this.model.weightsHash, store: this.store, ...(this.stateDir !== undefined ? { stateDir: this.stateDir } : {}), ...(this.counters?.dir !== undefined ? { counterDir: this.counters.dir } : {}), kernels: this.kernels, nice: this.nice };
    const child = fork(CHILD_ENTRY, [JSON.stringify(config)], { execArgv: CHILD_ENTRY.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.child = child;
    // The refill never keeps the service alive by itself.
    child.unref();
    child.channel?.unref();
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromRefillChild): void => {
        if (m.type === 'ready') {
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve();
        } else if (m.type === 'error') reject(new Error(m.message));
      };
      const onExit = (code: number | null): void => reject(new TransportError(`the pad refill process did not start (exit ${code ?? 'signal'})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    return this.ready.then(() => child);
  }
}
