/**
 * The pad ledger of one pad store (docs/design.md §4), kept in the trusted state: which pad indices of the
 * store's identity were handed to a precompute run, which of those are durably written, and which
 * are used. One JSON file, replaced atomically and fsynced on every change, under a lock (lock.ts):
 *
 *     { format: 2, storeId, weightsHash, model, next, generated, consumed,
 *       ranges: [{ from, to, written, used, pid }], counter?, pending? }
 *
 * - `next`: the first index never handed out. `reserve(count)` hands out [next, next + count) to one
 *   precompute run and raises `next`, durably, before any pad of the range is computed; it never goes
 *   down, so no index is ever handed out twice — the IV half of the rule in ledger-keys.ts.
 * - A range [from, to) belongs to the run (pid) that reserved it: pads [from, from + written) are
 *   durably in the store (`markWritten` after each write), pads [from, from + used) are used or lost.
 *   Concurrent runs fill disjoint ranges. A run that dies leaves its unwritten tail as a gap (closed
 *   once its pid is gone): never written, never used, never handed out again.
 * - `consume(i)` marks pad i used, under the lock, only if i is still the next unused written pad of
 *   its range (another process may have taken it), and durably before the caller uses it. A range
 *   whose every index is used or a gap is dropped; `generated` and `consumed` count all pads ever.
 * A crash at any instant therefore loses at most the pads in flight and never reuses one; an old copy
 * of the store cannot roll the ledger back because the ledger is not in it.
 *
 * An old copy of the ledger itself (the trusted state restored from a backup or a snapshot) would
 * hand indices out again (docs/rollback.md). Bound to a monotonic counter (monotonic-counter.ts), a
 * ledger records the counter's value at its last change of `next` or `consumed` (`counter`,
 * decimal) and makes each such change in three durable steps:
 *   1. the ledger as it was, with the change as `pending` (the new ledger, at value c + 1);
 *   2. the counter advanced to c + 1;
 *   3. the new ledger, at c + 1.
 * Checked under the lock when the ledger is opened and before every change, a ledger at value c
 * against counter k is: current if c ≥ k (a `pending` left there is dropped: its process died before
 * step 2, so the change never took effect); adopted from its `pending` if c = k − 1 and the pending
 * change is at k (its process died after step 2 — or this is the copy step 1 wrote and the change
 * did take effect: adopting it is right either way); otherwise rolled back: StateRollbackError. So
 * a crash at any instant costs at most the pad in flight, and an old copy is refused. A ledger that
 * was bound is refused without its counter, so a process that forgot it cannot drop the check.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, StateRollbackError } from '../errors.js';
import { createFileDurably, writeFileDurably } from './durable.js';
import { acquireLock, processGone } from './lock.js';
import type { MonotonicCounter } from './monotonic-counter.js';
import { aInt } from '../util/assert.js';

export interface LedgerRange {
  readonly from: number;
  readonly to: number;
  readonly written: number;
  readonly used: number;
  /** The precompute process that reserved it. */
  readonly pid: number;
}

export interface LedgerData {
  readonly format: 2;
  readonly storeId: string;
  readonly weightsHash: string;
  /** The model's name, for messages. */
  readonly model: string;
  readonly next: number;
  readonly generated: number;
  readonly consumed: number;
  readonly ranges: readonly LedgerRange[];
  /** The monotonic counter's value at the last change of `next` or `consumed` (decimal), for a bound ledger. */
  readonly counter?: string;
  /** A change being made (step 1 of the module comment): the ledger after it, at the next counter value. */
  readonly pending?: LedgerData;
}

export interface LedgerInventory {
  /** Written and not yet used (whether the store still holds them is the store's business). */
  readonly ready: number;
  readonly consumed: number;
  readonly generated: number;
  /** Reserved by precompute runs still at work, not written yet. */
  readonly inProgress: number;
  /**
   * The unwritten tails of runs that died (their process is gone) not yet closed by a write to the
   * ledger: never written or handed out again, so not in progress either.
   */
  readonly abandoned: readonly { readonly from: number; readonly to: number; readonly pid: number }[];
  /** The pad the next inference takes, if any. */
  readonly nextIndex?: number;
}

export class StoreLedger {
  constructor(
    readonly path: string,
    private readonly lockTimeoutMs?: number,
    /** The ledger's monotonic counter, if the deployment provides one (see the module comment). */
    private readonly monotonic?: MonotonicCounter,
  ) {}

