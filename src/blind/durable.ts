/**
 * Crash-safe file writes: write a temporary file, fsync it, rename it over the target, fsync the
 * directory. After a crash at any instant the target holds either the old or the new content, never
 * a mix, and a completed write survives power loss.
 */
import { closeSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function writeFileDurably(path: string, data: Uint8Array | string, mode = 0o600): void {
  const tmp = writeTemporary(path, data, mode);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/**
 * Like writeFileDurably, but only if `path` does not exist yet: the temporary file is linked, not
 * renamed, into place (link(2) fails if the target exists). Returns false, writing nothing, if it did.
 */
export function createFileDurably(path: string, data: Uint8Array | string, mode = 0o600): boolean {
  const tmp = writeTemporary(path, data, mode);
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDir(dirname(path));
  return true;
}

function writeTemporary(path: string, data: Uint8Array | string, mode: number): string {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the temporary files writeFileDurably left in `dir` when its process died between creating
 * and renaming them (a SIGKILL mid-write). They hold nothing anyone reads, but would pile up. Only
 * files whose writer (the pid in their name) no longer exists are removed. Returns how many.
 */
export function removeStaleTemporaries(dir: string): number {
  let removed = 0;
  for (const name of readdirSync(dir)) {
    const pid = Number(/\.tmp-(\d+)$/.exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid) || pid === process.pid || processExists(pid)) continue;
    rmSync(join(dir, name), { force: true });
    removed++;
  }
  return removed;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
