/**
 * What crosses the trust boundary for one linear layer (DESIGN.md §1): the request the trusted
 * runtime sends an accelerator and the reply it gets back, which arrives wrapped Untrusted and is
 * read only by boundary/accept.ts. The gate's own contract, so it needs nothing of accel/; every
 * accelerator (accel/backend.ts) speaks it. Types only.
 */

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

/** A reply as the accelerator claims it: to be validated, never trusted. */
export interface LinearReply {
  readonly requestId: string;
  readonly layerId: number;
  readonly dims: readonly number[];
  readonly data: Float64Array;
  /** The accelerator's own account of its compute time (informational only). */
  readonly computeMs?: number;
}
