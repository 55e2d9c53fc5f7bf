/**
 * Opens the LinearProtocol a mode needs (DESIGN.md §5): `baseline` computes every layer in the
 * trusted runtime; `outsourced` and `verified` attach an accelerator (by default the embedded
 * worker) after registering the model's public weights with it.
 */
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';
import { WorkerBackend } from '../accel/worker/client.js';
import { InvalidArgumentError } from '../errors.js';
import type { QuantizedGraph } from '../quant/quantize-graph.js';
import { Verifier, type VerifyOptions } from '../verify/verifier.js';
import type { LinearProtocol } from './linear-protocol.js';
import type { SlalomModel } from './model.js';
import type { Mode } from './modes.js';
import { acceleratedProtocol, type FailurePolicy, type Incident } from './protocols/accelerated.js';
import { trustedProtocol } from './protocols/trusted.js';

export interface SessionOptions {
  /** The accelerator to use; default a new embedded worker-thread accelerator. */
  readonly accelerator?: AcceleratorBackend;
  readonly verify?: VerifyOptions;
  readonly onFailure?: FailurePolicy;
}

export interface OpenedProtocol extends LinearProtocol {
  readonly verifier?: Verifier;
  /** Failures recovered from under the 'recompute' policy. */
  readonly incidents?: readonly Incident[];
}

/** The public part of each linear layer: what an accelerator is given. */
export function publicLayers(q: QuantizedGraph): PublicLayer[] {
  return q.layers.map((l) => ({ id: l.index, name: l.name, op: l.op, ...(l.conv ? { conv: l.conv } : {}), w: l.w }));
}

export async function openProtocol(model: SlalomModel, mode: Mode, options: SessionOptions = {}): Promise<OpenedProtocol> {
  if (mode === 'baseline') return trustedProtocol();
  if (mode !== 'outsourced' && mode !== 'verified') throw new InvalidArgumentError(`mode '${mode}' is not available in this build`);
  const accelerator = options.accelerator ?? new WorkerBackend();
  try {
    await accelerator.loadWeights(publicLayers(model.quantized));
    const verifier = mode === 'verified' ? new Verifier(model.quantized.layers, options.verify) : undefined;
    verifier?.prepare();
    return acceleratedProtocol({ accelerator, verifier, onFailure: options.onFailure });
  } catch (e) {
    await accelerator.close();
    throw e;
  }
}
