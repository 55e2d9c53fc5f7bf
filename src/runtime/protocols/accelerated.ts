/**
 * Modes `outsourced` and `verified` (DESIGN.md §5): every linear layer goes to the accelerator; its
 * reply passes the boundary (accept.ts), then — when a verifier is given — Freivalds' check. A
 * failed check or an invalid reply ends the inference with a typed error (policy 'abort'), or is
 * recorded and the layer recomputed in the trusted runtime, which then distrusts the accelerator for
 * the rest of the run (policy 'recompute'). Either way no unverified value is ever used.
 */
import type { AcceleratorBackend } from '../../accel/backend.js';
import { acceptLinearOutput } from '../../boundary/accept.js';
import { IntegrityError, MalformedResponseError, type SlalomError } from '../../errors.js';
import type { QuantizedLayer } from '../../quant/quantize-graph.js';
import type { Verifier } from '../../verify/verifier.js';
import type { LinearProtocol } from '../linear-protocol.js';
import type { PhaseTimer } from '../timings.js';
import { computeLayerExactly } from './trusted.js';

export type FailurePolicy = 'abort' | 'recompute';

export interface Incident {
  readonly layer: string;
  readonly code: string;
  readonly message: string;
}

export interface AcceleratedProtocol extends LinearProtocol {
  /** Failures met under the 'recompute' policy, in order. */
  readonly incidents: readonly Incident[];
  /** True once the accelerator failed a check or sent an invalid reply (policy 'recompute'). */
  readonly distrusted: boolean;
  readonly verifier?: Verifier;
}

export interface AcceleratedOptions {
  readonly accelerator: AcceleratorBackend;
  /** Without one, results are used unchecked: mode `outsourced`, for measurement only. */
  readonly verifier?: Verifier;
  readonly onFailure?: FailurePolicy;
}

let requestCounter = 0;

export function acceleratedProtocol(options: AcceleratedOptions): AcceleratedProtocol {
  const { accelerator, verifier } = options;
  const policy = options.onFailure ?? 'abort';
  const incidents: Incident[] = [];
  let distrusted = false;

  async function fromAccelerator(layer: QuantizedLayer, x: Float64Array, timer: PhaseTimer): Promise<Float64Array> {
    const requestId = ++requestCounter;
    const reply = await timer.timeAsync('accelerator', () => accelerator.linear({ requestId, layerId: layer.index, dims: layer.inDims, x }));
    const y = timer.time('validate', () => acceptLinearOutput(reply, { requestId, layerId: layer.index, layerName: layer.name, dims: layer.outDims }));
    if (verifier !== undefined) timer.time('verify', () => verifier.check(layer, x, y));
    return y;
  }

  return {
    verifier,
    get incidents() {
      return incidents;
    },
    get distrusted() {
      return distrusted;
    },
    async compute(layer, x, timer) {
      if (!distrusted) {
        try {
          return await fromAccelerator(layer, x, timer);
        } catch (e) {
          const caught = e instanceof IntegrityError || e instanceof MalformedResponseError;
          if (!caught || policy === 'abort') throw e;
          const err = e as SlalomError;
          incidents.push({ layer: layer.name, code: err.code, message: err.message });
          distrusted = true;
        }
      }
      return timer.time('linear', () => computeLayerExactly(layer, x));
    },
    close: () => accelerator.close(),
  };
}
