/**
 * The embedded accelerator (the default): a worker thread running accel/host.ts, with slalom's CPU
 * kernels or the WebGPU engine (`kernels: 'webgpu'`: the thread owns the GPU device). Requests carry
 * ids; each has a timeout; a worker that dies fails every pending request with a TransportError.
 * Replies are handed back branded Untrusted — the worker is outside the trust boundary like any GPU
 * server.
 */
import { Worker } from 'node:worker_threads';
import { untrusted, type Untrusted } from '../../boundary/untrusted.js';
import { TransportError } from '../../errors.js';
import type { ExactKernelsName } from '../../kernels/exact-linear.js';
import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from '../backend.js';
import { preferSurfacelessEgl } from '../webgpu/device.js';
import type { WebGpuOptions } from '../webgpu/engine.js';
import type { FromWorker, ToWorker, WorkerConfig } from './messages.js';
import { outputDims } from '../../kernels/output-dims.js';
import { sizeOf } from '../../tensor/tensor.js';

/**
 * Keeps a buffer the worker transferred back, for the next message of its size. Only a plain,
 * non-shared buffer the worker no longer holds (a transferred one) can carry one; its old contents
 * are never read here, only overwritten (a request) or handed to the worker (a spare for a reply).
 */
function keep(pool: Map<number, ArrayBuffer[]>, buffer: unknown): void {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return;
  let list = pool.get(buffer.byteLength);
  if (list === undefined) pool.set(buffer.byteLength, (list = []));
  if (list.length < 4) list.push(buffer);
}

/** A request buffer of requestBuffer's that can be transferred as it is: all of a plain, attached ArrayBuffer, x's length. */
function sendable(wire: Uint32Array | undefined, values: number): Uint32Array | undefined {
  if (wire === undefined || !(wire.buffer instanceof ArrayBuffer)) return undefined;
  return wire.length === values && wire.byteOffset === 0 && wire.buffer.byteLength === 4 * values ? wire : undefined;
}

/**
 * The worker's first module. Compiled (dist/), entry.js runs as it is. From the TypeScript sources
 * (under tsx) a worker thread does not inherit the parent's loader, so bootstrap.mjs registers tsx
 * first; it is not in the package, and tsx is only a dev dependency.
 */
const WORKER_ENTRY = new URL(import.meta.url).pathname.endsWith('.ts') ? new URL('./bootstrap.mjs', import.meta.url) : new URL('./entry.js', import.meta.url);

export interface WorkerBackendOptions {
  /** Per-request timeout (default 10 minutes: a large layer on the plain-JS kernels is slow). */
  readonly timeoutMs?: number;
  /** The worker's exact kernels (default 'ort'), or 'webgpu'. */
  readonly kernels?: ExactKernelsName | 'webgpu';
  /** Threads its onnxruntime kernels may use (default 1). */
  readonly threads?: number;
  /** The adapter and tiles of the 'webgpu' kernels. */
  readonly webgpu?: WebGpuOptions;
  /** Most items of pending requests for one layer merged into one batch (default 16). */
  readonly maxBatch?: number;
  /** The backend's name in reports (default 'worker'). */
  readonly name?: string;
}

interface Pending {
  resolve(reply: FromWorker): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class WorkerBackend implements AcceleratorBackend {
  readonly name: string;
  /** What computes, once `init()` has asked the worker (e.g. "nvidia NVIDIA H200 (…)" or "CPU, ort kernels"). */
  device: string | undefined;
  private readonly worker: Worker;
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;
  /** Counter of init and load message ids (`init-<n>`, `load-<n>`), apart from the callers' request ids. */
  private loads = 0;
  private dead: Error | undefined;

  constructor(options: WorkerBackendOptions = {}) {
    this.name = options.name ?? 'worker';
    this.timeoutMs = options.timeoutMs ?? 600_000;
    const config: WorkerConfig = { kernels: options.kernels ?? 'ort', threads: options.threads ?? 1, maxBatch: options.maxBatch ?? 16, ...(options.webgpu ? { webgpu: options.webgpu } : {}) };
    // EGL reads the real environment, which a worker's process.env (a copy) cannot change.
    if (config.kernels === 'webgpu' && (options.webgpu?.adapter ?? 'gpu') !== 'gpu') preferSurfacelessEgl();
    this.worker = new Worker(WORKER_ENTRY, { workerData: config });
    this.worker.on('message', (msg: FromWorker) => {
      const id = typeof msg === 'object' && msg !== null ? msg.requestId : undefined;
      const p = typeof id === 'string' ? this.pending.get(id) : undefined;
      if (p === undefined) return; // an unsolicited or late message: ignored
      this.pending.delete(id!);
      clearTimeout(p.timer);
      p.resolve(msg);
    });
    const die = (err: Error): void => {
      this.dead ??= new TransportError(`the accelerator worker died: ${err.message}`, { cause: err });
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(this.dead);
      }
      this.pending.clear();
    };
    this.worker.on('error', die);
    // A reply that cannot be deserialized cannot be matched to its request: fail them all rather than hang.
    this.worker.on('messageerror', die);
    this.worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
    // The worker alone never keeps the process alive (a script that forgets close() still exits);
    // while a request is pending, its timeout timer does. After the listeners: adding a 'message'
    // listener refs the worker's port again.
    this.worker.unref();
  }

