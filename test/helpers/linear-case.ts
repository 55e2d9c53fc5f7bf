/**
 * One public linear layer with the shapes of one request, and its exact result by the BigInt
 * reference: what the accelerator tests (conformance.ts, worker.test.ts) compare every backend with.
 */
import type { PublicLayer } from '../../src/accel/backend.js';
import { convRef, gemmRef } from '../reference/bigint.js';

export interface LinearCase {
  readonly layer: PublicLayer;
  readonly inDims: number[];
  readonly outDims: number[];
}

/** f(x) mod p for the case's layer, by BigInt. */
export function reference(c: LinearCase, x: Uint32Array): Uint32Array {
  const xs = Float64Array.from(x);
  return Uint32Array.from(c.layer.op === 'Conv' ? convRef(c.inDims, xs, c.layer.w.dims, c.layer.w.data, c.layer.conv!).data : gemmRef(c.inDims[0]!, c.inDims[1]!, c.outDims[1]!, xs, c.layer.w.data));
}
