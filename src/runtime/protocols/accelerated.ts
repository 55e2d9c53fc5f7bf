/**
 * The outsourcing modes (docs/design.md §5): every linear layer goes to the accelerator.
 * - blinding (modes private, private+verified): x + r leaves, never x (the boundary pass that
 *   wrote the request added r); u = f(r) is unsealed from the pad store while the accelerator
 *   works, and the layer's boundary pass takes z − u; one pad per inference, consumed durably
 *   before anything leaves;
 * - the reply always passes the gate (boundary/accept.ts); with a verifier (modes verified,
 *   private+verified) Freivalds' check runs on the pair the accelerator saw (x or x + r), its
 *   output side in the pass that reads the reply and its input side in the pass that wrote the request.
 * A failed check or an invalid reply ends the inference with a typed error (policy 'abort': always,
 * whatever fallback the backend has — a backend's fallback is for an unreachable accelerator, not a
 * second opinion on a refused reply), or is recorded and the same request retried on another
 * accelerator of the backend (at most MAX_RETRIES times), else the layer recomputed in the trusted
 * runtime — f(x + r) − u = f(x), so the same pads serve — which then distrusts the accelerator for
 * the rest of the run (policy 'recompute'). Either way no unverified value is ever used: the
 * pass's outputs leave the gate only once accepted.
 *
 * Admission: a backend that re-admits a quarantined accelerator (`admitted()`: `slalom serve`, after a
 * health probe and a canary) decides when to ask it again; without one, an accelerator refused under
 * 'recompute' is distrusted for the protocol's life. While none is admitted, an inference under
 * 'abort' is refused before it takes a pad (it could not be served), and one under 'recompute' runs
 * in the trusted runtime without taking one. Each inference's ExecutionLog (runtime/execution.ts)
 * records, as it is decided, where each layer ran and under which check, and the incidents.
 *
 * Request ids are `<random prefix of this trusted runtime>-<counter>`, so a reply to another
 * client's request (a confused or malicious shared accelerator) is refused by the gate by its id,
 * before any check.
 */
import { randomBytes } from 'node:crypto';
import type { AcceleratorBackend } from '../../accel/backend.js';
import { acceptComputed, acceptReply } from '../../boundary/accept.js';
import type { Crossing, Sendable } from '../../boundary/pass-plan.js';
import { hasErrorCode, InvalidArgumentError, TransportError, type SlalomError } from '../../errors.js';
import { jsKernels, type ExactKernels } from '../../kernels/exact-linear.js';
import { sizeOf, type Tensor } from '../../tensor/tensor.js';
import type { Verifier } from '../../verify/verifier.js';
import { assemblePlan, type CrossingPads, type LayerStep } from '../boundary-plan.js';
import { ActivationProducts, ATTENTION_PRIVATE_REFUSAL, type AttentionPlace } from '../attention-offload.js';
import { ExecutionLog, TRUSTED_REASONS, type Incident } from '../execution.js';
import type { LinearProtocol, ProtocolRun, TokenPads } from '../linear-protocol.js';
import { timed, timedAsync, type RunObserver } from '../observer.js';
import type { PadLease, PadSource } from '../pad-lease.js';
import { stackLeases } from '../token-pads.js';

export type FailurePolicy = 'abort' | 'recompute';
/** What to do when no pad is left: fail, or run that inference entirely in the trusted runtime. */
export type ExhaustedPolicy = 'fail' | 'local';

export type { Incident } from '../execution.js';

export interface AcceleratedProtocol extends LinearProtocol {
  /** Failures met under the 'recompute' policy and pad fallbacks, in order. */
  readonly incidents: readonly Incident[];
  /** True once the accelerator failed a check or sent an invalid reply (policy 'recompute', a backend without admission of its own). */
  readonly distrusted: boolean;
  /** True when the current (last) inference ran entirely in the trusted runtime: no pad was left (policy 'local'), or no accelerator was admitted (policy 'recompute'). */
  readonly localOnly: boolean;
  readonly verifier?: Verifier;
  readonly pads?: PadSource;
}

export interface AcceleratedOptions {
  readonly accelerator: AcceleratorBackend;
  /** Without one, results are used unchecked: mode `outsourced` or `private`. */
  readonly verifier?: Verifier;
  /** With them, the accelerator only ever sees blinded inputs. */
  readonly pads?: PadSource;
  readonly onFailure?: FailurePolicy;
  readonly onExhausted?: ExhaustedPolicy;
  /** Called when fewer than `lowWater` pads remain after an inference took one. */
  readonly onLowPads?: (remaining: number) => void;
  readonly lowWater?: number;
  /** Where attention's activation products run (default 'trusted'); 'accelerator' only without pads (runtime/attention-offload.ts). */
  readonly attention?: AttentionPlace;
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
  if (options.attention === 'accelerator' && pads !== undefined) throw new InvalidArgumentError(ATTENTION_PRIVATE_REFUSAL);
  // The same k as the linear layers' checks: each product's error (≤ p^−k) is below theirs, so the inference's claimed soundness still holds.
  const activations = options.attention === 'accelerator' ? new ActivationProducts({ accelerator, repetitions: verifier?.repetitions ?? 0, onFailure: policy, nextRequestId }) : undefined;
  let distrusted = false;
  /** Whether the last inference ran entirely in the trusted runtime (no pad left, policy 'local'; or no accelerator admitted). */
  let lastLocalOnly = false;
  /** Whether the accelerator may be asked: this protocol does not distrust it and its backend admits it. */
  const admitted = (): boolean => !distrusted && (accelerator.admitted?.() ?? true);

