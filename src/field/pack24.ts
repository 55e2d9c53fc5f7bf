/**
 * Residues (< 2^24) as 3 little-endian bytes each: the sealed pad format (blind/seal.ts). Unpacking
 * is on the online path (every unseal), so it reads whole 32-bit words where it can: four residues
 * from three words, about 3× faster than byte by byte (and a plain Uint8Array, not a Buffer, whose
 * element reads V8 optimizes less well).
 */
import { P } from './prime.js';

/** Whether this platform's Uint32Array reads little-endian words (the packed format's byte order). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** bytes[3i..3i+2] little-endian → out[i], for i < out.length. Returns false when some value is ≥ p. */
export function unpackResidues(bytes: Uint8Array, out: Float64Array): boolean {
  const n = out.length;
  if (bytes.length < 3 * n) throw new RangeError(`${bytes.length} bytes hold fewer than ${n} packed residues`);
  const b = new Uint8Array(bytes.buffer, bytes.byteOffset, n * 3);
  let over = 0; // gathers P − 1 − v: its sign bit ends up set exactly when some v ≥ p
  let i = 0;
  if (LITTLE_ENDIAN && b.byteOffset % 4 === 0) {
    const w = new Uint32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4));
    for (let k = 0; i + 3 < n; i += 4, k += 3) {
      const w0 = w[k]!;
      const w1 = w[k + 1]!;
      const w2 = w[k + 2]!;
      const v0 = w0 & 0xffffff;
      const v1 = (w0 >>> 24) | ((w1 & 0xffff) << 8);
      const v2 = (w1 >>> 16) | ((w2 & 0xff) << 16);
      const v3 = w2 >>> 8;
      over |= (P - 1 - v0) | (P - 1 - v1) | (P - 1 - v2) | (P - 1 - v3);
      out[i] = v0;
      out[i + 1] = v1;
      out[i + 2] = v2;
      out[i + 3] = v3;
    }
  }
  for (let o = 3 * i; i < n; i++, o += 3) {
    const v = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
    over |= P - 1 - v;
    out[i] = v;
  }
  return over >= 0;
}

/** The inverse of unpackResidues: values (integers in [0, 2^24)) → 3 bytes each. */
export function packResidues(values: Float64Array, bytes: Uint8Array): Uint8Array {
  for (let i = 0, o = 0; i < values.length; i++, o += 3) {
    const v = values[i]!;
    bytes[o] = v & 255;
    bytes[o + 1] = (v >>> 8) & 255;
    bytes[o + 2] = v >>> 16;
  }
  return bytes;
}
