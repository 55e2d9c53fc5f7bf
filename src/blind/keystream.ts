/**
 * One-time pads r_{i,l} uniform over Z_p (DESIGN.md §4), regenerable from (key, pad index i,
 * layer l) so r itself is never stored — the key being the ledger's own keystream key, derived over
 * everything that names the ledger (ledger-keys.ts states why no (key, IV) pair ever repeats within a
 * trusted state): AES-256-CTR keystream from node:crypto, read in 64 KiB
 * chunks (one huge update() is slow), cut into 24-bit words, rejecting the 3 values ≥ p so every
 * residue is exactly equally likely.
 *
 * The CTR initial block is i (64 bits) ‖ l (32 bits) ‖ 0 (32 bits): distinct (i, l) get disjoint
 * counter ranges for pads below 2^32 blocks (64 GiB) of keystream, far beyond any layer.
 */
import { createCipheriv } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { P } from '../field/prime.js';
import { addPadWords } from '../simd/kernels.js';
import { takeF64 } from '../tensor/pool.js';

// A multiple of 12: whole 3-byte words, read as whole 32-bit words (four residues per three).
const CHUNK_BYTES = 65_536 - (65_536 % 12);
const ZEROS = new Uint8Array(CHUNK_BYTES);

export function padIv(index: number, layer: number): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgumentError(`pad index must be a non-negative integer, got ${index}`);
  if (!Number.isInteger(layer) || layer < 0 || layer > 0xffff_ffff) throw new InvalidArgumentError(`layer must be a 32-bit index, got ${layer}`);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(index), 0);
  iv.writeUInt32BE(layer, 8);
  return iv;
}

/** r_{i,l}: `count` uniform residues of Z_p from AES-256-CTR(key, iv(i, l)). */
export function padVector(key: Uint8Array, index: number, layer: number, count: number): Float64Array {
  const zeros = new Float64Array(count);
  return padded(key, index, layer, zeros, zeros);
}

/**
 * x + r_{i,l} mod p in one pass over the keystream, into a pooled array (x is not modified): the
 * online blinding step, without materialising r.
 */
export function blindWithPad(key: Uint8Array, index: number, layer: number, x: Float64Array): Float64Array {
  return padded(key, index, layer, x, takeF64(x.length));
}

/** out[k] = values[k] + r_{i,l}[k] mod p for residues `values` (out may be values). */
function padded(key: Uint8Array, index: number, layer: number, values: Float64Array, out: Float64Array): Float64Array {
  if (key.length !== 32) throw new InvalidArgumentError(`pad key must be 32 bytes, got ${key.length}`);
  const cipher = createCipheriv('aes-256-ctr', key, padIv(index, layer));
  const count = values.length;
  let filled = 0;
  while (filled < count) {
    const chunk = cipher.update(ZEROS);
    const block = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    // Whole groups of four words through the SIMD kernel; from a group holding a rejected word
    // (about 1 in 2^22) to the end of the chunk, word by word.
    const groups = Math.min(Math.floor(block.length / 12), Math.floor((count - filled) / 4));
    const written = addPadWords(block, groups, values, out, filled);
    filled += written;
    let j = 3 * written;
    for (; j + 2 < block.length && filled < count; j += 3) {
      const r = block[j]! | (block[j + 1]! << 8) | (block[j + 2]! << 16);
      if (r >= P) continue; // rejection keeps r uniform: 3 of 2^24 words are dropped
      const d = (values[filled]! | 0) + r - P;
      out[filled++] = d + (P & (d >> 31));
    }
  }
  return out;
}