  /** Writes a new ledger for a fresh store identity; refuses to replace one. */
  static create(path: string, identity: Pick<LedgerData, 'storeId' | 'weightsHash' | 'model'>, lockTimeoutMs?: number, monotonic?: MonotonicCounter): StoreLedger {
    const bound = monotonic === undefined ? {} : { counter: String(monotonic.read()) };
    const data: LedgerData = { format: 2, ...identity, next: 0, generated: 0, consumed: 0, ranges: [], ...bound };
    if (!createFileDurably(path, JSON.stringify(data), 0o600)) throw new InvalidArgumentError(`pad ledger ${path} exists already`);
    return new StoreLedger(path, lockTimeoutMs, monotonic);
  }

  read(): LedgerData {
    let raw: Partial<LedgerData>;
    try {
      raw = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<LedgerData>;
    } catch (e) {
      throw new InvalidArgumentError(`pad ledger ${this.path} is unreadable: ${(e as Error).message}`, { cause: e });
    }
    if (!validLedger(raw)) throw new InvalidArgumentError(`pad ledger ${this.path} is corrupt`);
    if (this.monotonic === undefined && raw.counter !== undefined) {
      throw new InvalidArgumentError(`pad ledger ${this.path} is bound to a monotonic counter, and none was given: give the same one (--monotonic-counter) to every command that uses this trusted state`);
    }
    return raw;
  }

  /**
   * StateRollbackError if the ledger is older than its counter; finishes a change a crash
   * interrupted. Under the lock: a reader without it could see a change between its steps.
   */
  verifyFresh(): void {
    if (this.monotonic === undefined) return;
    const release = acquireLock(`${this.path}.lock`, `pad ledger ${this.path}`, this.lockTimeoutMs);
    try {
      this.fresh(this.read());
    } finally {
      release();
    }
  }

  /** The ledger checked against its counter (module comment), an interrupted change settled durably; call with the lock held. */
  private fresh(d: LedgerData): LedgerData {
    if (this.monotonic === undefined) return d;
    const counter = this.monotonic.read();
    const recorded = BigInt(d.counter ?? '0');
    let settled: LedgerData;
    if (recorded >= counter) {
      if (d.pending === undefined) return d;
      const { pending: _dropped, ...unchanged } = d;
      settled = unchanged;
    } else if (recorded + 1n === counter && d.pending?.counter === String(counter)) {
      settled = d.pending;
    } else {
      throw new StateRollbackError(
        `pad ledger ${this.path} is older than its monotonic counter (${recorded} < ${counter}): the trusted state was restored from an old copy, ` +
          'so its pad indices may have been used already; this store is retired: precompute into a new store directory',
      );
    }
    writeFileDurably(this.path, JSON.stringify(settled), 0o600);
    return settled;
  }

  /** Hands out `count` fresh indices to the calling process; returns the first. */
  reserve(count: number): number {
    aInt(count, 'count', { min: 1 });
    let from = -1;
    this.update((d) => {
      from = d.next;
      if (!Number.isSafeInteger(from + count)) throw new InvalidArgumentError('the pad index space of this store is exhausted');
      return { ...d, next: from + count, ranges: [...d.ranges, { from, to: from + count, written: 0, used: 0, pid: process.pid }] };
    });
    return from;
  }

  /** Records that the next pad of the range starting at `from` is durably in the store; returns its index. */
  markWritten(from: number): number {
    let index = -1;
    this.update((d) => {
      const r = d.ranges.find((x) => x.from === from);
      if (r === undefined || r.pid !== process.pid || r.from + r.written >= r.to) {
        throw new InvalidArgumentError(`pad ledger ${this.path}: the reservation starting at pad ${from} is closed (was its process taken for dead?)`);
      }
      index = r.from + r.written;
      return { ...d, generated: d.generated + 1, ranges: d.ranges.map((x) => (x === r ? { ...r, written: r.written + 1 } : x)) };
    });
    return index;
  }

  /** Closes this process's reservation starting at `from`: its unwritten indices become a gap (a run that failed). */
  close(from: number): void {
    this.update((d) => ({ ...d, ranges: d.ranges.map((r) => (r.from === from && r.pid === process.pid ? { ...r, to: r.from + r.written } : r)) }));
  }

  /** The next written, unused pad (read without the lock: `consume` decides). */
  nextReady(): number | undefined {
    return firstReady(this.read());
  }

