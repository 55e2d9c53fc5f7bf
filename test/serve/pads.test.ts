/**
 * The trusted service's pads and its accelerator (src/serve/): private+verified requests on an empty
 * store wait for the background refill (a child process) and each get their own pad, never one
 * twice, while another precompute run fills the same store (disjoint ledger ranges); the `fail`
 * policy answers 503 and counts it; a lying accelerator gets every affected request an error and
 * none a result (metrics count it), and is re-admitted once honest (a canary); two lanes pipeline: one request's accelerator work overlaps
 * another's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AcceleratorBackend } from '../../src/accel/backend.js';
import { LocalBackend } from '../../src/accel/local.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { SlalomClient } from '../../src/client/client.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openStore, precomputePads } from '../../src/runtime/precompute.js';
import { TrustedServer } from '../../src/serve/server.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { CheatingBackend } from '../accel/cheating.js';
import { sample, scrape } from '../helpers/prometheus.js';

const MODEL = 'models/fashion-mnist.onnx';
const IMAGES = ['examples/fashion-mnist-0-boot.png', 'examples/fashion-mnist-1-pullover.png', 'examples/fashion-mnist-2-trouser.png'];

describe('slalom serve: pads, refill, lying accelerators, pipelining', () => {
  let model: SlalomModel;
  let inputs: Tensor[];
  let dir: string;

  before(async () => {
    model = await SlalomModel.load(MODEL);
    inputs = await Promise.all(IMAGES.map((p) => model.loadInput(p)));
    dir = mkdtempSync(join(tmpdir(), 'slalom-serve-pads-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('private+verified on an empty store: requests wait for the refill, each gets its own pad, runs never share indices', async () => {
    const store = join(dir, 'pads');
    const stateDir = join(dir, 'state');
    // No refill on the timer (60 s): only demand starts one, so the first requests surely find the store empty and wait.
    const server = await TrustedServer.start({ models: [{ model, mode: 'private+verified', lanes: 2, pads: { store, stateDir, onEmpty: 'wait', refill: { lowWater: 2, highWater: 4, chunk: 2, intervalMs: 60_000, nice: 5 } } }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      // Meanwhile another precompute run (as `slalom precompute` would) fills the same store.
      const kernels = await createExactKernels('js');
      const other = new Promise((r) => setTimeout(r, 300)).then(() => precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(store), 2, kernels));
      const answers = await Promise.all([...inputs, ...inputs].map((x) => client.infer(model.name, x)));
      const extra = await other;
      await kernels.close();
      const used = answers.flatMap((a) => a.receipt.body.pads!.indices);
      assert.equal(new Set(used).size, used.length, `pads used once each: ${used}`);
      for (const a of answers) {
        assert.equal(a.mode, 'private+verified');
        assert.equal(a.receipt.body.pads!.source, 'store');
      }
      assert.deepEqual(answers.map((a) => a.topK![0]![0]!.label), ['Ankle boot', 'Pullover', 'Trouser', 'Ankle boot', 'Pullover', 'Trouser']);
      // The ledger: every index reserved once (ranges disjoint, by construction of `next`), none used twice.
      const { ledger } = openStore(TrustedState.open(stateDir), new PadStore(store), model);
      const d = ledger.read();
      assert.ok(d.next >= used.length);
      assert.ok(extra.from >= 0 && extra.to <= d.next);
      for (const i of used) assert.equal(ledger.isSpent(i), true);
      const { families } = await scrape(server.url);
      assert.ok((sample(families, 'slalom_serve_pads_precomputed_total', { model: model.name }) ?? 0) >= 2);
      assert.notEqual(sample(families, 'slalom_serve_pads_remaining', { model: model.name }), undefined);
      assert.ok((sample(families, 'slalom_serve_pads_exhausted_total', { model: model.name, policy: 'wait' }) ?? 0) >= 1);
    } finally {
      await server.close();
    }
  });

  it("policy 'fail' with no pad ready answers 503 + Retry-After, counted in the metrics", async () => {
    const server = await TrustedServer.start({ models: [{ model, mode: 'private', lanes: 1, pads: { store: join(dir, 'empty'), stateDir: join(dir, 'state2'), onEmpty: 'fail', refill: false } }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      await assert.rejects(client.infer(model.name, inputs[0]!), (e: Error & { code?: string }) => e.code === 'SLALOM_ERR_TRANSPORT' && /503/.test(e.message));
      const res = await fetch(`${server.url}/v2/models/${model.name}/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP64', shape: inputs[0]!.dims, data: Array.from(inputs[0]!.data) }] }) });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(sample((await scrape(server.url)).families, 'slalom_serve_pads_exhausted_total', { policy: 'fail' }), 2);
    } finally {
      await server.close();
    }
  });

  it('a lying accelerator: every affected request gets an error, none a result; honest again, it is re-admitted', async () => {
    const liar = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [2] });
    const server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 2, accelerator: liar, admission: { backoffMs: 20 } }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const results = await Promise.allSettled(inputs.map((x) => client.infer(model.name, x)));
      let refused = 0;
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        const { code, message } = (r as PromiseRejectedResult).reason;
        // A lie is a 502; a request that starts while the liar is quarantined is refused (503) before anything is sent.
        if (code === 'SLALOM_ERR_TRANSPORT') {
          assert.match(message, /503.*no accelerator is admitted/);
          refused++;
        } else {
          assert.equal(code, 'SLALOM_ERR_INTEGRITY');
          assert.match(message, /502/);
        }
      }
      assert.equal(liar.tampered.length, inputs.length - refused);
      const { families } = await scrape(server.url);
      assert.equal(sample(families, 'slalom_serve_integrity_failures_total', { model: model.name }), inputs.length - refused);
      assert.equal(sample(families, 'slalom_serve_requests_total', { outcome: 'integrity' }), inputs.length - refused);
      assert.equal(sample(families, 'slalom_serve_requests_total', { outcome: 'ok' }), undefined);
      liar.enabled = false; // an honest accelerator again: re-admitted after its canary, then results again
      const admission = server.served(model.name)!.admission!;
      for (const deadline = performance.now() + 10_000; !admission.admitted(); ) {
        assert.ok(performance.now() < deadline, 'the honest accelerator is re-admitted');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await client.infer(model.name, inputs[0]!)).topK![0]![0]!.label, 'Ankle boot');
    } finally {
      await server.close();
    }
  });

  it('two lanes pipeline: the accelerator works on one request while the trusted side works on another', async () => {
    // An accelerator that takes 20 ms per layer and records when each request is inside it.
    const inner = new LocalBackend();
    const busy: { start: number; end: number; request: string }[] = [];
    const slow: AcceleratorBackend = {
      name: 'slow',
      loadWeights: (l) => inner.loadWeights(l),
      async linear(req) {
        const start = performance.now();
        await new Promise((r) => setTimeout(r, 20));
        const reply = await inner.linear(req);
        busy.push({ start, end: performance.now(), request: req.requestId });
        return reply;
      },
      close: () => inner.close(),
    };
    const server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 2, accelerator: slow }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const t0 = performance.now();
      await Promise.all([client.infer(model.name, inputs[0]!), client.infer(model.name, inputs[1]!)]);
      const both = performance.now() - t0;
      // Layer calls of different requests overlapped in time (5 layers × 20 ms each, two requests).
      const overlapping = busy.some((a) => busy.some((b) => a !== b && a.start < b.end && b.start < a.end));
      assert.ok(overlapping, 'accelerator calls of the two requests overlap');
      assert.ok(both < 2 * 5 * 20 + 400, `two requests took ${both.toFixed(0)} ms`);
    } finally {
      await server.close();
    }
  });
});
