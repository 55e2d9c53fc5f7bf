/**
 * The online half of blinding (DESIGN.md §4) for one model: per inference, take the next pad
 * (durably consumed first), then per linear layer send x + r mod p, and after the accelerator
 * answers z, authenticate u = f(r) from the store so the caller can take z − u = f(x) mod p.
 */
import { acceptPadFile, acceptPadRecord } from '../boundary/accept.js';
import { InvalidArgumentError, PadAuthError, PadReuseError } from '../errors.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import { sizeOf } from '../tensor/tensor.js';
import { blindWithPad } from '../blind/keystream.js';
import type { PadRecord } from '../blind/pad-format.js';
import type { PadStore } from '../blind/pad-store.js';
import type { PadLedger, TrustedState } from '../blind/trusted-state.js';

export interface PadInventory {
  readonly remaining: number;
  readonly consumed: number;
  readonly nextIndex: number;
  readonly generated: number;
  readonly keyEpoch: number;
}

export class OnlinePads {
  private readonly ledger: PadLedger;
  private index = -1;
  private records = new Map<number, PadRecord>();
  /** Layers whose r of the current pad has been used. */
  private readonly blinded = new Set<number>();

  constructor(
    private readonly q: QuantizedGraph,
    private readonly modelHash: string,
    private readonly state: TrustedState,
    private readonly store: PadStore,
  ) {
    this.ledger = state.ledger(modelHash);
  }

  inventory(): PadInventory {
    const { generated, consumed } = this.ledger.read();
    return { remaining: generated - consumed, consumed, nextIndex: consumed, generated, keyEpoch: this.state.keys.epoch };
  }

  /**
   * Consumes the next pad for one inference. Its consumption is durable before this returns, so
   * nothing blinded with it can exist before; the pad file is read and removed from the store.
   * Throws PadsExhaustedError when no pad is left, PadAuthError when the store's copy is unusable.
   */
  begin(): number {
    this.records.clear();
    this.blinded.clear();
    this.index = -1; // if no pad is left, nothing may be blinded with the previous one
    this.index = this.ledger.consumeNext();
    const bytes = this.store.readPad(this.index);
    if (bytes === undefined) {
      // Consumed all the same (the ledger never goes back): say what the store holds instead.
      const held = this.store.indices();
      const holds = held.length === 0 ? 'no pads' : `pads ${held[0]}…${held[held.length - 1]}`;
      throw new PadAuthError(
        `pad ${this.index} is missing from the pad store, which holds ${holds}: pads are used once each, in index order, so pads deleted from the store, ` +
          'or precomputed into a store that was since replaced while the trusted state was kept, are lost, and each inference consumes the next index',
      );
    }
    this.store.deletePad(this.index);
    const layers = this.q.layers.map((l) => ({ layer: l.index, count: sizeOf(l.outDims) }));
    this.records = acceptPadFile(bytes, { index: this.index, layers });
    return this.index;
  }

  /** x + r_{i,l} mod p; once per layer and pad (PadReuseError otherwise). */
  blind(layer: QuantizedLayer, x: Float64Array): Float64Array {
    if (this.index < 0) throw new InvalidArgumentError('blind() before begin()');
    // r_{i,l} blinds one input only: two would hand the accelerator their difference.
    if (this.blinded.has(layer.index)) throw new PadReuseError(`pad ${this.index} already blinded an input of layer '${layer.name}'`, { layer: layer.name });
    this.blinded.add(layer.index);
    return blindWithPad(this.state.keys.padKey, this.index, layer.index, x);
  }

  /** u_{i,l} = f(r_{i,l}), authenticated, packed 3 bytes per residue (pooled: give it back). Each layer's factor is handed out once. */
  unseal(layer: QuantizedLayer): Uint8Array {
    const record = this.records.get(layer.index);
    if (record === undefined) throw new InvalidArgumentError(`no unblinding factor left for layer '${layer.name}' in pad ${this.index}`);
    this.records.delete(layer.index);
    const { sealKey, epoch } = this.state.keys;
    const binding = { modelHash: this.modelHash, layer: layer.index, index: this.index, epoch, count: sizeOf(layer.outDims) };
    return acceptPadRecord(record, sealKey, binding, layer.name);
  }
}
