/**
 * What crosses the trust boundary for one linear layer (docs/design.md §1): the request the trusted
 * runtime sends an accelerator and the reply it gets back, which arrives wrapped Untrusted and is
 * read only by boundary/accept.ts. The gate's own contract, so it needs nothing of accel/; every
 * accelerator (accel/backend.ts) speaks it. Types only.
 */
import type { Residues } from '../field/residues.js';

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
  /**
   * x already written into a buffer the backend handed out for it (AcceleratorBackend.requestBuffer),
   * by the boundary pass that produced x: the backend may send this buffer as it is instead of
   * copying x. It holds exactly x's values and is the backend's from now on; x stays the caller's.
   */
  readonly wire?: Uint32Array;
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
  /**
   * Set by a backend that got bytes it could not read as a reply at all (broken framing, a body past
   * the size the layer's output allows): why. The gate refuses it like any other malformed reply,
   * so what follows is the failure policy's decision (abort: no result), never a transport fallback.
   */
  readonly unreadable?: string;
}
