/**
 * The accelerator contract (DESIGN.md §1, STYLE.md "Backends behind one interface"). An accelerator
 * is untrusted: it receives the model's public weights and whatever the trusted runtime sends
 * (plaintext in verified mode, x + r in private modes) and returns f(x) mod p. Every reply is
 * branded Untrusted and goes through boundary/accept.ts before the trusted runtime touches it.
 */
import type { Untrusted } from '../boundary/untrusted.js';
import type { ConvAttrs } from '../kernels/names.js';
import type { Tensor } from '../tensor/tensor.js';

/** What an accelerator knows of one linear layer: public weights and shapes. */
export interface PublicLayer {
  readonly id: number;
  readonly name: string;
  readonly op: 'Conv' | 'Gemm';
  readonly conv?: ConvAttrs;
  /** Integer weights: Conv [M, C/g, kH, kW]; Gemm [K, N]. */
  readonly w: Tensor;
}

/** A reply as the accelerator claims it: to be validated, never trusted. */
export interface LinearReply {
  readonly requestId: string;
  readonly layerId: number;
  readonly dims: readonly number[];
  readonly data: Float64Array;
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
  /** Canonical residues; the backend must not modify or keep the caller's array. */
  readonly x: Float64Array;
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
  close(): Promise<void>;
}
