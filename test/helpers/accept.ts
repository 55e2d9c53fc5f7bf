/**
 * The gate (src/boundary/accept.ts) as a plain function for transport tests: a reply accepted and
 * its residues given back exactly (the pass with no bias, no clamp and a zero shift writes z as
 * the next request), or the gate's error.
 */
import type { LinearReply } from '../../src/accel/backend.js';
import { acceptReply } from '../../src/boundary/accept.js';
import type { ExpectedReply } from '../../src/boundary/pass-plan.js';
import type { Untrusted } from '../../src/boundary/untrusted.js';
import { alloc, i32, regionOf, release } from '../../src/simd/arena.js';

export function acceptValues(reply: Untrusted<LinearReply>, expected: ExpectedReply): Uint32Array {
  const n = expected.dims.reduce((a, b) => a * b, 1);
  const bias = alloc(4);
  i32(bias, 1)[0] = 0; // arena memory holds whatever its last owner left
  try {
    const crossing = acceptReply(reply, {
      reply: expected,
      layout: { rows: 1, rowLen: n },
      requant: { bias, perColumn: false, channels: 1, lo: -(2 ** 30), hi: 2 ** 30, poolWidth: 0, shift: 0, dequant: 1, decide() {} },
      next: { layerName: 'next', dims: expected.dims, decide() {} },
      fuse: true,
    });
    const x = crossing.next!.x.data;
    const values = x.slice();
    release(regionOf(x)!);
    return values;
  } finally {
    release(bias);
  }
}
