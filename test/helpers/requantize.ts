/**
 * quant/'s contributions to a boundary pass (src/quant/fixed-point.ts) run through the one gate
 * (boundary/accept.ts), as plain functions of arrays: a layer's input rounded onto its grid, and
 * its outputs requantized (with the fused clamp, unblinding and the next layer's grid). What the
 * executor does per layer, without an executor: for tests of the arithmetic.
 */
import { acceptComputed, prepareRequest } from '../../src/boundary/accept.js';
import type { BoundaryPlan } from '../../src/boundary/pass-plan.js';
import { biasResidues, nextRequest, requantTerm, type Clamp } from '../../src/quant/fixed-point.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { alloc, i32, regionOf, release, u8, type Region } from '../../src/simd/arena.js';
import { rowLayout } from '../../src/verify/freivalds.js';

export interface Quantized {
  /** Canonical residues of x̃ (a copy of the request). */
  readonly residues: Uint32Array;
  readonly maxAbs: number;
}

function resident<T>(bytes: Uint8Array | Int32Array, run: (r: Region) => T): T {
  const r = alloc(bytes.byteLength + 16);
  try {
    u8(r, bytes.byteLength).set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return run(r);
  } finally {
    release(r);
  }
}

function taken<T extends ArrayBufferView & { slice(): T }>(view: T): T {
  const copy = view.slice();
  release(regionOf(view)!);
  return copy;
}

/** x̃ = round(x·2^lx) for `layer`, as the pass that writes its request computes it (OverflowError beyond (−p/2, p/2)). */
export function quantizeInput(layer: QuantizedLayer, x: Float64Array): Quantized {
  const request = prepareRequest({ dims: [x.length], data: x }, { next: nextRequest(layer, { fromFloats: true }), fuse: true });
  return { residues: taken(request.x.data), maxAbs: request.maxAbs };
}

export interface Fused {
  readonly clamp?: Clamp;
  /** u, packed 3 bytes per residue: the outputs are fx − u. */
  readonly minus?: Uint8Array;
  readonly pool2x2?: boolean;
  readonly add?: { readonly other: Float64Array; readonly relu: boolean };
}

function plan(layer: QuantizedLayer, bias: Region, unblind: Region | undefined, inputMaxAbs: number, fused: Fused, next?: QuantizedLayer): BoundaryPlan {
  const { minus: _, ...passes } = fused;
  return {
    reply: { requestId: 'computed', layerId: layer.index, layerName: layer.name, dims: layer.outDims },
    layout: rowLayout(layer),
    ...(unblind !== undefined ? { unblind } : {}),
    requant: requantTerm(layer, { fused: passes, inputMaxAbs, bias, ...(next !== undefined ? { shiftInto: next } : {}), keepFloats: next === undefined }),
    ...(next !== undefined ? { next: nextRequest(next, { fromFloats: false }) } : {}),
    fuse: true,
  };
}

function withRegions<T>(layer: QuantizedLayer, fused: Fused, run: (bias: Region, unblind: Region | undefined) => T): T {
  return resident(biasResidues(layer), (bias) => (fused.minus === undefined ? run(bias, undefined) : resident(fused.minus, (u) => run(bias, u))));
}

/** f(x̃) (canonical residues fx, less `minus` when given) requantized and dequantized: the float outputs. */
export function finishLinear(layer: QuantizedLayer, fx: Float64Array | Uint32Array, inputMaxAbs: number, fused: Fused = {}): Float64Array {
  return withRegions(layer, fused, (bias, u) => taken(acceptComputed(Uint32Array.from(fx), plan(layer, bias, u, inputMaxAbs, fused)).floats!.data));
}

/** The same outputs rounded onto `next`'s grid by the fused shift: next's quantized input. */
export function finishLinearInto(layer: QuantizedLayer, fx: Float64Array | Uint32Array, inputMaxAbs: number, next: QuantizedLayer, fused: Fused = {}): Quantized {
  return withRegions(layer, fused, (bias, u) => {
    const request = acceptComputed(Uint32Array.from(fx), plan(layer, bias, u, inputMaxAbs, fused, next)).next!;
    return { residues: taken(request.x.data), maxAbs: request.maxAbs };
  });
}
