/**
 * One inference's pad, as the boundary passes use it (DESIGN.md §4, §7): per linear layer, the
 * keystream of r_{i,l} (24-bit words, for the pass that writes the layer's request) and the packed
 * u_{i,l} = f(r_{i,l}) (for the pass that reads its reply), each in the trusted runtime's memory and
 * handed out once per layer (PadReuseError otherwise, from OnlinePads). The caller owns each region
 * it is given and releases it once the pass that reads it was accepted.
 */
import type { OnlinePads } from './online-pads.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import { alloc, u8, type Region } from '../simd/arena.js';
import { giveBytes, giveF64 } from '../tensor/pool.js';
import { sizeOf } from '../tensor/tensor.js';

/** Bytes a kernel may read past packed data (a 16-byte load of the last four words). */
const SLACK = 16;

export interface PadLease {
  /** r for `layer`'s input: keystream words, every one < p (rejection already applied). */
  keystream(layer: QuantizedLayer): Region;
  /** u for `layer`'s output, authenticated, 3 bytes per value. */
  unblind(layer: QuantizedLayer): Region;
}

export function leasePad(pads: OnlinePads): PadLease {
  return {
    keystream(layer) {
      const n = sizeOf(layer.inDims);
      const r = pads.blind(layer, new Float64Array(n)); // 0 + r: the pad itself
      const region = alloc(3 * n + SLACK);
      const bytes = u8(region, 3 * n);
      for (let i = 0; i < n; i++) {
        const v = r[i]!;
        bytes[3 * i] = v & 255;
        bytes[3 * i + 1] = (v >>> 8) & 255;
        bytes[3 * i + 2] = v >>> 16;
      }
      giveF64(r);
      return region;
    },
    unblind(layer) {
      const u = pads.unseal(layer);
      const region = alloc(u.length + SLACK);
      u8(region, u.length).set(u);
      giveBytes(u);
      return region;
    },
  };
}
