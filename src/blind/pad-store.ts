/**
 * The untrusted pad store (DESIGN.md §1, §4): a directory holding one sealed pad file per pad index
 * (`pads/<index>.pad`) and an informational `manifest.json`. Chosen over a database because each pad
 * is written once, read once and deleted, so a file per pad with an atomic durable write is the
 * simplest format whose crash behaviour is obvious. The store is trusted for nothing: what it
 * returns is Untrusted and authenticated by boundary/accept.ts; losing or corrupting it costs pads,
 * never privacy or correctness, and replaying an old copy cannot roll consumption back (the ledger
 * lives in trusted state).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { untrusted, type Untrusted } from '../boundary/untrusted.js';
import { InvalidArgumentError } from '../errors.js';
import { writeFileDurably } from './durable.js';

export interface StoreManifest {
  readonly model: string;
  readonly modelHash: string;
  readonly bytesPerInference: number;
}

export class PadStore {
  readonly dir: string;
  private readonly padsDir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.padsDir = join(dir, 'pads');
    mkdirSync(this.padsDir, { recursive: true });
  }

  writeManifest(m: StoreManifest): void {
    writeFileDurably(join(this.dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`, 0o644);
  }

  /** The manifest as the store claims it (informational only). */
  readManifest(): Untrusted<unknown> | undefined {
    const path = join(this.dir, 'manifest.json');
    if (!existsSync(path)) return undefined;
    try {
      return untrusted(JSON.parse(readFileSync(path, 'utf8')));
    } catch {
      return untrusted(undefined);
    }
  }

  writePad(index: number, bytes: Uint8Array): void {
    writeFileDurably(this.path(index), bytes, 0o644);
  }

  readPad(index: number): Untrusted<Uint8Array> | undefined {
    const path = this.path(index);
    if (!existsSync(path)) return undefined;
    return untrusted(new Uint8Array(readFileSync(path)));
  }

  deletePad(index: number): void {
    rmSync(this.path(index), { force: true });
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
