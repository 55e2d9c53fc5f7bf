/**
 * One inference's pad, as the boundary passes use it (docs/design.md §4, §7): per linear layer, the
 * keystream of r_{i,l} (24-bit words, those ≥ p skipped by the pass that writes the layer's
 * request) and the packed u_{i,l} = f(r_{i,l}) (for the pass that reads its reply), in the trusted
 * runtime's memory, each handed out once per layer (PadReuseError otherwise). Where the pads come
 * from is the source's business: the sealed store (online-pads.ts) or the in-memory pool of a
 * confidential VM (pad-pool.ts).
 */
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import type { Region } from '../simd/arena.js';

/** Which pads a lease's pad is one of (receipts name it): a sealed store's ledger, or an in-memory pool. */
export interface PadOrigin {
  readonly source: 'store' | 'memory';
  /** The store's identity, or the pool's (random, drawn when it opens; the pool's key is never written anywhere). */
  readonly id: string;
  /** The store's key epoch; 0 for a pool (its key lives and dies with it). */
  readonly keyEpoch: number;
}

export interface PadLease {
  readonly index: number;
  readonly origin: PadOrigin;
  /** r for `layer`'s input: keystream words (rejected ones skipped by the reader), readable 16 bytes past the end. */
  keystream(layer: QuantizedLayer): Region;
  /** u for `layer`'s output, authenticated, 3 bytes per value, readable 16 bytes past the end. */
  unblind(layer: QuantizedLayer): Region;
  /** The pass that read `region` was accepted: it is not needed again. */
  done(region: Region): void;
  /** The inference is over: whatever it did not use goes. */
  end(): void;
}

export interface PadSource {
  /** Takes the next pad for one inference (durably consumed first, for a store). PadsExhaustedError when none is left. */
  begin(): PadLease;
  /** begin(), waiting for a pad being precomputed where the source makes them (the memory pool). */
  acquire(): Promise<PadLease>;
  /**
   * How many pads are left; a source with a fixed number of slots (the memory pool) also says how
   * many it has: a decoding step takes one pad per token at once, so a step of more tokens than that
   * would wait for itself (generation splits such a step).
   */
  inventory(): { readonly remaining: number; readonly capacity?: number };
  /** Pads the last begin() skipped (recorded but lost); none for a pool. */
  readonly skipped: readonly number[];
  /** Stops what the source runs (the pool's thread) and gives back its memory. */
  close?(): Promise<void>;
}