  private send(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msg.requestId);
        reject(new TransportError(`the accelerator did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(msg.requestId, { resolve, reject, timer });
      this.worker.postMessage(msg, transfer);
    });
  }

  /** Waits for the worker's kernels (for 'webgpu': the device) and learns what computes; fails with the reason they did not start. */
  async init(): Promise<void> {
    const reply = await this.send({ type: 'init', requestId: `init-${++this.loads}` });
    if (reply.type !== 'ready') throw new TransportError(`the ${this.name} accelerator did not start: ${reply.type === 'error' ? String(reply.message) : 'unexpected reply'}`);
    this.device = String(reply.device);
  }

  async loadWeights(layers: readonly PublicLayer[]): Promise<void> {
    for (const l of layers) this.layers.set(l.id, l);
    const reply = await this.send({ type: 'load', requestId: `load-${++this.loads}`, layers });
    if (reply.type !== 'loaded') throw new TransportError(`the accelerator refused the model: ${reply.type === 'error' ? String(reply.message) : 'unexpected reply'}`);
  }

  async linear({ requestId, layerId, dims, x, wire: written }: LinearRequest): Promise<Untrusted<LinearReply>> {
    // x lies in the trusted runtime's (shared) memory: posting it would share that memory with the
    // worker. Its values go in a buffer of this client's own, which is transferred (no second copy)
    // and comes back with the reply to carry the next request of its size: fresh memory would cost
    // a page fault per 4 KiB. A returned buffer is only ever written here. The boundary pass that
    // produced x has usually written it into such a buffer already (requestBuffer): then no copy.
    const wire = sendable(written, x.length) ?? new Uint32Array(this.wireBuffer(x.byteLength), 0, x.length);
    if (wire !== written) wire.set(x);
    // A spare for the reply: a buffer of an earlier reply the caller is done with (recycle), so the
    // worker writes its result there and nothing new is allocated on this thread.
    const spare = this.spareFor(layerId, dims);
    const transfer = spare === undefined ? [wire.buffer as ArrayBuffer] : [wire.buffer as ArrayBuffer, spare];
    const reply = await this.send({ type: 'linear', requestId, layerId, dims, x: wire, ...(spare !== undefined ? { spare } : {}) }, transfer);
    if (reply.type === 'error') throw new TransportError(`the accelerator failed: ${String(reply.message)}`);
    if (reply.type === 'result') {
      keep(this.wire, reply.returned);
      const data = (reply as { data?: unknown }).data;
      if (data instanceof Uint32Array) {
        this.answered.set(requestId, data.buffer);
        // A caller that never recycles must not make this grow: forget the oldest.
        if (this.answered.size > 64) this.answered.delete(this.answered.keys().next().value!);
      }
    }
    return untrusted(reply as unknown as LinearReply);
  }

  recycle(requestId: string): void {
    const buffer = this.answered.get(requestId);
    this.answered.delete(requestId);
    keep(this.spares, buffer);
  }

  private readonly layers = new Map<number, PublicLayer>();
  /** Request buffers handed back by the worker, by size (a few per size: one per request in flight). */
  private readonly wire = new Map<number, ArrayBuffer[]>();
  /** Reply buffers the caller is done with, by size, to carry later replies. */
  private readonly spares = new Map<number, ArrayBuffer[]>();
  /** Reply buffers until their caller recycles them. */
  private readonly answered = new Map<string, ArrayBufferLike>();

  requestBuffer(values: number): Uint32Array {
    return new Uint32Array(this.wireBuffer(4 * values), 0, values);
  }

  private wireBuffer(bytes: number): ArrayBuffer {
    return this.wire.get(bytes)?.pop() ?? new ArrayBuffer(bytes);
  }

  private spareFor(layerId: number, dims: readonly number[]): ArrayBuffer | undefined {
    const layer = this.layers.get(layerId);
    if (layer === undefined) return undefined;
    try {
      return this.spares.get(4 * sizeOf(outputDims(layer, dims)))?.pop();
    } catch {
      return undefined; // dims the layer cannot take: the worker refuses the request
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
