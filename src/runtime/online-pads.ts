/**
 * The online half of blinding (DESIGN.md §4) for one model and one pad store: per inference, take the
 * next pad the store holds (durably consumed first), then per linear layer send x + r mod p, and
 * after the accelerator answers z, authenticate u = f(r) from the store so the caller can take
 * z − u = f(x) mod p.
 *
 * Nothing is consumed before the store is known to hold the pad: `begin` reads the candidate's file,
 * checks its structure and authenticates its first layer's record, and only then consumes it (if
 * another process took it meanwhile, it moves on). A pad the ledger recorded but the store lost is
 * skipped (consumed as lost: skipping only moves forward, so it never reuses); a pad that is present
 * but malformed or fails authentication is consumed and refused (PadAuthError), so a tampered store
 * cannot stall every later inference on one pad.
 */
import { acceptPadFile, acceptPadRecord } from '../boundary/accept.js';
import { InvalidArgumentError, PadReuseError, PadsExhaustedError } from '../errors.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import { giveBytes } from '../tensor/pool.js';
import { sizeOf } from '../tensor/tensor.js';
import { blindWithPad } from '../blind/keystream.js';
import type { PadRecord } from '../blind/pad-format.js';
import type { PadStore } from '../blind/pad-store.js';
import type { TrustedState } from '../blind/trusted-state.js';
import { openStore, type OpenedStore } from './precompute.js';

export interface PadInventory {
  /** Pads recorded as written and not yet used. */
  readonly remaining: number;
  readonly consumed: number;
  readonly nextIndex?: number;
  readonly generated: number;
  readonly keyEpoch: number;
  readonly storeId: string;
}

export class OnlinePads {
  private opened: OpenedStore | undefined;
  private index = -1;
  private records = new Map<number, PadRecord>();
  /** The first layer's factor, authenticated by begin(). */
  private first: { layer: number; u: Uint8Array } | undefined;
  /** Layers whose r of the current pad has been used. */
  private readonly blinded = new Set<number>();
  /** Pads the last begin() skipped because the store no longer held them. */
  skipped: readonly number[] = [];

  constructor(
    private readonly q: QuantizedGraph,
    private readonly weightsHash: string,
    private readonly state: TrustedState,
    private readonly store: PadStore,
    /** The model's name, for messages. */
    private readonly modelName = 'the model',
  ) {}

  inventory(): PadInventory {
    const { ledger, secrets } = this.open();
    const inv = ledger.inventory();
    return { remaining: inv.ready, consumed: inv.consumed, ...(inv.nextIndex !== undefined ? { nextIndex: inv.nextIndex } : {}), generated: inv.generated, keyEpoch: secrets.epoch, storeId: secrets.storeId };
  }

  /**
   * Takes the next pad the store holds for one inference (see the module comment). Its consumption
   * is durable before this returns, so nothing blinded with it can exist before; its file is removed
   * from the store. PadsExhaustedError when none is left (nothing consumed), PadAuthError when the
   * store is not this model's and state's, or its copy of the pad is unusable.
   */
  begin(): number {
    this.records.clear();
    this.blinded.clear();
    this.releaseFirst();
    this.index = -1; // if no pad is left, nothing may be blinded with the previous one
    // Resolved per inference: the store may be filled, replaced or emptied between inferences.
    this.opened = undefined;
    const { ledger, secrets } = this.open();
    const layers = this.q.layers.map((l) => ({ layer: l.index, count: sizeOf(l.outDims) }));
    const firstLayer = this.q.layers[0];
    const skipped: number[] = [];
    this.skipped = skipped;
    for (;;) {
      const candidate = ledger.nextReady();
      if (candidate === undefined) {
        const lost = skipped.length > 0 ? `; pads ${skipped[0]}…${skipped[skipped.length - 1]} were recorded but missing from the store (deleted?)` : '';
        throw new PadsExhaustedError(`no precomputed pads left in ${this.store.dir} for ${this.modelName}${lost}; run \`slalom precompute\``);
      }
      const bytes = this.store.readPad(candidate);
      if (bytes === undefined) {
        if (ledger.consume(candidate)) skipped.push(candidate);
        continue;
      }
      let records: Map<number, PadRecord>;
      let first: { layer: number; u: Uint8Array } | undefined;
      try {
        records = acceptPadFile(bytes, { index: candidate, layers });
        if (firstLayer !== undefined) {
          const record = records.get(firstLayer.index)!;
          first = { layer: firstLayer.index, u: acceptPadRecord(record, secrets.sealKey, this.binding(firstLayer, candidate), firstLayer.name) };
          records.delete(firstLayer.index);
        }
      } catch (e) {
        // Present but unusable: consumed for good (a tampered pad must not block the next ones).
        if (!ledger.consume(candidate)) continue; // another process took it first
        this.store.deletePad(candidate);
        throw e;
      }
      if (!ledger.consume(candidate)) {
        if (first !== undefined) giveBytes(first.u);
        continue;
      }
      this.store.deletePad(candidate);
      this.index = candidate;
      this.records = records;
      this.first = first;
      return candidate;
    }
  }

  /** The pad the last begin() took, with its ledger's identity (for receipts); undefined before, or after a begin() that found none. */
  get current(): { readonly index: number; readonly storeId: string; readonly keyEpoch: number } | undefined {
    if (this.index < 0) return undefined;
    const { storeId, epoch } = this.open().secrets;
    return { index: this.index, storeId, keyEpoch: epoch };
  }

  /** x + r_{i,l} mod p; once per layer and pad (PadReuseError otherwise). */
  blind(layer: QuantizedLayer, x: Float64Array): Float64Array {
    if (this.index < 0) throw new InvalidArgumentError('blind() before begin()');
    // r_{i,l} blinds one input only: two would hand the accelerator their difference.
    if (this.blinded.has(layer.index)) throw new PadReuseError(`pad ${this.index} already blinded an input of layer '${layer.name}'`, { layer: layer.name, padIndex: this.index });
    this.blinded.add(layer.index);
    return blindWithPad(this.open().secrets.padKey, this.index, layer.index, x);
  }

  /** u_{i,l} = f(r_{i,l}), authenticated, packed 3 bytes per residue (pooled: give it back). Each layer's factor is handed out once. */
  unseal(layer: QuantizedLayer): Uint8Array {
    if (this.first !== undefined && this.first.layer === layer.index) {
      const { u } = this.first;
      this.first = undefined;
      return u;
    }
    const record = this.records.get(layer.index);
    if (record === undefined) throw new InvalidArgumentError(`no unblinding factor left for layer '${layer.name}' in pad ${this.index}`);
    this.records.delete(layer.index);
    return acceptPadRecord(record, this.open().secrets.sealKey, this.binding(layer, this.index), layer.name);
  }

  private open(): OpenedStore {
    this.opened ??= openStore(this.state, this.store, { name: this.modelName, weightsHash: this.weightsHash });
    return this.opened;
  }

  private binding(layer: QuantizedLayer, index: number) {
    const { weightsHash, storeId, epoch } = this.open().secrets;
    return { weightsHash, storeId, layer: layer.index, index, epoch, count: sizeOf(layer.outDims) };
  }

  private releaseFirst(): void {
    if (this.first !== undefined) giveBytes(this.first.u);
    this.first = undefined;
  }
}
