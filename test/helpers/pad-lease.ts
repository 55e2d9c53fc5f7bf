/**
 * A pad lease (src/runtime/pad-lease.ts) used by hand, the way the boundary passes use it: x + r
 * from the layer's keystream (rejected words skipped, as the pass skips them) and u from its
 * unsealed record, both read back from the trusted runtime's memory and released.
 */
import { P } from '../../src/field/prime.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import type { PadLease } from '../../src/runtime/pad-lease.js';
import { u8 } from '../../src/simd/arena.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { unpacked } from './packed.js';

/** x + r_{i,l} mod p, as a request would carry it. */
export function blindWith(lease: PadLease, layer: QuantizedLayer, x: ArrayLike<number>): Float64Array {
  const region = lease.keystream(layer);
  try {
    const bytes = u8(region);
    const out = new Float64Array(x.length);
    for (let i = 0, at = 0; i < x.length; i++) {
      let r: number;
      do {
        r = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
        at += 3;
      } while (r >= P);
      out[i] = (x[i]! + r) % P;
    }
    return out;
  } finally {
    lease.done(region);
  }
}

/** u_{i,l} as residues. */
export function unsealWith(lease: PadLease, layer: QuantizedLayer): Float64Array {
  const region = lease.unblind(layer);
  try {
    return unpacked(u8(region, 3 * sizeOf(layer.outDims)));
  } finally {
    lease.done(region);
  }
}
