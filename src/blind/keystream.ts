/**
 * One-time pads r_{i,l} uniform over Z_p (docs/design.md §4), regenerable from (key, pad index i,
 * layer l) so r itself is never stored — the key being the ledger's own keystream key, derived over
 * everything that names the ledger (ledger-keys.ts states why no (key, IV) pair ever repeats within a
 * trusted state): AES-256-CTR keystream from node:crypto, cut into 24-bit little-endian words,
 * rejecting the 3 values ≥ p so every residue is exactly equally likely.
 *
 * The CTR initial block is i (64 bits) ‖ l (32 bits) ‖ 0 (32 bits): distinct (i, l) get disjoint
 * counter ranges for pads below 2^32 blocks (64 GiB) of keystream, far beyond any layer.
 *
 * Why node:crypto's AES-256-CTR (measured on this machine, bench/REPORT.md "Pads"): in 64 KiB
 * pieces, with the copy into the trusted runtime's memory, it gives about the same bytes per second
 * as its ChaCha20 (RFC 8439) and more than a WebAssembly SIMD ChaCha20 writing there directly (four
 * blocks per 128-bit lane, no AES instructions in WebAssembly): so the standard cipher with AES-NI
 * stays. One huge update() is slower (its output is fresh memory).
 *
 * Online the keystream goes straight into the trusted runtime's memory (padKeystream) and the
 * boundary pass of the layer before adds it, skipping rejected words (simd/assembly/blind.ts);
 * offline, precompute reads the same words as residues (padVector).
 */
import { createCipheriv } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import type { Residues } from '../field/residues.js';
import { alloc, release, u8, type Region } from '../simd/arena.js';
import { countRejected, wordsToResidues } from '../simd/blind.js';

/** Keystream bytes per update(): a multiple of 12 (four whole words), about 64 KiB. */
const CHUNK_BYTES = 65_536 - (65_536 % 12);
const ZEROS = new Uint8Array(CHUNK_BYTES);
/** Bytes a kernel may read past the last word (a 16-byte load of four words). */
const SLACK = 16;

export function padIv(index: number, layer: number): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgumentError(`pad index must be a non-negative integer, got ${index}`);
  if (!Number.isInteger(layer) || layer < 0 || layer > 0xffff_ffff) throw new InvalidArgumentError(`layer must be a 32-bit index, got ${layer}`);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(index), 0);
  iv.writeUInt32BE(layer, 8);
  return iv;
}

/** A keystream of r_{i,l} in the trusted runtime's memory, and how many of its bytes hold words. */
export interface PadKeystream {
  readonly region: Region;
  /** Bytes of keystream written: 3 per word, `count` words below p among them. */
  readonly bytes: number;
}

/**
 * The keystream of r_{i,l} for `count` residues: enough 24-bit words that `count` of them are
 * below p (the rejected ones stay in place; whoever reads it skips them), resident, readable 16
 * bytes past its end. The caller releases the region.
 */
export function padKeystream(key: Uint8Array, index: number, layer: number, count: number): PadKeystream {
  if (key.length !== 32) throw new InvalidArgumentError(`pad key must be 32 bytes, got ${key.length}`);
  if (!Number.isSafeInteger(count) || count < 0) throw new InvalidArgumentError(`a pad of ${count} values`);
  const cipher = createCipheriv('aes-256-ctr', key, padIv(index, layer));
  // Rejections are rare (3 words in 2^24): room for one chunk of them, more only if needed.
  let region = alloc(3 * count + CHUNK_BYTES + SLACK);
  let written = 0;
  let words = 0; // accepted words so far
  try {
    while (words < count) {
      // Exactly the words still missing (the last piece short), so nothing past the pad is made.
      const piece = Math.min(CHUNK_BYTES, 3 * (count - words));
      if (written + piece + SLACK > region.bytes) region = grown(region, written, written + piece + CHUNK_BYTES + SLACK);
      const bytes = cipher.update(ZEROS.subarray(0, piece));
      const into = u8(region, written + piece);
      into.set(bytes, written);
      words += piece / 3 - countRejected(into.subarray(written), piece / 3);
      written += piece;
    }
    return { region, bytes: written };
  } catch (e) {
    release(region);
    throw e;
  }
}

function grown(region: Region, used: number, bytes: number): Region {
  const larger = alloc(bytes);
  u8(larger, used).set(u8(region, used));
  release(region);
  return larger;
}

/** r_{i,l}: `count` uniform residues of Z_p (the words of padKeystream below p, in order). */
export function padVector(key: Uint8Array, index: number, layer: number, count: number): Residues {
  const ks = padKeystream(key, index, layer, count);
  try {
    return wordsToResidues(u8(ks.region, ks.bytes), count);
  } finally {
    release(ks.region);
  }
}
