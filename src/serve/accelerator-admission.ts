/**
 * Whether the service may ask its accelerator (issue 20, deliverable 4). A refused reply (a failed
 * check, an invalid reply) that leaves the backend no other accelerator quarantines it for every
 * lane; it is re-admitted only after, with a backoff doubling from `backoffMs` up to `maxBackoffMs`:
 *
 * 1. a health probe (the backend's `readmit`: for HTTP, GET /v2/health/ready of each quarantined
 *    accelerator, whose quarantine it lifts if ready);
 * 2. a canary: for every linear layer, an input of uniform residues drawn from a key used once
 *    (AES-CTR, blind/keystream.ts), sent like any request; the reply passes the gate
 *    (boundary/accept.ts) and must equal, value for value, f(x) mod p as the trusted runtime computes
 *    it itself with its exact kernels. In the private modes a canary looks like any blinded request.
 *
 * A canary cannot make an accelerator honest: every later reply is still checked as before (and a
 * lie quarantines it again), so what re-admission buys is availability — one lie no longer ends the
 * service — never trust.
 */
import { randomBytes } from 'node:crypto';
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';
import { padVector } from '../blind/keystream.js';
import { acceptResidues } from '../boundary/accept.js';
import { IntegrityError, isSlalomError } from '../errors.js';
import type { ExactKernels } from '../kernels/exact-linear.js';
import { nextRequestId } from '../runtime/protocols/accelerated.js';
import { sizeOf } from '../tensor/tensor.js';

export interface AdmissionOptions {
  /** First wait before a quarantined accelerator is probed (default 1000 ms); doubles after each failed probe or canary. */
  readonly backoffMs?: number;
  /** The longest wait (default 60 000 ms). */
  readonly maxBackoffMs?: number;
  /** The trusted runtime's exact kernels, for the canary's expected outputs (opened on first use). */
  readonly kernels: () => Promise<ExactKernels>;
  /** Quarantines, failed re-admissions and re-admissions, for the log. */
  readonly onEvent?: (event: AdmissionEvent) => void;
}

export interface AdmissionEvent {
  readonly kind: 'quarantined' | 'probe-failed' | 'canary-failed' | 'readmitted';
  readonly message: string;
}

export class AcceleratorAdmission {
  /** Why the accelerator is out, while it is. */
  private quarantine: string | undefined;
  private failedTries = 0;
  private timer: NodeJS.Timeout | undefined;
  private layers: readonly PublicLayer[] = [];
  private kernels: Promise<ExactKernels> | undefined;
  private closed = false;
  /** Times the accelerator was re-admitted (for stats and tests). */
  readmissions = 0;

  constructor(
    private readonly backend: AcceleratorBackend,
    private readonly options: AdmissionOptions,
  ) {}

  /** False while quarantined; a backend that quarantined all its accelerators itself (an unparseable reply) starts the same re-admission. */
  admitted(): boolean {
    if (this.quarantine === undefined && this.backend.admitted?.() === false) this.quarantineFor('the backend quarantined every accelerator it has');
    return this.quarantine === undefined;
  }

  /** Why it is quarantined (undefined when admitted). */
  get reason(): string | undefined {
    return this.quarantine;
  }

  /** The layers a canary covers: the model's, as registered. */
  registered(layers: readonly PublicLayer[]): void {
    this.layers = layers;
  }

  /** The trusted runtime refused a reply: the backend quarantines the accelerator that sent it; with none left, the service stops asking until re-admission. Returns whether another can take the request. */
  refused(requestId: string, error: Error): boolean {
    const another = this.backend.reportFailure?.(requestId, error) === true;
    if (!another) this.quarantineFor(`${isSlalomError(error) ? error.code : error.name}: ${error.message}`);
    return another;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await (await this.kernels)?.close();
  }

  private quarantineFor(why: string): void {
    if (this.quarantine !== undefined || this.closed) return;
    this.quarantine = why;
    this.failedTries = 0;
    this.options.onEvent?.({ kind: 'quarantined', message: `accelerator quarantined after a refused reply (${why.slice(0, 300)})` });
    this.schedule();
  }

  private schedule(): void {
    const first = this.options.backoffMs ?? 1000;
    const ms = Math.min(this.options.maxBackoffMs ?? 60_000, first * 2 ** Math.min(20, this.failedTries));
    this.timer = setTimeout(() => void this.tryReadmit(), ms);
    this.timer.unref();
  }

  private async tryReadmit(): Promise<void> {
    if (this.closed) return;
    let stage: 'probe-failed' | 'canary-failed' = 'probe-failed';
    try {
      if (!(await (this.backend.readmit?.() ?? Promise.resolve(true)))) throw new Error('no accelerator answered its health probe');
      stage = 'canary-failed';
      await this.canary();
      if (this.closed) return;
      this.quarantine = undefined;
      this.readmissions++;
      this.options.onEvent?.({ kind: 'readmitted', message: 'accelerator re-admitted: it answered its health probe and a canary of every layer exactly' });
    } catch (e) {
      if (this.closed) return;
      this.failedTries++;
      this.options.onEvent?.({ kind: stage, message: `accelerator stays quarantined: ${(e as Error).message.slice(0, 300)}` });
      this.schedule();
    }
  }

  /** Every layer once, on uniform residues; the reply must be exactly what the trusted runtime computes. */
  private async canary(): Promise<void> {
    this.kernels ??= this.options.kernels();
    const kernels = await this.kernels;
    const key = randomBytes(32); // used for this canary only: no (key, nonce) pair repeats
    for (const layer of this.layers) {
      if (layer.inDims === undefined || layer.outDims === undefined) continue;
      const x = padVector(key, 0, layer.id, sizeOf(layer.inDims));
      const requestId = nextRequestId();
      const reply = await this.backend.linear({ requestId, layerId: layer.id, dims: layer.inDims, x });
      try {
        const got = acceptResidues(reply, { requestId, layerId: layer.id, layerName: layer.name, dims: layer.outDims });
        const want = await kernels.apply(layer, layer.inDims, x);
        const at = got.findIndex((v, i) => v !== want[i]);
        if (at >= 0) throw new IntegrityError(`the canary of layer ${layer.name} came back wrong at index ${at}`, { layer: layer.name });
      } catch (e) {
        this.backend.reportFailure?.(requestId, e as Error); // quarantined again where the backend tracks who answered
        throw e;
      } finally {
        this.backend.recycle?.(requestId);
      }
    }
  }
}
