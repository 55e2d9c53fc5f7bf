/**
 * The range checks of residues (assembly/residues.ts), for the gate (boundary/accept.ts), the pad
 * format (blind/seal.ts) and the legacy FP64 wire.
 */
import { simd } from './module.js';
import { withStaged } from './staging.js';

/** True when every value is < p. */
export function residuesBelowP(x: Uint32Array): boolean {
  return withStaged([{ view: x, use: 'in' }], (at) => simd().kernels.residuesBelowP(at, x.length) === 1);
}

/** out = x for doubles that are all integers in [0, p) (−0 counts as 0): returns whether they were. */
export function residuesFromF64(x: Float64Array, out: Uint32Array): boolean {
  if (out.length !== x.length) throw new RangeError(`${x.length} doubles into ${out.length} residues`);
  return withStaged([{ view: x, use: 'in' }, { view: out, use: 'out' }], (xAt, outAt) => simd().kernels.residuesFromF64(xAt, outAt, x.length) === 1);
}

/** True when every residue packed 3 bytes each in `bytes` is < p. */
export function packedBelowP(bytes: Uint8Array): boolean {
  const count = Math.floor(bytes.length / 3);
  return withStaged([{ view: bytes, use: 'in', slack: 16 }], (at) => simd().kernels.packedBelowP(at, count) === 1);
}
