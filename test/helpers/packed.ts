/** Residues packed 3 little-endian bytes each (field/pack24.ts), read back byte by byte: the tests' reference. */
export function unpacked(bytes: Uint8Array): Float64Array {
  return Float64Array.from({ length: Math.floor(bytes.length / 3) }, (_, i) => bytes[3 * i]! + 256 * bytes[3 * i + 1]! + 65536 * bytes[3 * i + 2]!);
}
