/**
 * The embedded accelerator's thread: its own isolate, so it cannot read the trusted runtime's
 * memory (keys, pads, Freivalds secrets). Decodes requests, runs the host one batch at a time (the
 * kernels reuse scratch memory, a GPU runs one request at a time), posts results. Requests that
 * wait while a batch runs are merged: those for the same layer with the same per-item shape run as
 * one batch (up to `maxBatch` items) and are split back, each answered under its own id; if a
 * merged batch fails, its requests run one by one, so one bad request fails only itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import '../../kernels/exact-linear.js'; // registers the 'js' and 'ort' kernels
import type { ExactKernels } from '../../kernels/exact-linear.js';
import { openKernels, type KernelOptionMap } from '../../kernels/registry.js';
import '../webgpu/register.js'; // registers the 'webgpu' kernels
import { AcceleratorHost } from '../host.js';
import type { FromWorker, ToWorker, WorkerConfig } from './messages.js';

const config = workerData as WorkerConfig;
const port = parentPort!;
// The kernels by name from kernels/registry.ts; each implementation reads the options it knows.
const kernels: Promise<ExactKernels> = openKernels(config.kernels, { threads: config.threads, ...config.webgpu } as KernelOptionMap[typeof config.kernels]);
const host = kernels.then((k) => new AcceleratorHost(k));
// A failed start is reported to each request, not left as an unhandled rejection.
host.catch(() => {});

type Linear = Extract<ToWorker, { type: 'linear' }>;
const pending: ToWorker[] = [];
let draining = false;

const fail = (requestId: string, e: unknown): void => port.postMessage({ type: 'error', requestId, message: (e as Error)?.message ?? String(e) } satisfies FromWorker);

/** The result, with the request's buffer handed back (transferred) for the client's next request of its size. */
function reply(msg: Linear, out: { dims: number[]; data: Uint32Array; computeMs: number }): void {
  const returned = msg.x.buffer as ArrayBuffer;
  let data = out.data;
  // The client's spare, when it fits: the result goes back in memory the client already holds.
  if (msg.spare instanceof ArrayBuffer && msg.spare.byteLength === data.byteLength && data.buffer !== returned) {
    data = new Uint32Array(msg.spare);
    data.set(out.data);
  }
  const r: FromWorker = { type: 'result', requestId: msg.requestId, layerId: msg.layerId, ...out, data, returned };
  port.postMessage(r, data.buffer === returned ? [returned] : [data.buffer as ArrayBuffer, returned]);
}

const batchable = (m: ToWorker): m is Linear => m.type === 'linear' && Array.isArray(m.dims) && m.dims.length > 0 && Number.isInteger(m.dims[0]);
const sameItem = (a: Linear, b: Linear): boolean => a.layerId === b.layerId && a.dims.length === b.dims.length && a.dims.every((d, i) => i === 0 || d === b.dims[i]);

/** The next message, with the waiting requests it can share a batch with (never past a load). */
function takeNext(): ToWorker[] {
  const first = pending.shift()!;
  if (!batchable(first)) return [first];
  const batch: Linear[] = [first];
  let items = first.dims[0]!;
  for (let i = 0; i < pending.length; ) {
    const m = pending[i]!;
    if (m.type !== 'linear') break;
    if (batchable(m) && sameItem(first, m) && items + m.dims[0]! <= config.maxBatch) {
      batch.push(m);
      items += m.dims[0]!;
      pending.splice(i, 1);
    } else i++;
  }
  return batch;
}

async function handle(batch: ToWorker[]): Promise<void> {
  const msg = batch[0]!;
  try {
    const h = await host;
    if (msg.type === 'init') {
      const k = await kernels;
      port.postMessage({ type: 'ready', requestId: msg.requestId, device: k.device ?? `CPU, ${k.name} kernels` } satisfies FromWorker);
    } else if (msg.type === 'load') {
      await h.load(msg.layers);
      port.postMessage({ type: 'loaded', requestId: msg.requestId } satisfies FromWorker);
    } else if (batch.length === 1) {
      reply(msg, await h.linear(msg.layerId, msg.dims, msg.x));
    } else {
      const linears = batch as Linear[];
      let outs;
      try {
        outs = await h.linearBatch(msg.layerId, linears);
      } catch {
        for (const m of linears) await handle([m]);
        return;
      }
      linears.forEach((m, i) => reply(m, outs[i]!));
    }
  } catch (e) {
    fail(msg.requestId, e);
  }
}

async function drain(): Promise<void> {
  draining = true;
  try {
    while (pending.length > 0) await handle(takeNext());
  } finally {
    draining = false;
  }
}

port.on('message', (msg: ToWorker) => {
  pending.push(msg);
  if (!draining) void drain();
});
