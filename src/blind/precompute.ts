/**
 * The offline phase (DESIGN.md §4): for each future inference i and linear layer l, regenerate
 * r_{i,l} from the trusted key, compute u_{i,l} = f_l(r_{i,l}) (no bias) with the trusted runtime's
 * own exact kernels — the accelerator never sees r — seal u and store it. Resumable: it continues
 * from the ledger's `generated` counter; a pad half-written when a crash hit is simply written again
 * (r is regenerated, so the content is the same factors). The ledger advances only after the pad is
 * durably stored.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ExactKernels } from '../kernels/exact-linear.js';
import type { QuantizedGraph } from '../quant/quantize-graph.js';
import { sizeOf } from '../tensor/tensor.js';
import { padVector } from './keystream.js';
import { encodePad } from './pad-format.js';
import type { PadStore } from './pad-store.js';
import { sealResidues } from './seal.js';
import type { TrustedState } from './trusted-state.js';

export interface PrecomputeProgress {
  readonly done: number;
  readonly total: number;
  readonly index: number;
}

export interface PrecomputeResult {
  readonly from: number;
  readonly to: number;
  readonly ms: number;
  readonly bytesPerInference: number;
}

/** Bytes one pad occupies in the store: 3 per output element, plus framing and GCM overhead. */
export function padBytes(q: QuantizedGraph): number {
  return 12 + q.layers.reduce((s, l) => s + 40 + 3 * sizeOf(l.outDims), 0);
}

/** Seals the unblinding factors of pad `index` for every linear layer. */
export async function buildPad(q: QuantizedGraph, modelHash: string, state: TrustedState, index: number, kernels: ExactKernels): Promise<Uint8Array> {
  const { padKey, sealKey, epoch } = state.keys;
  const records = [];
  for (const layer of q.layers) {
    const r = padVector(padKey, index, layer.index, sizeOf(layer.inDims));
    const u = Float64Array.from(await kernels.apply(layer, layer.inDims, Uint32Array.from(r)));
    records.push({ layer: layer.index, count: u.length, ...sealResidues(sealKey, { modelHash, layer: layer.index, index, epoch, count: u.length }, u) });
  }
  return encodePad(records);
}

export async function precomputePads(
  q: QuantizedGraph,
  /** weightsHash: the hash pads bind to (the model and its quantization). */
  model: { readonly name: string; readonly weightsHash: string },
  state: TrustedState,
  store: PadStore,
  count: number,
  kernels: ExactKernels,
  onProgress?: (p: PrecomputeProgress) => void,
): Promise<PrecomputeResult> {
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError(`--count must be a positive integer, got ${count}`);
  const ledger = state.ledger(model.weightsHash);
  store.writeManifest({ model: model.name, modelHash: model.weightsHash, bytesPerInference: padBytes(q) });
  const from = ledger.read().generated;
  const start = performance.now();
  for (let k = 0; k < count; k++) {
    const index = from + k;
    store.writePad(index, await buildPad(q, model.weightsHash, state, index, kernels));
    ledger.markGenerated(index + 1);
    onProgress?.({ done: k + 1, total: count, index });
  }
  return { from, to: from + count, ms: performance.now() - start, bytesPerInference: padBytes(q) };
}