  /**
   * Takes this inference's pad (a decoding step: one per token, stacked); 'local' when none is left
   * and the policy runs it locally. Pads taken before one ran out stay consumed: never reused.
   */
  async function takePad(report: (i: Incident) => void, tokens: TokenPads | undefined): Promise<PadLease | undefined | 'local'> {
    if (pads === undefined) return undefined;
    const leases: PadLease[] = [];
    try {
      for (let k = 0; k < (tokens?.count ?? 1); k++) {
        leases.push(await pads.acquire());
        const skipped = pads.skipped;
        if (skipped.length > 0) {
          const which = skipped.length === 1 ? `pad ${skipped[0]} was` : `pads ${skipped.join(', ')} were`;
          report({ layer: '(all)', code: 'SLALOM_ERR_PAD_AUTH', message: `${which} recorded in the ledger but missing from the pad store (deleted?): skipped, never to be used` });
        }
      }
    } catch (e) {
      for (const lease of leases) lease.end();
      if (!hasErrorCode(e, 'SLALOM_ERR_PADS_EXHAUSTED') || options.onExhausted !== 'local') throw e;
      const spent = leases.length > 0 ? ` (${leases.length} pad(s) taken for this step before were spent unused)` : '';
      report({ layer: '(all)', code: e.code, message: `${e.message}; this ${tokens === undefined ? 'inference' : 'step'} ran in the trusted runtime${spent}` });
      return 'local';
    }
    const remaining = pads.inventory().remaining;
    if (remaining < (options.lowWater ?? 10)) options.onLowPads?.(remaining);
    return tokens === undefined || tokens.count === 1 ? leases[0]! : stackLeases(leases, tokens.layers);
  }

