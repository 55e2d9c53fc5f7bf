/**
 * The pad refill process of `slalom serve` (pad-source.ts): lowers its own priority first, loads the
 * model from the artifact its parent wrote, checks it is the parent's (weightsHash), then
 * precomputes pads into the store whenever the parent asks, reporting each one.
 */
import { setPriority } from 'node:os';
import { PadStore } from '../blind/pad-store.js';
import { FileCounters } from '../blind/monotonic-counter.js';
import { TrustedState } from '../blind/trusted-state.js';
import { createExactKernels } from '../kernels/exact-linear.js';
import { SlalomModel } from '../runtime/model.js';
import { precomputePads } from '../runtime/precompute.js';
import type { FromRefillChild, RefillChildConfig, ToRefillChild } from './pad-source.js';

const send = (m: FromRefillChild): void => void process.send?.(m);

const config = JSON.parse(process.argv[2] ?? '{}') as RefillChildConfig;
try {
  // Before any thread starts (onnxruntime's, libuv's): they inherit the niceness of the main thread.
  setPriority(config.nice);
} catch {
  // Not allowed on this system: the refill then competes at normal priority.
}

try {
  const model = await SlalomModel.load(config.artifact);
  if (model.weightsHash !== config.weightsHash) throw new Error(`the refill loaded weights ${model.weightsHash.slice(0, 12)}…, not the service's ${config.weightsHash.slice(0, 12)}…`);
  const state = TrustedState.open(config.stateDir, config.counterDir !== undefined ? { counters: new FileCounters(config.counterDir) } : {});
  const store = new PadStore(config.store);
  const kernels = await createExactKernels(config.kernels);
  let queue = Promise.resolve();
  process.on('message', (m: ToRefillChild) => {
    if (m?.type !== 'produce' || !Number.isSafeInteger(m.count) || m.count < 1) return;
    queue = queue.then(async () => {
      try {
        await precomputePads(model.quantized, model, state, store, m.count, kernels, () => send({ type: 'pad' }));
        send({ type: 'done', made: m.count });
      } catch (e) {
        send({ type: 'error', message: (e as Error).message });
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
} catch (e) {
  send({ type: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
