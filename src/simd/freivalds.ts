/** Freivalds' standalone dot products (assembly/freivalds.ts), for checks not fused into a boundary pass. */
import { alloc, release, u32 } from './arena.js';
import { simd } from './module.js';
import { withStaged } from './staging.js';

/** [Σ x·wa mod p, Σ x·wb mod p] for residues x and residue weights wa, wb of x's length. */
export function dots2(x: Uint32Array, wa: Uint32Array, wb: Uint32Array): [number, number] {
  if (wa.length !== x.length || wb.length !== x.length) throw new RangeError(`dot products of ${x.length} values with ${wa.length} and ${wb.length} weights`);
  const out = alloc(8);
  try {
    withStaged([{ view: x, use: 'in' }, { view: wa, use: 'in' }, { view: wb, use: 'in' }], (xAt, aAt, bAt) => simd().kernels.dots2(xAt, aAt, bAt, x.length, out.at));
    const [a, b] = u32(out, 2);
    return [a!, b!];
  } finally {
    release(out);
  }
}
