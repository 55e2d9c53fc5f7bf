/**
 * The in-memory pad pool (`--pads memory`, docs/design.md §7), for a trusted runtime in a confidential
 * VM, whose memory the hardware encrypts: pads precomputed by a background thread of the trusted
 * runtime in idle time and kept in its own memory — no pad store, no sealing, no fsync. The sealed
 * store (online-pads.ts) stays for enclaves with little trusted memory.
 *
 * A slot holds one pad: per linear layer r_{i,l} (its words, all < p, 3 bytes each) and
 * u_{i,l} = f(r_{i,l}) (3 bytes each), in regions of the trusted runtime's memory (simd/arena.ts)
 * that the boundary passes read in place. The pool's thread (pad-pool-worker.ts) writes a slot and
 * says so; an inference leases a ready slot and, when it ends, the slot is refilled with a new pad
 * — once no inference has run for `idleMs`, so precomputation does not compete with a stream of
 * them (an inference that finds no pad ready has its refill started at once).
 *
 * No (key, IV) pair repeats, and no pad is ever used twice:
 * - the pool draws its own AES-256 key from the OS CSPRNG when it opens (randomBytes); the key lives
 *   in this process only (and in the pool's thread), is never written anywhere, and dies with the
 *   process: a pool opened after a crash or a restart has another key;
 * - under that key, pad i's layer l uses the CTR IV (i, l) (blind/keystream.ts); i comes from this
 *   pool's counter, which only grows and hands each value to one fill, so each (key, (i, l)) makes
 *   one keystream, once;
 * - a slot is leased to one inference at a time and refilled with a new i before it is leased again,
 *   so each pad blinds one inference, each (i, l) one input (PadReuseError guards the layer);
 * - nothing of a pool outlives its process, so a restart cannot reuse a pad: there is none left.
 */
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import type { PublicLayer } from '../accel/backend.js';
import { InvalidArgumentError, PadReuseError, PadsExhaustedError, TransportError } from '../errors.js';
import type { ExactKernelsName } from '../kernels/exact-linear.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import { alloc, release, type Region } from '../simd/arena.js';
import { simd } from '../simd/module.js';
import { sizeOf } from '../tensor/tensor.js';
import type { PadLease, PadOrigin, PadSource } from './pad-lease.js';

/** The pool thread's first module: entry.js compiled; from the TypeScript sources, bootstrap.mjs registers tsx first. */
const WORKER_ENTRY = new URL(import.meta.url).pathname.endsWith('.ts') ? new URL('./pad-pool-bootstrap.mjs', import.meta.url) : new URL('./pad-pool-worker.js', import.meta.url);
/** Bytes a kernel may read past packed words. */
const SLACK = 16;

export interface PadPoolOptions {
  /** Pads kept ready (default 4). */
  readonly capacity?: number;
  /** Exact kernels of the pool's thread for u = f(r) (default 'ort'). */
  readonly kernels?: ExactKernelsName;
  /** Idle milliseconds after the last inference before empty slots are refilled (default 50). */
  readonly idleMs?: number;
  /** Called after each pad the pool's thread made, with the milliseconds it took (the offline cost; a service's metrics count them). */
  readonly onFilled?: (ms: number) => void;
}

/** Where one pad's parts lie in a slot: r and u of each layer (byte offsets into the module's memory). */
export interface SlotLayout {
  readonly r: readonly number[];
  readonly u: readonly number[];
}

/** What the pool's thread is told and tells (pad-pool-worker.ts). */
export type FillMessage = { readonly type: 'fill'; readonly slot: number; readonly index: number; readonly layout: SlotLayout };
export type ToPoolWorker = FillMessage | { readonly type: 'stop' };
export type FromPoolWorker =
  | { readonly type: 'filled'; readonly slot: number; readonly index: number; readonly ms: number }
  | { readonly type: 'error'; readonly slot: number; readonly message: string }
  | { readonly type: 'stopped' };

export interface PoolWorkerData {
  readonly memory: WebAssembly.Memory;
  readonly key: Uint8Array;
  readonly layers: readonly PublicLayer[];
  readonly kernels: ExactKernelsName;
}

type SlotState = 'empty' | 'filling' | 'ready' | 'leased';

