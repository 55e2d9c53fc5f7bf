/**
 * An exclusive cross-process lock on a trusted-state file (docs/design.md §4: "concurrent processes cannot
 * take the same pad"): a lock file holding the owner's pid, created whole (link(2) of a written
 * file) so it is never seen empty. A lock whose owner died is broken by `breakIfStale`, which lets
 * only one process at a time break a given owner's lock and re-checks it is still that same file:
 * otherwise two waiters could both see the dead owner, one take the lock, and the other delete that
 * fresh lock and take it too — both would then hand out the same pad.
 *
 * A lock held longer than `timeoutMs` by a live process is reported with its path and the owner's
 * pid: after a crash the pid may have been reused by an unrelated process, which only the user can
 * tell (and then remove the file).
 */
import { closeSync, fstatSync, linkSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';

/** Default patience before a live holder is reported (a ledger update takes milliseconds). */
export const LOCK_TIMEOUT_MS = 10_000;
const RETRY_MS = 5;

/** Takes the lock `lockPath` (waiting for it), returns its release. */
export function acquireLock(lockPath: string, what: string, timeoutMs = LOCK_TIMEOUT_MS): () => void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (tryCreateLock(lockPath)) return () => rmSync(lockPath, { force: true });
    breakIfStale(lockPath);
    if (Date.now() > deadline) {
      const owner = readOwner(lockPath);
      if (owner === undefined) continue; // released just now: try again at once
      const holder = owner.pid === 0 ? 'a process that wrote no pid into it' : `process ${owner.pid}, which is still running`;
      throw new InvalidArgumentError(
        `${what} stays locked: the lock file ${lockPath} is held by ${holder} (waited ${Math.round(timeoutMs / 1000)} s); ` +
          `if no slalom process is using this trusted state (the pid may have been reused after a crash), remove ${lockPath}`,
      );
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
  }
}

/** Creates `path` holding this process's pid if it does not exist; atomic, never partially written. */
export function tryCreateLock(path: string): boolean {
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

/** Whether process `pid` is gone (ESRCH). A process owned by another user (EPERM) counts as alive. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function ownerDead(owner: LockOwner): boolean {
  if (owner.pid === 0) return Date.now() - owner.mtimeMs > 2000;
  return processGone(owner.pid);
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
