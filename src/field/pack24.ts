/**
 * Residues (< 2^24) as 3 little-endian bytes each: the sealed pad format (blind/seal.ts). Packing
 * happens offline; online, the packed residues are checked (simd/residues.ts packedBelowP) and
 * unpacked inside the boundary pass that subtracts them.
 */

/** Values (integers in [0, 2^24)) → 3 little-endian bytes each. */
export function packResidues(values: ArrayLike<number>, bytes: Uint8Array): Uint8Array {
  for (let i = 0, o = 0; i < values.length; i++, o += 3) {
    const v = values[i]!;
    bytes[o] = v & 255;
    bytes[o + 1] = (v >>> 8) & 255;
    bytes[o + 2] = v >>> 16;
  }
  return bytes;
}
