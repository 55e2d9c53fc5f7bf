/**
 * Opens the LinearProtocol a mode needs (docs/design.md §5): `baseline` computes every layer in the
 * trusted runtime; the other modes attach an accelerator (by default the embedded worker) after
 * registering the model's public weights with it, plus a verifier (verified modes) and the pad
 * store with the trusted state (private modes).
 */
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';
import { resolveBackend } from '../accel/registry.js';
import { OnlinePads } from './online-pads.js';
import { PadPool } from './pad-pool.js';
import { PadStore } from '../blind/pad-store.js';
import { TrustedState } from '../blind/trusted-state.js';
import type { MonotonicCounters } from '../blind/monotonic-counter.js';
import { InvalidArgumentError } from '../errors.js';
import { createExactKernels, type ExactKernelsName } from '../kernels/exact-linear.js';
import type { QuantizedGraph } from '../quant/quantize-graph.js';
import { Verifier, type VerifyOptions } from '../verify/verifier.js';
import type { LinearProtocol } from './linear-protocol.js';
import type { PadSource } from './pad-lease.js';
import type { SlalomModel } from './model.js';
import { isMode, type Mode } from './modes.js';
import { labelProtocol, outsourcedMode } from './protocol-mode.js';
import { attentionPlaceFor, type AttentionPlace } from './attention-offload.js';
import { acceleratedProtocol, type ExhaustedPolicy, type FailurePolicy, type Incident } from './protocols/accelerated.js';
import { trustedProtocol } from './protocols/trusted.js';

interface PadPolicy {
  readonly onExhausted?: ExhaustedPolicy;
  readonly lowWater?: number;
  readonly onLowPads?: (remaining: number) => void;
}

/**
 * Where the private modes' pads come from: the sealed pad store (`--pads store`, the default: an
 * enclave with little trusted memory), or the in-memory pool (`--pads memory`: a confidential VM,
 * pads precomputed in idle time under a key that dies with the process; runtime/pad-pool.ts), each
 * opened by the session for itself; or a source the caller opened and closes, which several sessions
 * may share because each inference leases its own pad (`slalom serve --pads memory`: one pool for a
 * model's lanes, one index counter, so no two requests get one pad).
 */
export type PadOptions =
  | OwnPadOptions
  | (PadPolicy & {
      readonly source: 'shared';
      /** The source; the session never closes it. */
      readonly from: PadSource;
      /**
       * Whether an inference waits for a pad being precomputed (default true); false: PadsExhaustedError
       * (or the 'local' policy) at once, so the caller's own policy decides (a service: wait up to the
       * request's deadline, or 503).
       */
      readonly wait?: boolean;
    });

/** The pad sources a session opens (and closes) itself. */
export type OwnPadOptions =
  | (PadPolicy & {
      readonly source?: 'store';
      /** The untrusted pad store directory (filled by `slalom precompute`). */
      readonly store: string;
      /** The trusted state directory (keys, ledger); default $SLALOM_STATE_DIR or ~/.slalom/state. */
      readonly stateDir?: string;
      /** Monotonic counters the state's ledgers are bound to, so a rolled-back state is refused (docs/rollback.md). */
      readonly counters?: MonotonicCounters;
    })
  | (PadPolicy & {
      readonly source: 'memory';
      /** Pads kept ready (default 4). */
      readonly capacity?: number;
      /** Wait until the pool is full before the first inference (default true). */
      readonly prefill?: boolean;
    });

export interface SessionOptions {
  /** The accelerator to use; default a new embedded worker-thread accelerator. */
  readonly accelerator?: AcceleratorBackend;
  readonly verify?: VerifyOptions;
  readonly onFailure?: FailurePolicy;
  /** Required by the private modes. */
  readonly pads?: PadOptions;
  /**
   * Where attention's products of two activations run: 'trusted' (default, float64 here) or
   * 'accelerator' (exact over Z_p in the clear, checked in `verified`; runtime/attention-offload.ts):
   * modes `outsourced` and `verified` only, refused in the private modes (it would reveal activations).
   */
  readonly attention?: AttentionPlace;
  /** Exact kernels of the trusted runtime and of the default embedded accelerator (default 'ort'). */
  readonly kernels?: ExactKernelsName;
}

