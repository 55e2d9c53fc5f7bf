/**
 * What one inference request costs the accelerator service in memory (issue 11: a 5 MB request made
 * the server allocate over 1 GB), so that server.ts can count it against its in-flight budget before
 * running it and run big batches in pieces.
 *
 * The exact ONNX graph of a convolution (export.ts) holds, per item, the padded input, one strided
 * slice of it and one [M, OH·OW] partial product per kernel tap (all taps are alive at the Sum), then
 * the sum and the two Mod steps; a Gemm holds its product and the Mod steps. The estimate below
 * counts all of those in float64 as if alive at once — an upper bound for that graph, and for the
 * reference kernels too (their im2col holds at most the taps' slices, in chunks).
 */
import { busy } from '../../http/http-error.js';
import { sizeOf } from '../../tensor/tensor.js';
import type { LayerDescription } from './export.js';

const F64 = 8;
/** A JSON reply spends up to ~16 bytes of text per value besides the doubles. */
const JSON_BYTES_PER_VALUE = 16;

/** Working bytes of running the layer on one item with input dims `item` (no batch axis). */
export function workBytesPerItem(d: LayerDescription, item: readonly number[], outItem: readonly number[]): number {
  const out = sizeOf(outItem);
  if (d.op === 'Gemm') return F64 * 3 * out;
  const [, , kH, kW] = d.wDims as [number, number, number, number];
  const [c, h, w] = item as [number, number, number];
  const [pT, pL, pB, pR] = d.conv!.pads;
  const taps = kH * kW;
  const padded = c * (h + pT + pB) * (w + pL + pR);
  const slice = c * outItem[1]! * outItem[2]!;
  return F64 * (padded + taps * (slice + out) + 3 * out);
}

export interface RequestCost {
  /** Bytes to hold for the request from admission to its answer: input, output, batch copy, work, reply text. */
  readonly bytes: number;
  /** Items per run of the backend (for any batch of this per-item shape), so that one run's working memory stays within the work budget. */
  readonly itemsPerRun: number;
}

/**
 * The cost of a request of `items` items: its input and output doubles, a copy of its input when it
 * is batched with others, the working memory of one run of at most `itemsPerRun` items (so at most
 * `maxWorkBytes`, unless one item alone needs more), and the text of a JSON reply.
 */
export function requestCost(d: LayerDescription, dims: readonly number[], outDims: readonly number[], binaryOutput: boolean, maxWorkBytes: number): RequestCost {
  const items = dims[0]!;
  const perItem = workBytesPerItem(d, dims.slice(1), outDims.slice(1));
  const itemsPerRun = Math.max(1, Math.floor(maxWorkBytes / perItem));
  const bytes = F64 * (2 * sizeOf(dims) + sizeOf(outDims)) + perItem * Math.min(items, itemsPerRun) + (binaryOutput ? 0 : JSON_BYTES_PER_VALUE * sizeOf(outDims));
  return { bytes, itemsPerRun };
}

/** The bytes all requests together may hold (server.ts): a reservation past the budget is 503 + Retry-After. */
export class MemoryBudget {
  private held = 0;

  constructor(readonly maxBytes: number) {}

  get heldBytes(): number {
    return this.held;
  }

  /** Reserves `n` bytes, or throws 503. */
  reserve(n: number): void {
    if (this.held + n > this.maxBytes) throw busy('the accelerator holds too much request data; retry later');
    this.held += n;
  }

  release(n: number): void {
    this.held = Math.max(0, this.held - n);
  }
}
