/**
 * Training checkpoints (crash safety): the model's state, the optimizer's, the step reached, the
 * run's stream key (so the stochastic rounding and the data order of the steps still to come replay
 * exactly, train/stream.ts) and the receipt's counters, in one JSON file written atomically — a
 * temporary file, fsync, rename over the old one, fsync of the folder — so a crash at any moment
 * leaves either the old checkpoint or the new one, whole.
 *
 * A checkpoint on disk is outside the trusted runtime: `readCheckpoint` checks its format, every
 * tensor's length and that every value is finite before the run uses it, and the trainer checks
 * that its hyperparameters and data set are the run's. It is not sealed: whoever can write the
 * folder can change the weights a resumed run starts from (an enclave would seal it, as the pad
 * store seals pads).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../blind/durable.js';
import { InvalidArgumentError } from '../errors.js';

export const CHECKPOINT_FORMAT = 'slalom-train-checkpoint/1';
export const CHECKPOINT_FILE = 'checkpoint.json';

export interface CheckpointCounters {
  readonly products: number;
  readonly chunks: number;
  /** The worst (largest) log2 soundness error of any step so far. */
  readonly worstStepSoundnessLog2: number | null;
  readonly incidents: readonly string[];
}

export interface Checkpoint {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** Steps completed. */
  readonly step: number;
  /** The stream key, hex (secret: it determines the stochastic rounding). */
  readonly key: string;
  readonly hyperparametersHash: string;
  readonly dataHash: string;
  readonly initialModelHash: string;
  readonly counters: CheckpointCounters;
  /** Model state and optimizer state: name → float64 values (little-endian, base64). */
  readonly model: Readonly<Record<string, string>>;
  readonly optimizer: Readonly<Record<string, string>>;
}

export function encodeF64(values: Float64Array): string {
  const bytes = Buffer.alloc(8 * values.length);
  for (let i = 0; i < values.length; i++) bytes.writeDoubleLE(values[i]!, 8 * i);
  return bytes.toString('base64');
}

function decodeF64(text: unknown, length: number, what: string): Float64Array {
  if (typeof text !== 'string') throw new InvalidArgumentError(`checkpoint: ${what} is missing`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== 8 * length) throw new InvalidArgumentError(`checkpoint: ${what} has ${bytes.length / 8} values, expected ${length}`);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = bytes.readDoubleLE(8 * i);
    if (!Number.isFinite(out[i]!)) throw new InvalidArgumentError(`checkpoint: ${what} holds a value that is not finite`);
  }
  return out;
}

/** Writes `checkpoint` to `dir` atomically (temporary file, fsync, rename, fsync of the folder). */
export function writeCheckpoint(dir: string, checkpoint: Checkpoint): void {
  mkdirSync(dir, { recursive: true });
  writeFileDurably(join(dir, CHECKPOINT_FILE), `${JSON.stringify(checkpoint)}\n`);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/** The checkpoint in `dir`, its envelope checked; tensors are decoded by `restoreInto`. */
export function readCheckpoint(dir: string): Checkpoint {
  const path = join(dir, CHECKPOINT_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`cannot read the checkpoint ${path}: ${(e as Error).message}`);
  }
  const c = raw as Partial<Checkpoint> | null;
  const isHex = (v: unknown, n: number): boolean => typeof v === 'string' && new RegExp(`^[0-9a-f]{${n}}$`).test(v);
  if (c === null || typeof c !== 'object' || c.format !== CHECKPOINT_FORMAT) throw new InvalidArgumentError(`${path} is not a ${CHECKPOINT_FORMAT} checkpoint`);
  if (!Number.isSafeInteger(c.step) || c.step! < 0 || !isHex(c.key, 64) || !isHex(c.hyperparametersHash, 64) || !isHex(c.dataHash, 64) || !isHex(c.initialModelHash, 64)) throw new InvalidArgumentError(`${path}: step, key or hashes are malformed`);
  const k = c.counters;
  if (typeof k !== 'object' || k === null || !Number.isSafeInteger(k.products) || !Number.isSafeInteger(k.chunks) || !Array.isArray(k.incidents) || !k.incidents.every((i) => typeof i === 'string') || !(k.worstStepSoundnessLog2 === null || Number.isFinite(k.worstStepSoundnessLog2))) throw new InvalidArgumentError(`${path}: counters are malformed`);
  if (typeof c.model !== 'object' || c.model === null || typeof c.optimizer !== 'object' || c.optimizer === null) throw new InvalidArgumentError(`${path}: model or optimizer state is missing`);
  return c as Checkpoint;
}

/** Copies a checkpoint's tensors into `targets` (name → array of the expected length); every target must be present, or none is changed. */
export function restoreInto(saved: Readonly<Record<string, string>>, targets: ReadonlyMap<string, Float64Array>, what: string): void {
  const extra = Object.keys(saved).filter((n) => !targets.has(n));
  if (extra.length > 0) throw new InvalidArgumentError(`checkpoint: unexpected ${what} tensor '${extra[0]}'`);
  // Every tensor decoded and checked before any target changes.
  const decoded = [...targets].map(([name, target]) => [target, decodeF64(saved[name], target.length, `${what} '${name}'`)] as const);
  for (const [target, values] of decoded) target.set(values);
}
