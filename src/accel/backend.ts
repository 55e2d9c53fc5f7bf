/**
 * The accelerator contract (DESIGN.md §1, STYLE.md "Backends behind one interface"). An accelerator
 * is untrusted: it receives the model's public weights and whatever the trusted runtime sends
 * (plaintext in verified mode, x + r in private modes) and returns f(x) mod p. Every reply is
 * branded Untrusted and goes through boundary/accept.ts before the trusted runtime touches it.
 */
import type { Untrusted } from '../boundary/untrusted.js';
import type { Residues } from '../field/residues.js';
import type { LinearWeights } from '../kernels/names.js';

/** What an accelerator knows of one linear layer: public weights and shapes (kernels/names.ts LinearSpec). */
export interface PublicLayer extends LinearWeights {
  readonly id: number;
  readonly name: string;
}

/**
 * A reply as the accelerator claims it: to be validated, never trusted. Residues as u32 (a service
 * speaking the Open Inference Protocol's FP64 gives doubles, which the gate checks the same way).
 */
export interface LinearReply {
  readonly requestId: string;
  readonly layerId: number;
  readonly dims: readonly number[];
  readonly data: Uint32Array | Float64Array;
  /** The accelerator's own account of its compute time (informational only). */
  readonly computeMs?: number;
}

/**
 * One linear computation: the caller picks requestId (unique to its trusted runtime: a random prefix
 * and a counter) and checks the reply echoes it.
 */
export interface LinearRequest {
  readonly requestId: string;
  readonly layerId: number;
  readonly dims: readonly number[];
  /**
   * Canonical residues. The trusted runtime's own memory (simd/arena.ts): the backend must copy what
   * it sends before linear() returns, and never post, modify or keep the caller's array.
   */
  readonly x: Residues;
}

export interface AcceleratorBackend {
  readonly name: string;
  /** What computes, for the user's output (e.g. "nvidia NVIDIA H200 (…)" or "CPU, ort kernels"), once known. */
  readonly device?: string;
  /** Starts what the backend needs (a worker, a GPU device) and fails with the reason it cannot; optional, and idempotent where given. */
  init?(): Promise<void>;
  /** Registers a model's linear layers; a layer the backend cannot compute exactly is refused here. */
  loadWeights(layers: readonly PublicLayer[]): Promise<void>;
  /** f(x) mod p without bias for x (canonical residues, batch included in dims). */
  linear(request: LinearRequest): Promise<Untrusted<LinearReply>>;
  /**
   * The trusted runtime found the reply to `requestId` invalid or wrong (a failed check). A backend
   * with several accelerators quarantines the one that answered; it returns true when another
   * healthy accelerator can take the same request again.
   */
  reportFailure?(requestId: string, error: Error): boolean;
  /**
   * The trusted runtime is done with the reply to `requestId` (the gate copied it, whatever it
   * decided): a backend may let that reply's memory carry a later one (fresh memory costs a page
   * fault per 4 KiB, and a stream of fresh buffers, garbage collections of the trusted thread).
   */
  recycle?(requestId: string): void;
  close(): Promise<void>;
}
