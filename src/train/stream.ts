/**
 * The training run's replayable randomness (docs/design.md §8): AES-256-CTR keyed by the run's secret
 * seed, one stream per (purpose, a, b) — the gradients of product b of step a, the shuffle of epoch
 * a, the initial weights of layer a. The initial 16-byte counter block is [purpose u8 | b u24 |
 * a u64 | 0 u32] and CTR increments only the last 32 bits (a stream is capped at 2^32 blocks), so
 * streams never overlap: no (key, counter) pair repeats within a run.
 * A resumed run replays exactly the stochastic rounding of an uninterrupted one, because each draw
 * depends only on the key and the step, never on how many draws came before. Freivalds' secrets are
 * NOT drawn here: they stay fresh from the OS CSPRNG (field/random.ts), as they never touch weights.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

export type StreamPurpose = 'gradient' | 'shuffle' | 'init';
const PURPOSES: Readonly<Record<StreamPurpose, number>> = { gradient: 1, shuffle: 2, init: 3 };

/** Bytes one stream may give: 2^32 blocks of 16 bytes would wrap the counter into the next stream's `b`. */
const MAX_STREAM_BYTES = 2 ** 36;

export class SeededStream {
  private readonly key: Buffer;

  /** `key`: 32 secret bytes (the checkpoint keeps them, so a resumed run replays the same draws). */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new InvalidArgumentError(`a stream key has 32 bytes, got ${key.length}`);
    this.key = Buffer.from(key);
  }

  /** The key a numeric `--seed` names: SHA-256 of a label and the seed (a public seed gives public draws). */
  static keyOfSeed(seed: number): Uint8Array {
    return createHash('sha256').update(`slalom-train-seed/1:${seed}`).digest();
  }

  /** `n` uniform u32 words of stream (purpose, a, b). */
  words(purpose: StreamPurpose, a: number, b: number, n: number): Uint32Array {
    if (4 * n > MAX_STREAM_BYTES) throw new InvalidArgumentError(`a stream gives at most ${MAX_STREAM_BYTES} bytes`);
    if (!Number.isSafeInteger(a) || a < 0 || !Number.isInteger(b) || b < 0 || b >= 2 ** 24) throw new InvalidArgumentError(`stream index (${a}, ${b}) out of range`);
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(((PURPOSES[purpose] << 24) | b) >>> 0, 0);
    iv.writeUInt32BE(Math.floor(a / 2 ** 32), 4);
    iv.writeUInt32BE(a >>> 0, 8);
    const cipher = createCipheriv('aes-256-ctr', this.key, iv);
    const out = cipher.update(this.zeros(4 * n));
    cipher.final();
    // The keystream itself (CTR over zeros), read in place where it is aligned.
    return out.byteOffset % 4 === 0 ? new Uint32Array(out.buffer, out.byteOffset, n) : new Uint32Array(out.buffer.slice(out.byteOffset, out.byteOffset + 4 * n));
  }

  /** `bytes` zero bytes, the plaintext of CTR's keystream: one buffer, grown as needed and never written. */
  private zeroBytes = Buffer.alloc(0);
  private zeros(bytes: number): Buffer {
    if (this.zeroBytes.length < bytes) this.zeroBytes = Buffer.alloc(bytes);
    return this.zeroBytes.subarray(0, bytes);
  }

  /** `n` uniforms in [0, 1) (32 bits each). */
  uniforms(purpose: StreamPurpose, a: number, b: number, n: number): Float64Array {
    const w = this.words(purpose, a, b, n);
    const u = new Float64Array(n);
    for (let i = 0; i < n; i++) u[i] = w[i]! / 4294967296;
    return u;
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates over 32-bit draws, rejection for exact uniformity). */
  permutation(purpose: StreamPurpose, a: number, n: number): Uint32Array {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    let words = this.words(purpose, a, 0, 2 * n + 64);
    let at = 0;
    for (let i = n - 1; i > 0; i--) {
      const range = i + 1;
      const limit = 4294967296 - (4294967296 % range);
      let v: number;
      do {
        // Rejections used up the draws (almost never): the same stream, longer; its prefix is unchanged.
        if (at === words.length) words = this.words(purpose, a, 0, 2 * words.length);
        v = words[at++]!;
      } while (v >= limit);
      const j = v % range;
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return order;
  }
}
