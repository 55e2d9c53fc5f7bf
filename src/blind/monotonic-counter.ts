/**
 * Monotonic counters that detect a rollback of the trusted state (docs/rollback.md). The trusted
 * state's files can be kept secret and unforgeable (an enclave's sealed storage, a confidential VM's
 * encrypted disk), but nothing stops whoever holds the disk from putting back an older copy: a
 * ledger whose `next` or `consumed` went back hands a pad index out twice. A counter that only goes
 * up, kept where the state's owner cannot reset it, closes that hole: each pad ledger (ledger.ts)
 * bound to one advances its counter before every durable change of `next` or `consumed`, records the
 * value, and is refused when the value it records is behind the counter.
 *
 * One counter per ledger (per pad store identity), so ledgers never compare values of one another.
 * The interface is synchronous because the ledger is: its updates run under a file lock in the
 * path of every inference, and a TPM answers a command synchronously through its character device.
 *
 * A vTPM plugs in as one NV index per ledger, defined when the store is registered with
 * TPM2_NV_DefineSpace (type TPM_NT_COUNTER, TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD, owner hierarchy):
 * `read()` is TPM2_NV_Read of its 8 bytes (big-endian; 0 before the first increment), and
 * `advance(to)` is TPM2_NV_Increment until the value reaches `to` (once per ledger change). A TPM
 * counter never decreases, not even across TPM2_Clear or reboots; its first value is the highest any
 * counter of the TPM had, which the ledger copes with (it records whatever value it was bound at).
 * `FileCounters` below keeps the counters in plain files: for tests and for a host whose directory
 * outside the state really cannot be rolled back, nothing more.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { writeFileDurably } from './durable.js';

export interface MonotonicCounter {
  /** The current value (0 for a counter never advanced). */
  read(): bigint;
  /** Raises the counter to at least `to`, durably, before it returns; never lowers it. */
  advance(to: bigint): void;
}

/** Where ledgers find their counters: one per pad store identity. */
export interface MonotonicCounters {
  /** What the counters are, for messages (a directory, a TPM). */
  readonly description: string;
  /** A local directory they live in, if any: the trusted state refuses one inside itself. */
  readonly dir?: string;
  /** The counter of the ledger of store `storeId` (32 hex digits). */
  counter(storeId: string): MonotonicCounter;
}

/** Counters as files `<dir>/<store identity>.counter` (decimal), each replaced atomically and fsynced. */
export class FileCounters implements MonotonicCounters {
  readonly dir: string;
  readonly description: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.description = `monotonic counters in ${dir}`;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  counter(storeId: string): MonotonicCounter {
    if (!/^[0-9a-f]{32}$/.test(storeId)) throw new InvalidArgumentError('store identity must be 32 hex digits');
    const path = join(this.dir, `${storeId}.counter`);
    const read = (): bigint => {
      if (!existsSync(path)) return 0n;
      const text = readFileSync(path, 'utf8').trim();
      if (!/^\d{1,20}$/.test(text)) throw new InvalidArgumentError(`monotonic counter ${path} is corrupt`);
      return BigInt(text);
    };
    return {
      read,
      advance(to: bigint): void {
        if (to > read()) writeFileDurably(path, `${to}\n`, 0o600);
      },
    };
  }
}

/** True when `path` is `dir` or inside it. */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
