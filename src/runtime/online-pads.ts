/**
 * The online half of blinding (docs/design.md §4) for one model and one pad store: per inference, take the
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
 *
 * Each begin() hands out a lease of its own (runtime/pad-lease.ts), so inferences in flight at once
 * each hold their pad: the keystream of r_{i,l} goes straight into the trusted runtime's memory for
 * the boundary pass that blinds layer l's input, u_{i,l} is decrypted there for the pass that
 * unblinds its output, each once per layer.
 */
import { acceptPadFile, acceptPadRecord } from '../boundary/accept.js';
import { InvalidArgumentError, PadReuseError, PadsExhaustedError } from '../errors.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import { release, type Region } from '../simd/arena.js';
import { sizeOf } from '../tensor/tensor.js';
import { padKeystream } from '../blind/keystream.js';
import type { PadRecord } from '../blind/pad-format.js';
import type { PadStore } from '../blind/pad-store.js';
import type { TrustedState } from '../blind/trusted-state.js';
import type { PadLease, PadOrigin, PadSource } from './pad-lease.js';
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

export class OnlinePads implements PadSource {
  private opened: OpenedStore | undefined;
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
  begin(): PadLease {
    // Resolved per inference: the store may be filled, replaced or emptied between inferences.
    this.opened = undefined;
    const opened = this.open();
    const { ledger, secrets } = opened;
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
      const read = this.store.readPad(candidate);
      if (read === undefined) {
        if (ledger.consume(candidate)) skipped.push(candidate);
        continue;
      }
      let records: Map<number, PadRecord>;
      let first: { layer: number; u: Region } | undefined;
      try {
        records = acceptPadFile(read.bytes, { index: candidate, layers });
        if (firstLayer !== undefined) {
          const record = records.get(firstLayer.index)!;
          first = { layer: firstLayer.index, u: acceptPadRecord(record, secrets.sealKey, binding(opened, firstLayer, candidate), firstLayer.name) };
          records.delete(firstLayer.index);
        }
      } catch (e) {
        read.giveBack();
        // Present but unusable: consumed for good (a tampered pad must not block the next ones).
        if (!ledger.consume(candidate)) continue; // another process took it first
        this.store.deletePad(candidate);
        throw e;
      }
      if (!ledger.consume(candidate)) {
        if (first !== undefined) release(first.u);
        read.giveBack();
        continue;
      }
      this.store.deletePad(candidate);
      // The records are views of the read's buffer: the lease holds it until the inference ends.
      return new StoreLease(candidate, opened, records, first, read.giveBack);
    }
  }

  async acquire(): Promise<PadLease> {
    return this.begin();
  }

  private open(): OpenedStore {
    this.opened ??= openStore(this.state, this.store, { name: this.modelName, weightsHash: this.weightsHash });
    return this.opened;
  }
}

function binding(opened: OpenedStore, layer: QuantizedLayer, index: number) {
  const { weightsHash, storeId, epoch } = opened.secrets;
  return { weightsHash, storeId, layer: layer.index, index, epoch, count: sizeOf(layer.outDims) };
}

/** One inference's pad from the store: its records, each r and u handed out once per layer. */
class StoreLease implements PadLease {
  /** Layers whose r of this pad has been used. */
  private readonly blinded = new Set<number>();

  readonly origin: PadOrigin;

  constructor(
    readonly index: number,
    private readonly opened: OpenedStore,
    private readonly records: Map<number, PadRecord>,
    /** The first layer's factor, authenticated by begin(). */
    private first: { layer: number; u: Region } | undefined,
    /** Gives the buffer the records are read from back to the store. */
    private readonly giveBack: () => void,
  ) {
    this.origin = { source: 'store', id: opened.secrets.storeId, keyEpoch: opened.secrets.epoch };
  }

  keystream(layer: QuantizedLayer): Region {
    // r_{i,l} blinds one input only: two would hand the accelerator their difference.
    if (this.blinded.has(layer.index)) throw new PadReuseError(`pad ${this.index} already blinded an input of layer '${layer.name}'`, { layer: layer.name, padIndex: this.index });
    this.blinded.add(layer.index);
    return padKeystream(this.opened.secrets.padKey, this.index, layer.index, sizeOf(layer.inDims)).region;
  }

  unblind(layer: QuantizedLayer): Region {
    if (this.first !== undefined && this.first.layer === layer.index) {
      const { u } = this.first;
      this.first = undefined;
      return u;
    }
    const record = this.records.get(layer.index);
    if (record === undefined) throw new InvalidArgumentError(`no unblinding factor left for layer '${layer.name}' in pad ${this.index}`);
    this.records.delete(layer.index);
    return acceptPadRecord(record, this.opened.secrets.sealKey, binding(this.opened, layer, this.index), layer.name);
  }

  done(region: Region): void {
    release(region);
  }

  end(): void {
    if (this.first !== undefined) release(this.first.u);
    this.first = undefined;
    this.records.clear();
    this.giveBack();
  }
}
