/**
 * The accelerator contract (docs/design.md §1). An accelerator
 * is untrusted: it receives the model's public weights and whatever the trusted runtime sends
 * (plaintext in verified mode, x + r in private modes) and returns f(x) mod p. Every reply is
 * branded Untrusted and goes through boundary/accept.ts before the trusted runtime touches it; the
 * request and reply messages are the gate's contract (boundary/linear-messages.ts).
 */
import type { LinearReply, LinearRequest } from '../boundary/linear-messages.js';
import type { Untrusted } from '../boundary/untrusted.js';
import type { Residues } from '../field/residues.js';
import type { LinearWeights } from '../kernels/names.js';

export type { LinearReply, LinearRequest } from '../boundary/linear-messages.js';

/** What an accelerator knows of one linear layer: public weights and shapes (kernels/names.ts LinearSpec). */
export interface PublicLayer extends LinearWeights {
  readonly id: number;
  readonly name: string;
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
   * False while the backend has no accelerator it may ask (each quarantined after a refused reply,
   * none re-admitted yet): the trusted runtime then sends nothing. A backend without it is asked
   * until the trusted runtime itself stops trusting it.
   */
  admitted?(): boolean;
  /**
   * Health-probes the accelerators quarantined after refused replies and lifts the quarantine of
   * those that answer; true when one may be asked again. The caller (a service re-admitting an
   * accelerator) sends a canary it checks itself before trusting it with requests.
   */
  readmit?(): Promise<boolean>;
  /**
   * The trusted runtime is done with the reply to `requestId` (the gate copied it, whatever it
   * decided): a backend may let that reply's memory carry a later one (fresh memory costs a page
   * fault per 4 KiB, and a stream of fresh buffers, garbage collections of the trusted thread).
   */
  recycle?(requestId: string): void;
  /**
   * A buffer of the backend's own for a request of `values` values, which the trusted runtime's
   * boundary pass fills as it produces the request and hands back as LinearRequest.wire: the request
   * then leaves without a copy (the worker transfers it; HTTP sends it as the body's tensor).
   * Undefined, or absent, where the backend must convert what it sends anyway.
   */
  requestBuffer?(values: number): Uint32Array | undefined;
  close(): Promise<void>;
}
