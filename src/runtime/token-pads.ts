/**
 * Pads per token (docs/design.md §9, "Generation"). A decoder is quantized at one token, so each of
 * its pads covers one token's linear layers: r_{i,l} of one row, u_{i,l} = f(r_{i,l}) of one row. A
 * decoding step that carries n tokens (a prompt's prefill, or the next token of n sequences) takes n
 * pads and stacks them: row k of layer l's request is blinded by pad k's r, and row k of its reply
 * unblinded by pad k's u. Each pad still blinds exactly one row of each layer once, so nothing is
 * reused; the stack is one lease to the protocol, which never knows how many pads it holds.
 *
 * The keystream of r is re-packed: each pad's words below p (the rejected ones skipped, as the
 * boundary pass would) are copied contiguously, so the pass reads exactly r_k for row k.
 */
import { P } from '../field/prime.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import { alloc, release, u8, type Region } from '../simd/arena.js';
import { sizeOf } from '../tensor/tensor.js';
import type { PadLease } from './pad-lease.js';

/** Bytes a boundary pass may read past the end of a keystream or an unblinding factor. */
const SLACK = 16;

export interface TokenLease extends PadLease {
  /** Every pad this lease holds, one per row, in row order. */
  readonly indices: readonly number[];
}

/**
 * One lease over `leases` (one per row): `tokenLayers` are the model's one-row layers by index, and
 * the protocol asks with the step's n-row layers.
 */
export function stackLeases(leases: readonly PadLease[], tokenLayers: readonly QuantizedLayer[]): TokenLease {
  const first = leases[0]!;
  const token = (layer: QuantizedLayer): QuantizedLayer => tokenLayers[layer.index]!;
  const gather = (bytesPerRow: number, piece: (lease: PadLease, out: Uint8Array) => void): Region => {
    const region = alloc(leases.length * bytesPerRow + SLACK);
    const out = u8(region);
    leases.forEach((lease, k) => piece(lease, out.subarray(k * bytesPerRow, (k + 1) * bytesPerRow)));
    return region;
  };
  return {
    index: first.index,
    origin: first.origin,
    indices: leases.map((l) => l.index),
    keystream(layer) {
      const count = sizeOf(token(layer).inDims);
      return gather(3 * count, (lease, out) => {
        const words = lease.keystream(token(layer));
        try {
          acceptedWords(u8(words), count, out);
        } finally {
          lease.done(words);
        }
      });
    },
    unblind(layer) {
      const bytes = 3 * sizeOf(token(layer).outDims);
      return gather(bytes, (lease, out) => {
        const u = lease.unblind(token(layer));
        try {
          out.set(u8(u, bytes));
        } finally {
          lease.done(u);
        }
      });
    },
    done: (region) => release(region),
    end: () => leases.forEach((l) => l.end()),
  };
}

/** Copies the first `count` 24-bit little-endian words below p of `stream` into `out`, contiguously. */
function acceptedWords(stream: Uint8Array, count: number, out: Uint8Array): void {
  let taken = 0;
  for (let at = 0; taken < count; at += 3) {
    if (at + 3 > stream.length) throw new Error(`internal: a keystream ran out after ${taken} of ${count} words`);
    const word = stream[at]! | (stream[at + 1]! << 8) | (stream[at + 2]! << 16);
    if (word >= P) continue;
    out.set(stream.subarray(at, at + 3), 3 * taken++);
  }
}
