/**
 * The embedded accelerator's thread: its own isolate, so it cannot read the trusted runtime's
 * memory (keys, pads, Freivalds secrets). Decodes requests, runs the host one request at a time (the
 * kernels reuse scratch memory), posts results.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createExactKernels, type ExactKernelsName } from '../../kernels/exact-linear.js';
import { AcceleratorHost } from '../host.js';
import type { FromWorker, ToWorker } from './messages.js';

const { kernels, threads } = workerData as { kernels: ExactKernelsName; threads: number };
const port = parentPort!;
const host = createExactKernels(kernels, threads).then((k) => new AcceleratorHost(k));
let queue: Promise<void> = Promise.resolve();

async function handle(msg: ToWorker): Promise<void> {
  try {
    const h = await host;
    if (msg.type === 'load') {
      h.load(msg.layers);
      port.postMessage({ type: 'loaded', requestId: msg.requestId } satisfies FromWorker);
    } else {
      const out = await h.linear(msg.layerId, msg.dims, msg.x);
      const returned = msg.x.buffer as ArrayBuffer;
      const reply: FromWorker = { type: 'result', requestId: msg.requestId, layerId: msg.layerId, ...out, returned };
      port.postMessage(reply, out.data.buffer === returned ? [returned] : [out.data.buffer as ArrayBuffer, returned]);
    }
  } catch (e) {
    port.postMessage({ type: 'error', requestId: msg.requestId, message: (e as Error)?.message ?? String(e) } satisfies FromWorker);
  }
}

port.on('message', (msg: ToWorker) => {
  queue = queue.then(() => handle(msg));
});
