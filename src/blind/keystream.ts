/**
 * One-time pads r_{i,l} uniform over Z_p (DESIGN.md §4), regenerable from (key, pad index i,
 * layer l) so r itself is never stored: AES-256-CTR keystream from node:crypto, read in 64 KiB
 * chunks (one huge update() is slow), cut into 24-bit words, rejecting the 3 values ≥ p so every
 * residue is exactly equally likely.
 *
 * The CTR initial block is i (64 bits) ‖ l (32 bits) ‖ 0 (32 bits): distinct (i, l) get disjoint
 * counter ranges for pads below 2^32 blocks (64 GiB) of keystream, far beyond any layer.
 */
import { createCipheriv } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { LITTLE_ENDIAN } from '../field/pack24.js';
import { P } from '../field/prime.js';
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
    // A plain Uint8Array view: V8 reads its elements faster than a Buffer's.
    const block = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    let j = 0;
    if (LITTLE_ENDIAN && block.byteOffset % 4 === 0) {
      // Four candidates from three words (the layout of field/pack24.ts); when none is rejected (all but ~1 in 2^22 groups) they are
      // added without a per-value test. int32 with sign masks, not branches (see field/modp.ts).
      const words = new Uint32Array(block.buffer, block.byteOffset, block.length >> 2);
      for (let k = 0; k + 2 < words.length && filled + 4 <= count; k += 3, j += 12) {
        const w0 = words[k]!;
        const w1 = words[k + 1]!;
        const w2 = words[k + 2]!;
        const r0 = w0 & 0xffffff;
        const r1 = (w0 >>> 24) | ((w1 & 0xffff) << 8);
        const r2 = (w1 >>> 16) | ((w2 & 0xff) << 16);
        const r3 = w2 >>> 8;
        if (((P - 1 - r0) | (P - 1 - r1) | (P - 1 - r2) | (P - 1 - r3)) < 0) break; // a rejection: the byte loop below takes over here
        const d0 = (values[filled]! | 0) + r0 - P;
        const d1 = (values[filled + 1]! | 0) + r1 - P;
        const d2 = (values[filled + 2]! | 0) + r2 - P;
        const d3 = (values[filled + 3]! | 0) + r3 - P;
        out[filled] = d0 + (P & (d0 >> 31));
        out[filled + 1] = d1 + (P & (d1 >> 31));
        out[filled + 2] = d2 + (P & (d2 >> 31));
        out[filled + 3] = d3 + (P & (d3 >> 31));
        filled += 4;
      }
    }
    for (; j + 2 < block.length && filled < count; j += 3) {
      const r = block[j]! | (block[j + 1]! << 8) | (block[j + 2]! << 16);
      if (r >= P) continue; // rejection keeps r uniform: 3 of 2^24 words are dropped
      const d = (values[filled]! | 0) + r - P;
      out[filled++] = d + (P & (d >> 31));
    }
  }
  return out;
}
