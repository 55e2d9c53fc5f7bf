/**
 * The trusted runtime's persistent secrets and pad ledger (DESIGN.md §4), kept apart from the pad
 * store: a directory (mode 0700; files 0600) holding `keys.json` — a random 256-bit master key and
 * its epoch — and, per model, `ledger/<model hash>.json` with two counters:
 *   generated: pads [0, generated) were precomputed and durably stored;
 *   consumed:  pads [0, consumed) were used or lost and are never used again.
 * Pads are consumed in order, and the consumption of pad i is written durably (under a lock, so
 * concurrent processes cannot take the same pad) before any value blinded with it exists. A crash at
 * any instant therefore loses at most the pad in flight and never reuses one; an old copy of the
 * store cannot roll the counters back because they are not in the store.
 * Default location: $SLALOM_STATE_DIR, else ~/.slalom/state.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, PadsExhaustedError } from '../errors.js';
import { removeStaleTemporaries, writeFileDurably } from './durable.js';

export function defaultStateDir(): string {
  return process.env['SLALOM_STATE_DIR'] ?? join(homedir(), '.slalom', 'state');
}

export interface PadKeys {
  readonly epoch: number;
  /** Key of the AES-CTR keystream that generates r. */
  readonly padKey: Uint8Array;
  /** Key of the AES-GCM seal on u = f(r). */
  readonly sealKey: Uint8Array;
}

export interface LedgerCounters {
  readonly generated: number;
  readonly consumed: number;
}

export class TrustedState {
  readonly dir: string;
  readonly keys: PadKeys;

  private constructor(dir: string, keys: PadKeys) {
    this.dir = dir;
    this.keys = keys;
  }

  static open(dir = defaultStateDir()): TrustedState {
    mkdirSync(join(dir, 'ledger'), { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    removeStaleTemporaries(dir);
    removeStaleTemporaries(join(dir, 'ledger'));
    const keyPath = join(dir, 'keys.json');
    if (!existsSync(keyPath)) {
      writeFileDurably(keyPath, JSON.stringify({ epoch: 1, masterKey: randomBytes(32).toString('base64') }), 0o600);
    }
    if ((statSync(keyPath).mode & 0o077) !== 0) chmodSync(keyPath, 0o600);
    let parsed: { epoch?: unknown; masterKey?: unknown };
    try {
      parsed = JSON.parse(readFileSync(keyPath, 'utf8'));
    } catch (e) {
      throw new InvalidArgumentError(`trusted state ${keyPath} is unreadable: ${(e as Error).message}`, { cause: e });
    }
    const master = typeof parsed.masterKey === 'string' ? Buffer.from(parsed.masterKey, 'base64') : Buffer.alloc(0);
    if (master.length !== 32 || !Number.isInteger(parsed.epoch)) throw new InvalidArgumentError(`trusted state ${keyPath} is corrupt`);
    const epoch = parsed.epoch as number;
    const derive = (label: string): Uint8Array => new Uint8Array(hkdfSync('sha256', master, Buffer.alloc(0), `slalom ${label} epoch ${epoch}`, 32));
    return new TrustedState(dir, { epoch, padKey: derive('pad keystream'), sealKey: derive('pad seal') });
  }

  ledger(modelHash: string): PadLedger {
    if (!/^[0-9a-f]{64}$/.test(modelHash)) throw new InvalidArgumentError('model hash must be 64 hex digits');
    return new PadLedger(join(this.dir, 'ledger', `${modelHash}.json`));
  }
}

export class PadLedger {
  constructor(private readonly path: string) {}

  read(): LedgerCounters {
    if (!existsSync(this.path)) return { generated: 0, consumed: 0 };
    const raw = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<LedgerCounters>;
    const { generated, consumed } = raw;
    if (!Number.isSafeInteger(generated) || !Number.isSafeInteger(consumed) || consumed! > generated! || consumed! < 0) {
      throw new InvalidArgumentError(`pad ledger ${this.path} is corrupt`);
    }
    return { generated: generated!, consumed: consumed! };
  }

  /** Records that pads [0, generated) are durably stored. Never lowers the counter. */
  markGenerated(generated: number): void {
    this.update((c) => ({ ...c, generated: Math.max(c.generated, generated) }));
  }

  /**
   * Takes the next pad: durably marks it consumed and returns its index. Throws PadsExhaustedError
   * when none is left. The caller may use the pad only after this returns.
   */
  consumeNext(): number {
    let index = -1;
    this.update((c) => {
      if (c.consumed >= c.generated) throw new PadsExhaustedError(`no precomputed pads left (${c.consumed} consumed of ${c.generated}); run \`slalom precompute\``);
      index = c.consumed;
      return { ...c, consumed: c.consumed + 1 };
    });
    return index;
  }

  private update(f: (c: LedgerCounters) => LedgerCounters): void {
    const release = this.lock();
    try {
      writeFileDurably(this.path, JSON.stringify(f(this.read())), 0o600);
    } finally {
      release();
    }
  }

  /**
   * An exclusive lock file holding the owner's pid, created whole (link(2) of a written file) so it
   * is never seen empty. A lock whose owner died is broken by `breakIfStale`, which lets only one
   * process at a time break a given owner's lock and re-checks it is still that same file: otherwise
   * two waiters could both see the dead owner, one take the lock, and the other delete that fresh
   * lock and take it too — both would then hand out the same pad.
   */
  private lock(): () => void {
    const lockPath = `${this.path}.lock`;
    for (let attempt = 0; ; attempt++) {
      if (tryCreateLock(lockPath)) return () => rmSync(lockPath, { force: true });
      breakIfStale(lockPath);
      if (attempt > 2000) throw new InvalidArgumentError(`pad ledger ${this.path} stays locked by another process`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** Creates `path` holding this process's pid if it does not exist; atomic, never partially written. */
function tryCreateLock(path: string): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, String(process.pid), { mode: 0o600 });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

interface LockOwner {
  /** 0 when the file holds no valid pid (left by an older version, or garbled). */
  readonly pid: number;
  /** Identifies this lock file, as opposed to a later one at the same path. */
  readonly ino: number;
  readonly mtimeMs: number;
}

function readOwner(path: string): LockOwner | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined; // vanished: retry
  }
  try {
    const { ino, mtimeMs } = fstatSync(fd);
    const pid = Number(readFileSync(fd, 'utf8'));
    return { pid: Number.isInteger(pid) && pid > 0 ? pid : 0, ino, mtimeMs };
  } finally {
    closeSync(fd);
  }
}

function ownerDead(owner: LockOwner): boolean {
  if (owner.pid === 0) return Date.now() - owner.mtimeMs > 2000;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes the lock file at `path` if its owner is dead. Breakers of one owner's lock serialize on a
 * guard lock named after that owner and remove `path` only if it is still the file they judged
 * stale, so a lock is only ever removed by its live owner or by the one breaker holding the guard.
 * A breaker that dies holding the guard leaves a stale guard, broken the same way one level down.
 */
function breakIfStale(path: string, depth = 0): void {
  const owner = readOwner(path);
  if (owner === undefined || depth > 8 || !ownerDead(owner)) return;
  const guard = `${path}.break-${owner.pid}`;
  if (!tryCreateLock(guard)) {
    breakIfStale(guard, depth + 1);
    return;
  }
  try {
    const now = readOwner(path);
    if (now !== undefined && now.pid === owner.pid && now.ino === owner.ino) rmSync(path, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}
