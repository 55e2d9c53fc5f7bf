/**
 * The pad pool's thread (pad-pool.ts): a thread of the trusted runtime — never the accelerator's —
 * that precomputes pads into the slots the pool hands it, in the trusted runtime's own (shared)
 * memory: per layer r_{i,l} from the pool's ephemeral key (blind/keystream.ts), u_{i,l} = f(r_{i,l})
 * with the exact kernels, both packed 3 bytes per residue. One pad at a time, in order; 'stop'
 * skips what is queued and says 'stopped' once nothing runs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { padVector } from '../blind/keystream.js';
import { packResidues } from '../field/pack24.js';
import { createExactKernels } from '../kernels/exact-linear.js';
import { sizeOf } from '../tensor/tensor.js';
import type { FillMessage, FromPoolWorker, PoolWorkerData, ToPoolWorker } from './pad-pool.js';

const data = workerData as PoolWorkerData;
const port = parentPort!;
const kernels = createExactKernels(data.kernels, 1);
let queue: Promise<void> = Promise.resolve();

async function fill(m: FillMessage): Promise<void> {
  try {
    const k = await kernels;
    const start = performance.now();
    for (const [i, layer] of data.layers.entries()) {
      const r = padVector(data.key, m.index, layer.id, sizeOf(layer.inDims!));
      const u = await k.apply(layer, layer.inDims!, r);
      // The shared memory's current extent: the pool placed the slot before asking.
      const memory = new Uint8Array(data.memory.buffer);
      packResidues(r, memory.subarray(m.layout.r[i]!, m.layout.r[i]! + 3 * r.length));
      packResidues(u, memory.subarray(m.layout.u[i]!, m.layout.u[i]! + 3 * u.length));
    }
    port.postMessage({ type: 'filled', slot: m.slot, index: m.index, ms: performance.now() - start } satisfies FromPoolWorker);
  } catch (e) {
    port.postMessage({ type: 'error', slot: m.slot, message: (e as Error)?.message ?? String(e) } satisfies FromPoolWorker);
  }
}

/** Set by 'stop': fills still queued are skipped. */
let stopping = false;

/**
 * Runs once the pad being made is done: closes the kernels and says so; only then does the pool
 * terminate this thread (one terminated inside onnxruntime aborts the whole process).
 */
async function stop(): Promise<void> {
  try {
    await (await kernels).close();
  } catch {
    // kernels that never started hold nothing
  }
  port.postMessage({ type: 'stopped' } satisfies FromPoolWorker);
}

port.on('message', (m: ToPoolWorker) => {
  if (m.type === 'stop') stopping = true;
  queue = queue.then(() => (m.type === 'stop' ? stop() : stopping ? undefined : fill(m)));
});
