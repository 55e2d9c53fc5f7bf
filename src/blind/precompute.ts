/**
 * The offline phase (docs/design.md §4): for each future inference i and linear layer l, regenerate
 * r_{i,l} from the ledger's keystream key, compute u_{i,l} = f_l(r_{i,l}) (no bias) with the trusted
 * runtime's own exact kernels — the accelerator never sees r — seal u and store it. The indices are
 * reserved in the store's ledger first (ledger.ts: concurrent runs get disjoint ranges), and each pad
 * is recorded as written only after it is durably stored. A run that dies leaves a gap: its unwritten
 * indices are never written again (no index is sealed twice) nor used; run it again for more pads.
 * (runtime/precompute.ts finds or creates the store's ledger; this file only fills a reservation.)
 */
import type { ExactKernels } from '../kernels/exact-linear.js';
import type { QuantizedGraph } from '../quant/quantize-graph.js';
import { sizeOf } from '../tensor/tensor.js';
import { padVector } from './keystream.js';
import type { StoreLedger } from './ledger.js';
import type { LedgerKeys, LedgerName } from './ledger-keys.js';
import { encodePad } from './pad-format.js';
import type { PadStore } from './pad-store.js';
import { sealResidues } from './seal.js';

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
  /** True when the run was stopped (its signal aborted) before `count` pads: [from, to) are the ones written. */
  readonly interrupted?: boolean;
  /** The store's identity. */
  readonly storeId: string;
}

/** One ledger's name and keys: what building its pads needs. */
export type LedgerSecrets = LedgerName & LedgerKeys;

/** Bytes one pad occupies in the store: 3 per output element, plus framing and GCM overhead. */
export function padBytes(q: QuantizedGraph): number {
  return 12 + q.layers.reduce((s, l) => s + 40 + 3 * sizeOf(l.outDims), 0);
}

/** Seals the unblinding factors of pad `index` of one ledger for every linear layer. */
export async function buildPad(q: QuantizedGraph, ledger: LedgerSecrets, index: number, kernels: ExactKernels): Promise<Uint8Array> {
  const { padKey, sealKey, weightsHash, storeId, epoch } = ledger;
  const records = [];
  for (const layer of q.layers) {
    const r = padVector(padKey, index, layer.index, sizeOf(layer.inDims));
    const u = await kernels.apply(layer, layer.inDims, r);
    records.push({ layer: layer.index, count: u.length, ...sealResidues(sealKey, { weightsHash, storeId, layer: layer.index, index, epoch, count: u.length }, u) });
  }
  return encodePad(records);
}

/** Reserves `count` indices in `ledger` and writes their pads into `store`, recording each once stored. */
export async function precomputeInto(
  q: QuantizedGraph,
  ledger: StoreLedger,
  secrets: LedgerSecrets,
  store: PadStore,
  count: number,
  kernels: ExactKernels,
  onProgress?: (p: PrecomputeProgress) => void,
  signal?: AbortSignal,
): Promise<PrecomputeResult> {
  const from = ledger.reserve(count);
  const start = performance.now();
  let written = 0;
  try {
    for (; written < count && signal?.aborted !== true; written++) {
      const index = from + written;
      store.writePad(index, await buildPad(q, secrets, index, kernels));
      ledger.markWritten(from);
      onProgress?.({ done: written + 1, total: count, index });
    }
  } catch (e) {
    ledger.close(from); // what is written stays usable; the rest is a gap, never handed out again
    throw e;
  }
  const result = { from, to: from + written, ms: performance.now() - start, bytesPerInference: padBytes(q), storeId: secrets.storeId };
  if (written === count) return result;
  ledger.close(from); // stopped: the written pads stay usable, the rest of the reservation is a gap
  return { ...result, interrupted: true };
}
