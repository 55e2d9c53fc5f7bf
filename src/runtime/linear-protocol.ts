/**
 * How the trusted runtime obtains f(x̃) mod p for the quantized linear layers of one inference. The
 * mode decides: `baseline` computes it in the trusted runtime; outsourcing modes ask an accelerator,
 * check, blind and unblind (docs/design.md §5). Either way the result crosses the layer's boundary pass
 * (boundary/accept.ts) with the plan runtime/boundary-plan.ts assembles, so the executor around it
 * is the same for every mode — which is what makes the modes' logits bit-identical.
 */
import type { Crossing, Sendable } from '../boundary/pass-plan.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Verifier } from '../verify/verifier.js';
import type { LayerStep } from './boundary-plan.js';
import type { ExecutionLog } from './execution.js';
import type { RunObserver } from './observer.js';
import type { PadLease } from './pad-lease.js';

/** A decoding step's rows, each blinded by a pad of its own: the model's one-row layers by index. */
export interface TokenPads {
  readonly count: number;
  readonly layers: readonly QuantizedLayer[];
}

export interface LinearProtocol {
  /**
   * Starts one inference (in the private modes, its pad is taken: consumed durably first). A
   * decoder's step of `tokens` rows takes one pad per token, stacked (runtime/token-pads.ts).
   */
  start(observer: RunObserver, tokens?: TokenPads): Promise<ProtocolRun>;
  /** The most tokens one step may carry (the pads it takes at once); absent: any number. */
  maxTokensPerStep?(): number | undefined;
  close?(): Promise<void>;
}

/** One inference's use of a protocol. */
export interface ProtocolRun {
  /** The checks' owner (verified modes): the executor asks it for the input side of a request it quantizes. */
  readonly verifier?: Verifier;
  /** This inference's pad (private modes). */
  readonly pads?: PadLease;
  /** Where each layer was computed and under which check, and the failures recovered from: written as it decides. */
  readonly execution: ExecutionLog;
  /**
   * f(x) for `request` (x, or x + r: resident residues of `step.layer`'s input), accepted through
   * the layer's boundary pass: its float outputs and/or the next layer's request. The mode's
   * policies (a retry on another accelerator, a recomputation in the trusted runtime) live here.
   */
  cross(step: LayerStep, request: Sendable): Promise<Crossing>;
  /** A buffer of the accelerator's for a request of `values` values (AcceleratorBackend.requestBuffer), when it sends one as it is. */
  requestBuffer?(values: number): Uint32Array | undefined;
  /** A·B of two activations on the accelerator (`attention: 'accelerator'`), recorded in `execution`; absent: in float64 here. */
  activationProduct?(name: string, a: Tensor, b: Tensor): Promise<Tensor>;
  /** Ends the inference: what it still holds of its pad is released. */
  end(): void;
}