interface Slot {
  readonly region: Region;
  readonly layout: SlotLayout;
  state: SlotState;
  index: number;
}

export class PadPool implements PadSource {
  readonly skipped: readonly number[] = [];
  private readonly slots: Slot[];
  private readonly worker: Worker;
  private nextIndex = 0;
  private leases = 0;
  private failure: Error | undefined;
  private closed = false;
  private waiters: (() => void)[] = [];
  private idle: NodeJS.Timeout | undefined;
  /** False once the thread exited or failed: nothing to wait for at close. */
  private running = true;
  private onStopped: () => void = () => {};
  /** Names this pool's pads in receipts: 128 random bits, unrelated to its key. */
  private readonly origin: PadOrigin = { source: 'memory', id: randomBytes(16).toString('hex'), keyEpoch: 0 };

  private constructor(
    private readonly q: QuantizedGraph,
    capacity: number,
    kernels: ExactKernelsName,
    private readonly idleMs: number,
    private readonly onFilled: (ms: number) => void,
  ) {
    const layers = q.layers;
    const rBytes = layers.map((l) => 3 * sizeOf(l.inDims) + SLACK);
    const uBytes = layers.map((l) => 3 * sizeOf(l.outDims) + SLACK);
    const perSlot = [...rBytes, ...uBytes].reduce((a, b) => a + Math.ceil(b / 64) * 64, 0);
    this.slots = Array.from({ length: capacity }, () => {
      const region = alloc(perSlot);
      let at = region.at;
      const place = (bytes: number): number => {
        const here = at;
        at += Math.ceil(bytes / 64) * 64;
        return here;
      };
      return { region, layout: { r: rBytes.map(place), u: uBytes.map(place) }, state: 'empty', index: -1 };
    });
    const data: PoolWorkerData = {
      memory: simd().memory,
      key: randomBytes(32),
      layers: layers.map((l) => ({ id: l.index, name: l.name, op: l.op, ...(l.conv ? { conv: l.conv } : {}), wDims: l.wDims, inDims: l.inDims, outDims: l.outDims, w: { dims: l.w.dims, data: l.w.data } })),
      kernels,
    };
    this.worker = new Worker(WORKER_ENTRY, { workerData: data });
    this.worker.on('message', (m: FromPoolWorker) => this.onMessage(m));
    const die = (e: Error): void => {
      this.running = false;
      this.failure ??= new TransportError(`the pad pool's thread stopped: ${e.message}`, { cause: e });
      this.wake();
      this.onStopped();
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
    // The pool alone never keeps the process alive.
    this.worker.unref();
  }

  /** Opens a pool for `q` and starts filling it. */
  static open(q: QuantizedGraph, options: PadPoolOptions = {}): PadPool {
    const capacity = options.capacity ?? 4;
    if (!Number.isInteger(capacity) || capacity < 1) throw new InvalidArgumentError(`the pad pool needs a capacity of at least 1, got ${capacity}`);
    const pool = new PadPool(q, capacity, options.kernels ?? 'ort', options.idleMs ?? 50, options.onFilled ?? (() => {}));
    pool.refill(true);
    return pool;
  }

  /** Pads ready, slots in all, and pads the pool's thread is making now. */
  inventory(): { readonly remaining: number; readonly capacity: number; readonly filling: number } {
    return { remaining: this.count('ready'), capacity: this.slots.length, filling: this.count('filling') };
  }

  /** Resolves once `count` pads (default: every slot) are ready. */
  async filled(count = this.slots.length): Promise<void> {
    while (this.inventory().remaining < Math.min(count, this.slots.length)) {
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) throw new PadsExhaustedError('the pad pool is closed');
      if (!this.slots.some((s) => s.state === 'filling')) this.refill(true);
      await this.next();
    }
  }

  /** The pool's next event; the thread keeps the process alive while someone waits for it. */
  private async next(): Promise<void> {
    this.worker.ref();
    try {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    } finally {
      if (this.waiters.length === 0) this.worker.unref();
    }
  }