export interface OpenedProtocol extends LinearProtocol {
  readonly verifier?: Verifier;
  /** Failures recovered from under the 'recompute' policy. */
  readonly incidents?: readonly Incident[];
  /** True when the last inference ran entirely in the trusted runtime (no pad left, policy 'local'). */
  readonly localOnly?: boolean;
}

/** The public part of each linear layer: what an accelerator is given. */
export function publicLayers(q: QuantizedGraph): PublicLayer[] {
  // { dims, data } afresh: an artifact's weights are decoded on first use, and structured clone wants plain data.
  return q.layers.map((l) => ({ id: l.index, name: l.name, op: l.op, ...(l.conv ? { conv: l.conv } : {}), wDims: l.wDims, inDims: l.inDims, outDims: l.outDims, w: { dims: l.w.dims, data: l.w.data } }));
}

/**
 * Opens the protocol for `mode`; the protocol carries the mode it runs (protocol-mode.ts), derived
 * from its parts, so `model.infer` can never label a result with protections that did not run.
 */
export async function openProtocol(model: SlalomModel, mode: Mode, options: SessionOptions = {}): Promise<OpenedProtocol> {
  const kernelsName = options.kernels ?? 'ort';
  const attention = attentionPlaceFor(mode, options.attention);
  if (mode === 'baseline') return trustedProtocol(await createExactKernels(kernelsName));
  if (!isMode(mode)) throw new InvalidArgumentError(`unknown mode '${String(mode)}'`);
  const isPrivate = mode === 'private' || mode === 'private+verified';
  if (isPrivate && options.pads === undefined) {
    throw new InvalidArgumentError(`mode '${mode}' needs pads: a pad store (--store <dir>, filled by \`slalom precompute\`), or --pads memory`);
  }
  const p = options.pads;
  const pads = !isPrivate ? undefined : p!.source === 'shared' ? borrowed(p!.from, p!.wait ?? true) : openPads(model, p!, kernelsName);
  /** A pool this session opened: it fills it first and closes it on failure (the protocol closes it with the session). */
  const ownPool = pads instanceof PadPool && p!.source === 'memory' ? pads : undefined;
  const accelerator = options.accelerator ?? (await resolveBackend([{ name: 'worker', options: { kernels: kernelsName } }])).backend;
  try {
    await accelerator.loadWeights(publicLayers(model.quantized));
    const verifier = mode === 'verified' || mode === 'private+verified' ? new Verifier(model.quantized.layers, options.verify) : undefined;
    verifier?.prepare();
    // A memory pool starts full, so the first inferences find their pads (precomputing them is the offline phase).
    if (ownPool !== undefined && (p as { prefill?: boolean }).prefill !== false) await ownPool.filled();
    const local = await createExactKernels(kernelsName);
    const protocol = acceleratedProtocol({ accelerator, verifier, pads, local, onFailure: options.onFailure, attention, onExhausted: p?.onExhausted, lowWater: p?.lowWater, onLowPads: p?.onLowPads });
    return labelProtocol(protocol, outsourcedMode(verifier !== undefined, pads !== undefined));
  } catch (e) {
    await accelerator.close();
    await ownPool?.close();
    throw e;
  }
}

/** The pad source of `options`: the store's ledger (OnlinePads), or a fresh in-memory pool. */
export function openPads(model: SlalomModel, options: OwnPadOptions & { readonly source?: 'store' }, kernels?: ExactKernelsName): OnlinePads;
export function openPads(model: SlalomModel, options: OwnPadOptions, kernels?: ExactKernelsName): OnlinePads | PadPool;
export function openPads(model: SlalomModel, options: OwnPadOptions, kernels: ExactKernelsName = 'ort'): OnlinePads | PadPool {
  if (options.source === 'memory') return PadPool.open(model.quantized, { capacity: options.capacity, kernels });
  const state = TrustedState.open(options.stateDir, options.counters !== undefined ? { counters: options.counters } : {});
  return new OnlinePads(model.quantized, model.weightsHash, state, new PadStore(options.store, { create: false }), model.name);
}

/** A shared source as one session sees it: no close (its owner closes it); acquire waits only if `wait`. */
function borrowed(source: PadSource, wait: boolean): PadSource {
  return {
    begin: () => source.begin(),
    acquire: wait ? () => source.acquire() : async () => source.begin(),
    inventory: () => source.inventory(),
    get skipped() {
      return source.skipped;
    },
  };
}
