/**
 * The embedded accelerator's thread: its own isolate, so it cannot read the trusted runtime's
 * memory (keys, pads, Freivalds secrets). Decodes requests, runs the host, posts results.
 */
import { parentPort } from 'node:worker_threads';
import { AcceleratorHost } from '../host.js';
import type { FromWorker, ToWorker } from './messages.js';

const host = new AcceleratorHost();
const port = parentPort!;

port.on('message', (msg: ToWorker) => {
  let reply: FromWorker;
  try {
    if (msg.type === 'load') {
      host.load(msg.layers);
      reply = { type: 'loaded', requestId: msg.requestId };
    } else {
      const out = host.linear(msg.layerId, msg.dims, msg.x);
      reply = { type: 'result', requestId: msg.requestId, layerId: msg.layerId, ...out };
      port.postMessage(reply, [out.data.buffer as ArrayBuffer]);
      return;
    }
  } catch (e) {
    reply = { type: 'error', requestId: msg.requestId, message: (e as Error).message ?? String(e) };
  }
  port.postMessage(reply);
});