  /** The next ready pad; waits for one being precomputed. */
  async acquire(): Promise<PadLease> {
    for (;;) {
      const slot = this.slots.find((s) => s.state === 'ready');
      if (slot !== undefined) return this.lease(slot);
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) throw new PadsExhaustedError('the pad pool is closed');
      if (!this.slots.some((s) => s.state === 'filling')) this.refill(true);
      await this.next();
    }
  }

  /** A ready pad now, without waiting: PadsExhaustedError when none is (the pool refills in idle time), the thread's failure when it died. */
  begin(): PadLease {
    const slot = this.slots.find((s) => s.state === 'ready');
    if (slot !== undefined) return this.lease(slot);
    // A dead thread makes no more pads: say so, rather than "none ready" for ever.
    if (this.failure !== undefined) throw this.failure;
    throw new PadsExhaustedError(`no pad ready in the memory pool (${this.count('filling')} being precomputed)`);
  }

  /**
   * Stops the thread once the pad it is making is done (terminating it inside onnxruntime's run
   * would abort the process), then gives the slots' memory back.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idle);
    this.wake();
    if (this.running) {
      this.worker.ref(); // the answer must keep the loop alive until it comes
      await new Promise<void>((resolve) => {
        this.onStopped = resolve;
        this.worker.postMessage({ type: 'stop' } satisfies ToPoolWorker);
      });
    }
    await this.worker.terminate();
    for (const s of this.slots) release(s.region);
  }

  private lease(slot: Slot): PadLease {
    slot.state = 'leased';
    this.leases++;
    clearTimeout(this.idle);
    const layers = this.q.layers;
    const blinded = new Set<number>();
    const unblinded = new Set<number>();
    let ended = false;
    const at = (offsets: readonly number[], layer: QuantizedLayer, per: (l: QuantizedLayer) => number): Region => {
      if (ended) throw new InvalidArgumentError(`pad ${slot.index} was already given back`);
      const k = layers.indexOf(layer);
      if (k < 0) throw new InvalidArgumentError(`layer '${layer.name}' is not this pool's`);
      return { at: offsets[k]!, bytes: 3 * per(layer) + SLACK };
    };
    return {
      index: slot.index,
      origin: this.origin,
      keystream: (layer) => {
        if (blinded.has(layer.index)) throw new PadReuseError(`pad ${slot.index} already blinded an input of layer '${layer.name}'`, { layer: layer.name });
        blinded.add(layer.index);
        return at(slot.layout.r, layer, (l) => sizeOf(l.inDims));
      },
      unblind: (layer) => {
        if (unblinded.has(layer.index)) throw new InvalidArgumentError(`no unblinding factor left for layer '${layer.name}' in pad ${slot.index}`);
        unblinded.add(layer.index);
        return at(slot.layout.u, layer, (l) => sizeOf(l.outDims));
      },
      done() {}, // the slot's memory stays the pool's until the lease ends
      end: () => {
        if (ended) return;
        ended = true;
        slot.state = 'empty';
        this.leases--;
        if (this.leases === 0) {
          clearTimeout(this.idle);
          this.idle = setTimeout(() => this.refill(), this.idleMs);
          this.idle.unref();
        }
      },
    };
  }

  /** Starts filling empty slots while no inference runs (or now: at the start, or when one waits for a pad). */
  private refill(now = false): void {
    if (this.closed || (!now && this.leases > 0)) return;
    for (const slot of this.slots) {
      if (slot.state !== 'empty') continue;
      slot.state = 'filling';
      slot.index = this.nextIndex++;
      this.worker.postMessage({ type: 'fill', slot: this.slots.indexOf(slot), index: slot.index, layout: slot.layout } satisfies ToPoolWorker);
    }
  }

  private onMessage(m: FromPoolWorker): void {
    if (m.type === 'stopped') {
      this.onStopped();
      return;
    }
    if (m.type === 'filled') {
      const slot = this.slots[m.slot];
      if (slot !== undefined && slot.state === 'filling' && slot.index === m.index) {
        slot.state = 'ready';
        this.onFilled(m.ms);
      }
    } else if (m.type === 'error') {
      this.failure ??= new TransportError(`the pad pool could not precompute a pad: ${m.message}`);
    }
    this.wake();
  }

  private count(state: SlotState): number {
    return this.slots.filter((s) => s.state === state).length;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
