/**
 * Residues (< 2^24) as 3 little-endian bytes each: the sealed pad format (blind/seal.ts). Packing
 * happens offline; online, the packed residues are checked (simd/kernels.ts packedResidues) and
 * unpacked inside the requantization pass that subtracts them.
 */

/** Values (integers in [0, 2^24)) → 3 little-endian bytes each. */
export function packResidues(values: Float64Array, bytes: Uint8Array): Uint8Array {
  for (let i = 0, o = 0; i < values.length; i++, o += 3) {
    const v = values[i]!;
    bytes[o] = v & 255;
    bytes[o + 1] = (v >>> 8) & 255;
    bytes[o + 2] = v >>> 16;
  }
  return bytes;
}