  /**
   * Marks pad `index` used if it is still the next unused written pad of its range; durable before
   * this returns true. False when another process took it first.
   */
  consume(index: number): boolean {
    let taken = false;
    this.update((d) => {
      const r = d.ranges.find((x) => index >= x.from && index < x.to);
      if (r === undefined || index !== r.from + r.used || r.used >= r.written) return d;
      taken = true;
      return { ...d, consumed: d.consumed + 1, ranges: d.ranges.map((x) => (x === r ? { ...r, used: r.used + 1 } : x)) };
    });
    return taken;
  }

  /** Written, unused pads in the order they will be taken. */
  readyIndices(): number[] {
    return this.read().ranges.flatMap((r) => Array.from({ length: r.written - r.used }, (_, k) => r.from + r.used + k));
  }

  /** True when pad `index` was handed out and can never be used again (used, lost, or a gap). */
  isSpent(index: number): boolean {
    const d = this.read();
    return index < d.next && !d.ranges.some((r) => index >= r.from + r.used && index < r.to);
  }

  inventory(): LedgerInventory {
    const d = this.read();
    const nextIndex = firstReady(d);
    const open = d.ranges.filter((r) => r.from + r.written < r.to);
    const dead = open.filter(runDied);
    return {
      ready: d.ranges.reduce((s, r) => s + r.written - r.used, 0),
      consumed: d.consumed,
      generated: d.generated,
      inProgress: open.filter((r) => !runDied(r)).reduce((s, r) => s + r.to - r.from - r.written, 0),
      abandoned: dead.map((r) => ({ from: r.from + r.written, to: r.to, pid: r.pid })),
      ...(nextIndex !== undefined ? { nextIndex } : {}),
    };
  }

  private update(f: (d: LedgerData) => LedgerData): void {
    const release = acquireLock(`${this.path}.lock`, `pad ledger ${this.path}`, this.lockTimeoutMs);
    try {
      const before = this.fresh(this.read());
      let after = tidy(f(before));
      if (this.monotonic !== undefined && (after.next !== before.next || after.consumed !== before.consumed)) {
        // The three steps of the module comment: then every older copy is behind the counter.
        after = { ...after, counter: String(BigInt(before.counter ?? '0') + 1n) };
        writeFileDurably(this.path, JSON.stringify({ ...before, pending: after }), 0o600);
        this.monotonic.advance(BigInt(after.counter!));
      }
      if (after !== before) writeFileDurably(this.path, JSON.stringify(after), 0o600);
    } finally {
      release();
    }
  }
}

function firstReady(d: LedgerData): number | undefined {
  const r = d.ranges.find((x) => x.used < x.written);
  return r === undefined ? undefined : r.from + r.used;
}

/** Whether the run that reserved `r` is gone (never this process). */
function runDied(r: LedgerRange): boolean {
  return r.pid !== process.pid && processGone(r.pid);
}

/** Closes the ranges of runs that died (their unwritten tail becomes a gap) and drops spent ranges. */
function tidy(d: LedgerData): LedgerData {
  let changed = false;
  const ranges: LedgerRange[] = [];
  for (const r of d.ranges) {
    const dead = r.from + r.written < r.to && runDied(r);
    const x = dead ? { ...r, to: r.from + r.written } : r;
    if (x !== r || x.used >= x.to - x.from) changed = true;
    if (x.used < x.to - x.from) ranges.push(x);
  }
  return changed ? { ...d, ranges } : d;
}

function validLedger(d: Partial<LedgerData>, nested = false): d is LedgerData {
  const int = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (d === null || typeof d !== 'object' || d.format !== 2 || typeof d.storeId !== 'string' || typeof d.weightsHash !== 'string' || typeof d.model !== 'string') return false;
  if (!int(d.next) || !int(d.generated) || !int(d.consumed) || d.consumed > d.generated || !Array.isArray(d.ranges)) return false;
  if (d.counter !== undefined && (typeof d.counter !== 'string' || !/^\d{1,20}$/.test(d.counter))) return false;
  if (d.pending !== undefined && (nested || !validLedger(d.pending, true))) return false;
  let end = 0;
  for (const r of d.ranges as unknown[]) {
    const x = r as Partial<LedgerRange>;
    if (x === null || typeof x !== 'object' || !int(x.from) || !int(x.to) || !int(x.written) || !int(x.used) || !int(x.pid)) return false;
    if (x.from < end || x.to > d.next || x.used > x.written || x.from + x.written > x.to) return false;
    end = x.to;
  }
  return true;
}
