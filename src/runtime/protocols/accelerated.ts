/**
 * The outsourcing modes (DESIGN.md §5): every linear layer goes to the accelerator.
 * - blinding (modes private, private+verified): x + r leaves, never x; u = f(r) is unsealed from the
 *   pad store and z − u taken (by the executor, in its requantization pass); one pad per inference, consumed durably before anything leaves;
 * - the reply always passes the boundary (accept.ts); with a verifier (modes verified,
 *   private+verified) Freivalds' check runs on the pair the accelerator saw (x or x + r).
 * A failed check or an invalid reply ends the inference with a typed error (policy 'abort': always,
 * whatever fallback the backend has — a backend's fallback is for an unreachable accelerator, not a
 * second opinion on a refused reply), or is recorded and the same request retried on another
 * accelerator of the backend (at most MAX_RETRIES times), else the layer recomputed in the trusted
 * runtime, which then distrusts the accelerator for the rest of the run (policy 'recompute'). Either
 * way no unverified value is ever used.
 *
 * Request ids are `<random prefix of this trusted runtime>-<counter>`, so a reply to another
 * client's request (a confused or malicious shared accelerator) is refused by the gate by its id,
 * before any check.
 */
import { randomBytes } from 'node:crypto';
import type { AcceleratorBackend } from '../../accel/backend.js';
import type { OnlinePads } from '../online-pads.js';
import { acceptLinearOutput } from '../../boundary/accept.js';
import { hasErrorCode, type SlalomError } from '../../errors.js';
import { jsKernels, type ExactKernels } from '../../kernels/exact-linear.js';
import type { QuantizedLayer } from '../../quant/quantize-graph.js';
import { giveF64 } from '../../tensor/pool.js';
import type { Verifier } from '../../verify/verifier.js';
import type { LinearOutput, LinearProtocol } from '../linear-protocol.js';
import type { PhaseTimer } from '../timings.js';

export type FailurePolicy = 'abort' | 'recompute';
/** What to do when no pad is left: fail, or run that inference entirely in the trusted runtime. */
export type ExhaustedPolicy = 'fail' | 'local';

export interface Incident {
  readonly layer: string;
  readonly code: string;
  readonly message: string;
}

export interface AcceleratedProtocol extends LinearProtocol {
  /** Failures met under the 'recompute' policy and pad fallbacks, in order. */
  readonly incidents: readonly Incident[];
  /** True once the accelerator failed a check or sent an invalid reply (policy 'recompute'). */
  readonly distrusted: boolean;
  /** True when the current (last) inference ran entirely in the trusted runtime: no pad was left, policy 'local'. */
  readonly localOnly: boolean;
  readonly verifier?: Verifier;
  readonly pads?: OnlinePads;
}

export interface AcceleratedOptions {
  readonly accelerator: AcceleratorBackend;
  /** Without one, results are used unchecked: mode `outsourced` or `private`. */
  readonly verifier?: Verifier;
  /** With them, the accelerator only ever sees blinded inputs. */
  readonly pads?: OnlinePads;
  readonly onFailure?: FailurePolicy;
  readonly onExhausted?: ExhaustedPolicy;
  /** Called when fewer than `lowWater` pads remain after an inference took one. */
  readonly onLowPads?: (remaining: number) => void;
  readonly lowWater?: number;
  /** The trusted runtime's kernels for recomputed layers and the 'local' fallback (default: plain JS). */
  readonly local?: ExactKernels;
}

/** This trusted runtime's request-id prefix: 64 random bits, so ids of two runtimes never meet. */
export const REQUEST_ID_PREFIX = randomBytes(8).toString('hex');
let requestCounter = 0;

/** A request id unique to this trusted runtime. */
export function nextRequestId(): string {
  return `${REQUEST_ID_PREFIX}-${++requestCounter}`;
}

/** Retries of one request on other accelerators after refused replies (policy 'recompute'). */
export const MAX_RETRIES = 3;

