/**
 * The untrusted pad store (docs/design.md §1, §4): a directory holding one sealed pad file per pad index
 * (`pads/<index>.pad`) and `manifest.json`, which names the store's identity (created by the trusted
 * state, bound into every seal and key of its pads) and the model. Chosen over a database because each pad
 * is written once, read once and deleted, so a file per pad with an atomic durable write is the
 * simplest format whose crash behaviour is obvious. The store is trusted for nothing: what it
 * returns is Untrusted and authenticated by boundary/accept.ts; losing or corrupting it costs pads,
 * never privacy or correctness, and replaying an old copy cannot roll consumption back (the ledger
 * lives in trusted state).
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rm } from 'node:fs';
import { join } from 'node:path';
import { untrusted, type Untrusted } from '../boundary/untrusted.js';
import { InvalidArgumentError } from '../errors.js';
import { createFileDurably, removeStaleTemporaries, writeFileDurably } from './durable.js';

export const MANIFEST_FORMAT = 'slalom-pad-store/2';

export interface StoreManifest {
  readonly format: typeof MANIFEST_FORMAT;
  /** The identity the trusted state created for this store (32 hex digits). */
  readonly storeId: string;
  readonly model: string;
  readonly weightsHash: string;
  readonly bytesPerInference: number;
}

/** A pad file's bytes, in a buffer the reader holds until it gives it back (then the store reads the next pad into it). */
export interface PadRead {
  readonly bytes: Untrusted<Uint8Array>;
  giveBack(): void;
}

export class PadStore {
  readonly dir: string;
  private readonly padsDir: string;
  /** Buffers given back by earlier reads. */
  private readonly spare: Buffer[] = [];

  /**
   * Opens the store in `dir`. A writer (`create`, the default: precompute) makes the directory; a
   * reader leaves a missing one missing, so a mistyped `--store` creates nothing and reads as a
   * store with no pads.
   */
  constructor(dir: string, options: { readonly create?: boolean } = {}) {
    this.dir = dir;
    this.padsDir = join(dir, 'pads');
    if (options.create === false && !existsSync(this.padsDir)) return;
    mkdirSync(this.padsDir, { recursive: true });
    removeStaleTemporaries(this.dir);
    removeStaleTemporaries(this.padsDir);
  }

  /**
   * Writes the manifest of a fresh store; false, writing nothing, if the store has one already (two
   * precompute runs creating one store at once: the loser uses the winner's identity).
   */
  createManifest(m: StoreManifest): boolean {
    return createFileDurably(join(this.dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`, 0o644);
  }

  /** The manifest's text as the store holds it (undefined when it has none): boundary/accept.ts parses and validates it. */
  readManifest(): Untrusted<string> | undefined {
    const path = join(this.dir, 'manifest.json');
    if (!existsSync(path)) return undefined;
    try {
      return untrusted(readFileSync(path, 'utf8'));
    } catch {
      return untrusted(''); // there, but unreadable: the gate calls it malformed, not missing
    }
  }

  writePad(index: number, bytes: Uint8Array): void {
    writeFileDurably(this.path(index), bytes, 0o644);
  }

  /**
   * The pad file's bytes, read into a buffer an earlier read gave back, or a new one while every
   * buffer is held (inferences in flight each hold their pad's). A pad is tens of MiB for a large
   * model: fresh memory for each would cost a page fault per 4 KiB.
   */
  readPad(index: number): PadRead | undefined {
    const path = this.path(index);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const size = fstatSync(fd).size;
      const held = this.spare.pop();
      const buffer = held !== undefined && held.length >= size ? held : Buffer.allocUnsafe(size); // every byte used is read below
      let read = 0;
      while (read < size) {
        const n = readSync(fd, buffer, read, size - read, read);
        if (n === 0) break; // shrank while reading: what was read is all there is
        read += n;
      }
      let given = false;
      const giveBack = (): void => {
        if (given) return;
        given = true;
        this.spare.push(buffer);
      };
      return { bytes: untrusted(new Uint8Array(buffer.buffer, buffer.byteOffset, read)), giveBack };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Removes a consumed pad's file in the background (freeing tens of MiB of page cache takes
   * milliseconds the inference need not wait for). The ledger already records the pad as consumed,
   * so a file that outlives a crash or a failed removal is an orphan that is never read again.
   */
  deletePad(index: number): void {
    rm(this.path(index), { force: true }, () => {});
  }

  /** Indices of the pad files present (whatever their content). */
  indices(): number[] {
    return readdirSync(this.padsDir)
      .map((n) => /^(\d+)\.pad$/.exec(n)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private path(index: number): string {
    if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgumentError(`invalid pad index ${index}`);
    return join(this.padsDir, `${index}.pad`);
  }
}
