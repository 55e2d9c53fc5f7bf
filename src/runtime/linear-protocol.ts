/**
 * How the trusted runtime obtains f(x̃) mod p for one quantized linear layer. The mode decides:
 * `baseline` computes it in the trusted runtime; outsourcing modes ask an accelerator and check,
 * blind and unblind (DESIGN.md §5). The executor around it is the same for every mode, which is
 * what makes the modes' logits bit-identical.
 */
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import type { PhaseTimer } from './timings.js';

/**
 * f(x̃) mod p as a protocol obtained it: `value`, or `value − minus` mod p when an unblinding factor
 * is left to subtract (residues packed 3 bytes each, as sealed). The executor unpacks and subtracts
 * it in its requantization pass (no pass of its own over the layer's output) and then returns
 * `minus` to the pool.
 */
export interface LinearOutput {
  readonly value: Float64Array;
  readonly minus?: Uint8Array;
}

export interface LinearProtocol {
  /** Called once before each inference (e.g. to consume a pad). */
  begin?(): Promise<void>;
  /**
   * @param x canonical residues of the quantized input x̃ (shape layer.inDims)
   * @returns canonical residues giving f(x̃) without bias (shape layer.outDims)
   */
  compute(layer: QuantizedLayer, x: Float64Array, timer: PhaseTimer): Promise<LinearOutput>;
  close?(): Promise<void>;
}
