/**
 * The trusted runtime's persistent secrets and pad ledgers (docs/design.md §4), kept apart from the pad
 * stores: a directory (mode 0700; files 0600) holding `keys.json` — a random 256-bit master secret
 * and its epoch — and `ledger/<store identity>.json`, one ledger per pad store (ledger.ts).
 *
 * A pad store's identity is 128 random bits, created here (`registerStore`) when a store is first
 * precomputed into and only then written into the store's manifest. The state is the registry of the
 * identities it created: a store naming an identity that has no ledger here was made under another
 * trusted state (or its ledger was lost) and is refused — never given a fresh ledger whose counter
 * would start again at 0 under keys whose pads may exist. Each ledger's keys are derived from the
 * master secret over (weightsHash, store identity, epoch) (ledger-keys.ts).
 * Default location: $SLALOM_STATE_DIR, else ~/.slalom/state.
 *
 * Restoring an old copy of this directory rolls its ledgers back, and an index handed out again
 * reuses a pad (docs/rollback.md). With `counters` (monotonic-counter.ts; kept outside this
 * directory, where the copy cannot reach), every ledger is bound to a counter and a rolled-back one
 * is refused; without, that is not detected.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { createFileDurably, removeStaleTemporaries } from './durable.js';
import { StoreLedger } from './ledger.js';
import { checkLedgerName, deriveLedgerKeys, STORE_ID_RE, type LedgerKeys } from './ledger-keys.js';
import { isInside, type MonotonicCounters } from './monotonic-counter.js';

export function defaultStateDir(): string {
  return process.env['SLALOM_STATE_DIR'] ?? join(homedir(), '.slalom', 'state');
}

export interface TrustedStateOptions {
  /** How long a ledger update waits for a lock held by a live process before failing (default 10 s). */
  readonly lockTimeoutMs?: number;
  /** Monotonic counters the ledgers are bound to, so a rolled-back state is refused (default: none). */
  readonly counters?: MonotonicCounters;
}

export class TrustedState {
  readonly dir: string;
  /** The key epoch: every ledger key changes with it. */
  readonly epoch: number;
  readonly #master: Uint8Array;
  readonly #lockTimeoutMs: number | undefined;
  readonly #counters: MonotonicCounters | undefined;

  private constructor(dir: string, epoch: number, master: Uint8Array, options: TrustedStateOptions) {
    this.dir = dir;
    this.epoch = epoch;
    this.#master = master;
    this.#lockTimeoutMs = options.lockTimeoutMs;
    this.#counters = options.counters;
  }

  static open(dir = defaultStateDir(), options: TrustedStateOptions = {}): TrustedState {
    const counterDir = options.counters?.dir;
    if (counterDir !== undefined && isInside(counterDir, dir)) {
      throw new InvalidArgumentError(`the monotonic counters (${counterDir}) must be kept outside the trusted state ${dir}: an old copy of the state would bring old counters back`);
    }
    mkdirSync(join(dir, 'ledger'), { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    removeStaleTemporaries(dir);
    removeStaleTemporaries(join(dir, 'ledger'));
    const keyPath = join(dir, 'keys.json');
    // Created exclusively: two processes opening a fresh state at once must not each keep a master
    // secret of their own (the loser's pads would be sealed under keys nobody else has).
    if (!existsSync(keyPath)) createFileDurably(keyPath, JSON.stringify({ epoch: 1, masterKey: randomBytes(32).toString('base64') }), 0o600);
    if ((statSync(keyPath).mode & 0o077) !== 0) chmodSync(keyPath, 0o600);
    let parsed: { epoch?: unknown; masterKey?: unknown };
    try {
      parsed = JSON.parse(readFileSync(keyPath, 'utf8'));
    } catch (e) {
      throw new InvalidArgumentError(`trusted state ${keyPath} is unreadable: ${(e as Error).message}`, { cause: e });
    }
    const master = typeof parsed.masterKey === 'string' ? Buffer.from(parsed.masterKey, 'base64') : Buffer.alloc(0);
    if (master.length !== 32 || !Number.isInteger(parsed.epoch)) throw new InvalidArgumentError(`trusted state ${keyPath} is corrupt`);
    return new TrustedState(dir, parsed.epoch as number, new Uint8Array(master), options);
  }

  /** The keys of the ledger of store `storeId` holding pads of the model with `weightsHash`, at this epoch. */
  keysFor(weightsHash: string, storeId: string): LedgerKeys {
    return deriveLedgerKeys(this.#master, { weightsHash, storeId, epoch: this.epoch });
  }

  /** Creates a new store identity and its (empty) ledger, durably, before any store names it. */
  registerStore(model: { readonly name: string; readonly weightsHash: string }): StoreLedger {
    const storeId = randomBytes(16).toString('hex');
    checkLedgerName({ weightsHash: model.weightsHash, storeId, epoch: this.epoch });
    return StoreLedger.create(this.ledgerPath(storeId), { storeId, weightsHash: model.weightsHash, model: model.name }, this.#lockTimeoutMs, this.#counters?.counter(storeId));
  }

  /**
   * The ledger of a store identity this state created, or undefined if it never created it;
   * StateRollbackError if it is older than its monotonic counter.
   */
  storeLedger(storeId: string): StoreLedger | undefined {
    const path = this.ledgerPath(storeId);
    if (!existsSync(path)) return undefined;
    const ledger = new StoreLedger(path, this.#lockTimeoutMs, this.#counters?.counter(storeId));
    ledger.verifyFresh();
    return ledger;
  }

  private ledgerPath(storeId: string): string {
    if (!STORE_ID_RE.test(storeId)) throw new InvalidArgumentError('store identity must be 32 hex digits');
    return join(this.dir, 'ledger', `${storeId}.json`);
  }
}
