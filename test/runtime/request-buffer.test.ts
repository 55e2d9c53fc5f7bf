/**
 * No second copy of a request (issue 23, deliverable 3): the boundary pass that produces a linear
 * layer's request (from the previous layer's reply, or from floats) writes it into the embedded
 * worker's own request buffer too, and that buffer is what leaves — for every layer, with each
 * implementation of the pass, and with the same logits as baseline.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachBoundary } from '../helpers/boundary-implementations.js';
import type { AcceleratorBackend, LinearRequest } from '../../src/accel/backend.js';
import { WorkerBackend } from '../../src/accel/worker/client.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openProtocol } from '../../src/runtime/session.js';
import { syntheticInput } from './modes-helpers.js';

/** What each request carried: whether it came in a request buffer, and whether that buffer held x. */
interface Sent {
  readonly layerId: number;
  readonly wire: boolean;
  readonly wireHoldsX: boolean;
}

/** The worker, with every request recorded as it is handed over. */
function recording(worker: WorkerBackend, sent: Sent[]): AcceleratorBackend {
  return {
    name: worker.name,
    loadWeights: (layers) => worker.loadWeights(layers),
    linear(request: LinearRequest) {
      const { wire, x } = request;
      sent.push({ layerId: request.layerId, wire: wire !== undefined, wireHoldsX: wire !== undefined && wire.length === x.length && wire.every((v, i) => v === x[i]) });
      return worker.linear(request);
    },
    recycle: (id) => worker.recycle(id),
    requestBuffer: (values) => worker.requestBuffer(values),
    close: () => worker.close(),
  };
}

describeEachBoundary('requests leave in the buffer the pass wrote', () => {
  let model: SlalomModel;
  before(async () => {
    model = await SlalomModel.load('models/fashion-mnist.onnx');
  });
  const workers: WorkerBackend[] = [];
  after(async () => {
    for (const w of workers) await w.close();
  });

  for (const mode of ['verified', 'private+verified'] as const) {
    it(`${mode}: every layer, with baseline's logits`, async () => {
      const input = syntheticInput(model.inputDims, 11);
      const expected = (await model.infer(input, { mode: 'baseline' })).logits;
      const sent: Sent[] = [];
      const worker = new WorkerBackend();
      workers.push(worker);
      const protocol = await openProtocol(model, mode, { accelerator: recording(worker, sent), ...(mode === 'private+verified' ? { pads: { source: 'memory', capacity: 2 } } : {}) });
      try {
        for (let k = 0; k < 2; k++) assert.deepEqual([...(await model.infer(input, { mode, protocol })).logits], [...expected]);
      } finally {
        await protocol.close?.();
      }
      const layers = model.quantized.layers.length;
      assert.equal(sent.length, 2 * layers);
      for (const [k, s] of sent.entries()) assert.ok(s.wire && s.wireHoldsX, `request ${k} (layer ${s.layerId}) left in its request buffer, which holds exactly x`);
    });
  }
});
