/**
 * Pad stores as the trusted runtime sees them (docs/design.md §4): which ledger of the trusted state a
 * store's pads belong to, and the offline phase that fills a store (blind/precompute.ts does the
 * work). A store's identity comes from its untrusted manifest, validated by the gate
 * (boundary/accept.ts), and must be one the trusted state created for this very model:
 *
 * What an attacker who controls the store can do with the manifest, and why none of it reuses a pad:
 * - name another identity the state created (another store of this model): the runtime uses that
 *   store's ledger and keys; this store's pads were sealed for their own identity and fail
 *   authentication — pads are lost, none is reused (that ledger only moves forward);
 * - name an identity the state never created: refused. Starting a fresh ledger for it would restart
 *   at pad 0, and if the state ever held that identity (a ledger deleted by hand) its keys would give
 *   the same r as pads already used; so only `registerStore` makes ledgers;
 * - remove the manifest: the store looks new; `precompute` gives it a new identity (fresh keys, so
 *   the old pad files are useless), an inference finds no pads;
 * - restore an old copy of the store: the ledger is in the trusted state, so used pads stay used.
 */
import { acceptStoreManifest } from '../boundary/accept.js';
import type { StoreLedger } from '../blind/ledger.js';
import { MANIFEST_FORMAT, type PadStore } from '../blind/pad-store.js';
import { padBytes, precomputeInto, type LedgerSecrets, type PrecomputeProgress, type PrecomputeResult } from '../blind/precompute.js';
import type { TrustedState } from '../blind/trusted-state.js';
import { PadAuthError, PadsExhaustedError } from '../errors.js';
import type { ExactKernels } from '../kernels/exact-linear.js';
import type { QuantizedGraph } from '../quant/quantize-graph.js';
import { aInt } from '../util/assert.js';

/** What a pad store is checked against: the model its pads must be for. */
export interface PadModel {
  readonly name: string;
  /** weightsHash: the model identity pads bind to (a digest of its quantized weights and graph). */
  readonly weightsHash: string;
}

export interface OpenedStore {
  readonly ledger: StoreLedger;
  readonly secrets: LedgerSecrets;
}

const short = (hash: string): string => `${hash.slice(0, 12)}…`;

/**
 * The ledger and keys of the pads in `store` for `model`. A store without a manifest is
 * PadsExhaustedError (it holds no pads); one made under another trusted state, for another model,
 * or by an older slalom is PadAuthError saying so.
 */
export function openStore(state: TrustedState, store: PadStore, model: PadModel): OpenedStore {
  const claim = acceptStoreManifest(store.readManifest());
  if (claim.kind === 'none') {
    throw new PadsExhaustedError(`the pad store ${store.dir} holds no pads (it has no manifest); fill it with \`slalom precompute --model <${model.name} model file> --count <n> --store ${store.dir}\``);
  }
  if (claim.kind === 'invalid') throw new PadAuthError(`the pad store ${store.dir} cannot be used: ${claim.why}; precompute into a new store directory`);
  if (claim.weightsHash !== model.weightsHash) {
    const other = claim.model === model.name ? `of '${claim.model}' with other weights (another calibration, --margin or --input-shape, or edited weights)` : `of model '${claim.model ?? '?'}'`;
    throw new PadAuthError(`the pad store ${store.dir} holds pads ${other} (weights ${short(claim.weightsHash)}), not of '${model.name}' (weights ${short(model.weightsHash)}); use its model, or another --store`);
  }
  const ledger = state.storeLedger(claim.storeId);
  if (ledger === undefined) {
    throw new PadAuthError(
      `the pad store ${store.dir} (identity ${claim.storeId}) was not made with the trusted state ${state.dir}: it was sealed under another trusted state ` +
        '(or this state lost its ledger), so its pads cannot be used here; use the trusted state it was made with (--state), or precompute into a new store directory',
    );
  }
  const recorded = ledger.read();
  if (recorded.weightsHash !== model.weightsHash) {
    throw new PadAuthError(`the pad store ${store.dir} (identity ${claim.storeId}) was made for model '${recorded.model}' (weights ${short(recorded.weightsHash)}), not '${model.name}'; its manifest says otherwise`);
  }
  return { ledger, secrets: { weightsHash: model.weightsHash, storeId: claim.storeId, epoch: state.epoch, ...state.keysFor(model.weightsHash, claim.storeId) } };
}

/** openStore, giving a store without a manifest a new identity first (the offline phase's way in). */
export function openOrCreateStore(state: TrustedState, store: PadStore, model: PadModel, q: QuantizedGraph): OpenedStore {
  if (acceptStoreManifest(store.readManifest()).kind === 'none') {
    // Registered in the trusted state before the store names it; a second run creating the same
    // store at once loses the race to write the manifest and uses the winner's identity.
    const created = state.registerStore(model).read();
    store.createManifest({ format: MANIFEST_FORMAT, storeId: created.storeId, model: model.name, weightsHash: model.weightsHash, bytesPerInference: padBytes(q) });
  }
  return openStore(state, store, model);
}

/**
 * Precomputes `count` new pads for `model` into `store` (creating its identity if it has none); an
 * aborted `signal` stops it after the pad being written, with `interrupted` set.
 */
export async function precomputePads(
  q: QuantizedGraph,
  model: PadModel,
  state: TrustedState,
  store: PadStore,
  count: number,
  kernels: ExactKernels,
  onProgress?: (p: PrecomputeProgress) => void,
  signal?: AbortSignal,
): Promise<PrecomputeResult> {
  aInt(count, 'count', { min: 1 });
  const { ledger, secrets } = openOrCreateStore(state, store, model, q);
  return precomputeInto(q, ledger, secrets, store, count, kernels, onProgress, signal);
}