export function acceleratedProtocol(options: AcceleratedOptions): AcceleratedProtocol {
  const { accelerator, verifier, pads } = options;
  const local = options.local ?? jsKernels();
  const policy = options.onFailure ?? 'abort';
  const incidents: Incident[] = [];
  let distrusted = false;
  /** This inference runs in the trusted runtime only (no pad was left, policy 'local'). */
  let localOnly = false;

  /** Send, validate, check; under 'recompute', again on another accelerator after a refused reply (bounded). */
  async function attempt(layer: QuantizedLayer, sent: Float64Array, timer: PhaseTimer): Promise<Float64Array> {
    for (let retries = 0; ; retries++) {
      const requestId = nextRequestId();
      try {
        return await answer(layer, sent, timer, requestId);
      } catch (e) {
        if (!hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED')) throw e;
        // The backend quarantines the accelerator that answered, whatever the policy.
        const another = accelerator.reportFailure?.(requestId, e) === true;
        if (policy === 'abort' || !another || retries >= MAX_RETRIES) throw e;
        incidents.push({ layer: layer.name, code: e.code, message: `${e.message}; retried on another accelerator` });
      }
    }
  }

  /** One attempt under `requestId`. */
  async function answer(layer: QuantizedLayer, sent: Float64Array, timer: PhaseTimer, requestId: string): Promise<Float64Array> {
    // The request's synchronous part (copying and posting x) is trusted-thread work; the rest is waiting.
    const pending = timer.time('transfer', () => accelerator.linear({ requestId, layerId: layer.index, dims: layer.inDims, x: sent }));
    const reply = await timer.timeAsync('accelerator', () => pending);
    // Validation reads the reply once and computes the check's output side on the way (it counts
    // as validation); the check then reads x only. Asked per attempt: secrets change after a failure.
    const outputSums = verifier?.outputSums(layer);
    const z = timer.time('validate', () => acceptLinearOutput(reply, { requestId, layerId: layer.index, layerName: layer.name, dims: layer.outDims }, outputSums));
    if (verifier !== undefined) timer.time('verify', () => verifier.check(layer, sent, z, outputSums));
    return z;
  }

  async function fromAccelerator(layer: QuantizedLayer, x: Float64Array, timer: PhaseTimer): Promise<LinearOutput> {
    // Blinded once: a retry sends the very same x + r, never a second blinding of x with another pad.
    const sent = pads === undefined ? x : timer.time('blind', () => pads.blind(layer, x));
    const z = await attempt(layer, sent, timer);
    if (pads === undefined) return { value: z };
    giveF64(sent); // the backends sent copies and the check is done: x + r is dead
    // f(x) = z − u: the executor subtracts u in its requantization pass.
    return { value: z, minus: timer.time('unseal', () => pads.unseal(layer)) };
  }

  return {
    verifier,
    pads,
    get incidents() {
      return incidents;
    },
    get distrusted() {
      return distrusted;
    },
    get localOnly() {
      return localOnly;
    },
    async begin() {
      localOnly = false;
      if (pads === undefined) return;
      try {
        pads.begin();
      } catch (e) {
        if (!hasErrorCode(e, 'SLALOM_ERR_PADS_EXHAUSTED') || options.onExhausted !== 'local') throw e;
        incidents.push({ layer: '(all)', code: e.code, message: `${e.message}; this inference ran in the trusted runtime` });
        localOnly = true;
        return;
      }
      const skipped = pads.skipped;
      if (skipped.length > 0) {
        const which = skipped.length === 1 ? `pad ${skipped[0]} was` : `pads ${skipped.join(', ')} were`;
        incidents.push({ layer: '(all)', code: 'SLALOM_ERR_PAD_AUTH', message: `${which} recorded in the ledger but missing from the pad store (deleted?): skipped, never to be used` });
      }
      const remaining = pads.inventory().remaining;
      if (remaining < (options.lowWater ?? 10)) options.onLowPads?.(remaining);
    },
    async compute(layer, x, timer) {
      if (!distrusted && !localOnly) {
        try {
          return await fromAccelerator(layer, x, timer);
        } catch (e) {
          const caught = hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED');
          if (!caught || policy === 'abort') throw e;
          const err = e as SlalomError;
          incidents.push({ layer: layer.name, code: err.code, message: `${err.message}; recomputed in the trusted runtime, accelerator distrusted for the rest of the run` });
          distrusted = true;
        }
      }
      return { value: await timer.timeAsync('linear', () => local.apply(layer, layer.inDims, x)) };
    },
    async close() {
      await accelerator.close();
      await local.close();
    },
  };
}