  async function startRun(observer: RunObserver, tokens: TokenPads | undefined): Promise<ProtocolRun> {
    const execution = new ExecutionLog();
    const report = (i: Incident): void => {
      incidents.push(i);
      execution.incident(i);
    };
    // Decided before a pad is taken, so an inference that cannot be served spends none.
    const unadmitted = !admitted();
    if (unadmitted && policy === 'abort') throw new TransportError('no accelerator is admitted (each was quarantined after a refused reply): nothing was sent and no pad spent; a service re-admits one after a health probe and a canary, retry later');
    const taken = unadmitted ? 'local' : await takePad(report, tokens);
    /** This inference runs in the trusted runtime only, and why. */
    const localOnly = taken === 'local' ? (unadmitted ? (distrusted ? TRUSTED_REASONS.distrusted : TRUSTED_REASONS.quarantined) : TRUSTED_REASONS.noPad) : undefined;
    lastLocalOnly = localOnly !== undefined;
    /** Set after a refused reply under 'recompute': the rest of this inference runs in the trusted runtime. */
    let runDistrusted = false;
    const lease = taken === 'local' ? undefined : taken;
    const sink = (layer: string) => (phase: string, ms: number) => observer.phase(phase, ms, layer);

    /** The pads one crossing uses, taken while the accelerator computes (once per layer, whatever the attempts). */
    function padsFor(step: LayerStep): CrossingPads {
      if (lease === undefined) return {};
      const name = step.layer.name;
      const unblind = timed(observer, 'unseal', name, () => lease.unblind(step.layer));
      const next = step.next?.layer;
      return { unblind, ...(next !== undefined ? { nextPad: timed(observer, 'keystream', name, () => lease.keystream(next)) } : {}) };
    }

    /** f(request) in the trusted runtime, through the same pass (without a check). */
    async function compute(step: LayerStep, request: Sendable, crossingPads: CrossingPads): Promise<Crossing> {
      const y = await timedAsync(observer, 'linear', step.layer.name, () => local.apply(step.layer, request.x.dims, request.x.data));
      return acceptComputed(y, assemblePlan(step, request, { requestId: 'computed', pads: crossingPads, verifier, checking: false }), sink(step.layer.name));
    }

    /** Send, accept; under 'recompute', again on another accelerator after a refused reply (bounded). */
    async function fromAccelerator(step: LayerStep, request: Sendable, crossingPads: () => CrossingPads): Promise<Crossing> {
      const { layer } = step;
      for (let retries = 0; ; retries++) {
        const requestId = nextRequestId();
        // The request's synchronous part (posting x, copied first only where no request buffer holds it) is trusted-thread work; the rest is waiting.
        // The pass that wrote x wrote it into the backend's buffer too: sent as it is, once (a retry copies x).
        const wire = retries === 0 ? request.wire : undefined;
        const pending = timed(observer, 'transfer', layer.name, () => accelerator.linear({ requestId, layerId: layer.index, dims: request.x.dims, x: request.x.data, ...(wire !== undefined ? { wire } : {}) }));
        const parts = crossingPads();
        const reply = await timedAsync(observer, 'accelerator', layer.name, () => pending);
        try {
          // Asked per attempt: secrets change after a failure. The gate is done with the reply when it returns: after it, its memory may carry another.
          const wire = step.next === undefined ? undefined : requestBuffer(sizeOf(step.next.layer.inDims));
          const plan = assemblePlan(step, request, { requestId, pads: parts, verifier, checking: true, ...(wire !== undefined ? { wire } : {}) });
          const crossing = acceptReply(reply, plan, sink(layer.name));
          accelerator.recycle?.(requestId);
          return crossing;
        } catch (e) {
          accelerator.recycle?.(requestId);
          if (!hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED')) throw e;
          // The backend quarantines the accelerator that answered, whatever the policy.
          const another = accelerator.reportFailure?.(requestId, e) === true;
          if (policy === 'abort' || !another || retries >= MAX_RETRIES) throw e;
          report({ layer: layer.name, code: e.code, message: `${e.message}; retried on another accelerator` });
        }
      }
    }

    /** A buffer of the accelerator's for a request, while requests go to it (else the request would only be computed here). */
    function requestBuffer(values: number): Uint32Array | undefined {
      return trustedBecause() === undefined ? accelerator.requestBuffer?.(values) : undefined;
    }

    /** Why this layer cannot go to the accelerator now, or undefined when it can. Under 'abort' an inference that started goes on asking (every reply is still checked): its pad is spent already. */
    function trustedBecause(): string | undefined {
      if (localOnly !== undefined) return localOnly;
      if (runDistrusted) return TRUSTED_REASONS.distrusted;
      if (policy === 'recompute' && !admitted()) return distrusted ? TRUSTED_REASONS.distrusted : TRUSTED_REASONS.quarantined;
      return undefined;
    }

    /** A refused activation product under 'recompute': recorded, and the accelerator distrusted as for a linear layer. */
    function refusedProduct(layer: string, err: SlalomError): void {
      report({ layer, code: err.code, message: `${err.message}; recomputed in the trusted runtime, accelerator distrusted from now on` });
      runDistrusted = true;
      if (accelerator.admitted === undefined) distrusted = true;
    }

    return {
      verifier,
      execution,
      ...(activations !== undefined
        ? {
            // Phase 'attention' is the trusted runtime's part (quantize, check, dequantize); the wait is 'accelerator'. Neither names a layer: the per-layer timings are the linear layers'.
            async activationProduct(name: string, a: Tensor, b: Tensor): Promise<Tensor> {
              const start = performance.now();
              let waited = 0;
              const onWait = (ms: number): void => {
                waited += ms;
                observer.phase('accelerator', ms);
              };
              try {
                return await activations.multiply(name, a, b, { trustedBecause, refused: refusedProduct, execution, waited: onWait });
              } finally {
                observer.phase('attention', performance.now() - start - waited);
              }
            },
          }
        : {}),
      ...(lease !== undefined ? { pads: lease } : {}),
      requestBuffer,
      async cross(step, request) {
        const name = step.layer.name;
        let parts: CrossingPads | undefined;
        const crossingPads = (): CrossingPads => (parts ??= padsFor(step));
        try {
          let why = trustedBecause();
          if (why === undefined) {
            try {
              const crossing = await fromAccelerator(step, request, crossingPads);
              execution.accelerator(name, verifier !== undefined);
              return crossing;
            } catch (e) {
              const caught = hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED');
              if (!caught || policy === 'abort') throw e;
              const err = e as SlalomError;
              const later = accelerator.admitted === undefined ? 'accelerator distrusted from now on' : 'accelerator not asked again in this run, nor until re-admitted';
              report({ layer: name, code: err.code, message: `${err.message}; recomputed in the trusted runtime, ${later}` });
              runDistrusted = true;
              // A backend without admission of its own never re-admits: this protocol keeps distrusting it.
              if (accelerator.admitted === undefined) distrusted = true;
              why = TRUSTED_REASONS.recomputed(err.code);
            }
          }
          execution.trusted(name, why);
          return await compute(step, request, crossingPads());
        } finally {
          // Accepted or not, this layer's pads are done with: a retry of it would have used them already.
          if (parts?.unblind !== undefined) lease!.done(parts.unblind);
          if (parts?.nextPad !== undefined) lease!.done(parts.nextPad);
        }
      },
      end() {
        lease?.end();
      },
    };
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
      return lastLocalOnly;
    },
    async start(observer, tokens) {
      return startRun(observer, tokens);
    },
    maxTokensPerStep: () => pads?.inventory().capacity,
    async close() {
      verifier?.dispose();
      await accelerator.close();
      await local.close();
      await pads?.close?.();
    },
  };
}
