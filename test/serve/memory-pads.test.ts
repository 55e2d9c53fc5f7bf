/**
 * The trusted service with pads from the in-memory pool (`slalom serve --pads memory`,
 * serve/memory-pad-source.ts): one pool shared by a model's lanes. Private+verified answers are
 * bit-identical to baseline, their signed receipts name the pool (source memory, one identity), and
 * no pad index is used twice across concurrent requests, more of them than the pool holds, which
 * wait for its thread; the `fail` policy answers 503 + Retry-After when the pool is empty, `local`
 * runs that request in the trusted runtime; stats and metrics show the pads remaining. The CLI
 * serves `--pads memory` without a store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { createSession } from '../../src/api/session.js';
import { SlalomClient } from '../../src/client/client.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { TrustedServer } from '../../src/serve/server.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { sample, scrape } from '../helpers/prometheus.js';

const MODEL = 'models/fashion-mnist.onnx';
const IMAGES = ['examples/fashion-mnist-0-boot.png', 'examples/fashion-mnist-1-pullover.png', 'examples/fashion-mnist-2-trouser.png'];
/** Longer than any test: the pool refills only when a request asks for a pad (policy wait). */
const NEVER_IDLE = 600_000;

interface PadStats {
  readonly source: string;
  readonly remaining: number;
  readonly capacity?: number;
  readonly produced: number;
}

/** The pads part of `/v2/slalom/stats` at `url` for `model`. */
async function padStats(url: string, model: string): Promise<PadStats> {
  const res = await fetch(`${url}/v2/slalom/stats`);
  return ((await res.json()) as { models: Record<string, { pads: PadStats }> }).models[model]!.pads;
}

describe('slalom serve --pads memory', () => {
  let model: SlalomModel;
  let inputs: Tensor[];
  /** Baseline logits per input: the trusted runtime alone. */
  let expected: number[][];

  before(async () => {
    model = await SlalomModel.load(MODEL);
    inputs = await Promise.all(IMAGES.map((p) => model.loadInput(p)));
    const baseline = await createSession(model, { mode: 'baseline' });
    try {
      expected = [];
      for (const x of inputs) expected.push(Array.from((await baseline.run(x)).outputs['logits']!.data));
    } finally {
      await baseline.close();
    }
  });

  it('private+verified: results bit-identical to baseline, receipts name the pool, every pad index used once', async () => {
    const server = await TrustedServer.start({ models: [{ model, mode: 'private+verified', lanes: 2, pads: { source: 'memory', capacity: 2, onEmpty: 'wait' } }] });
    try {
      const full = await padStats(server.url, model.name);
      assert.deepEqual([full.source, full.remaining, full.capacity, full.produced], ['memory', 2, 2, 2], 'the pool starts full');
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      // Six requests at once on a pool of two: most wait for its thread.
      const order = [0, 1, 2, 0, 1, 2];
      const answers = await Promise.all(order.map((k) => client.infer(model.name, inputs[k]!)));
      for (const [j, a] of answers.entries()) {
        assert.equal(a.mode, 'private+verified');
        assert.equal(a.integrity, 'freivalds');
        assert.deepEqual(Array.from(a.outputs['logits']!.data), expected[order[j]!], `request ${j}: the baseline's logits, bit for bit`);
        assert.equal(a.receipt.body.pads!.source, 'memory');
        assert.equal(a.receipt.body.pads!.epoch, 0);
        assert.match(a.receipt.body.pads!.identity, /^[0-9a-f]{32}$/);
      }
      assert.equal(new Set(answers.map((a) => a.receipt.body.pads!.identity)).size, 1, 'one pool for both lanes');
      const used = answers.flatMap((a) => a.receipt.body.pads!.indices);
      assert.equal(used.length, order.length);
      assert.equal(new Set(used).size, used.length, `pads used once each: ${used}`);

      const stats = await padStats(server.url, model.name);
      assert.equal(stats.capacity, 2);
      assert.ok(stats.produced >= used.length, `the pool made ${stats.produced} pads for ${used.length} requests`);
      const { families } = await scrape(server.url);
      assert.equal(sample(families, 'slalom_serve_pads_remaining', { model: model.name }), stats.remaining);
      assert.ok((sample(families, 'slalom_serve_pads_precomputed_total', { model: model.name }) ?? 0) >= used.length);
      assert.ok((sample(families, 'slalom_serve_pads_exhausted_total', { model: model.name, policy: 'wait' }) ?? 0) >= 1, 'requests found the pool empty and waited');
      assert.equal(sample(families, 'slalom_serve_requests_total', { model: model.name, outcome: 'ok' }), order.length);
    } finally {
      await server.close();
    }
  });

  it("policy 'fail': a request that finds the pool empty gets 503 + Retry-After, counted in the metrics", async () => {
    const server = await TrustedServer.start({ models: [{ model, mode: 'private', lanes: 2, pads: { source: 'memory', capacity: 1, idleMs: NEVER_IDLE, onEmpty: 'fail' } }] });
    try {
      const body = (x: Tensor): string => JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP64', shape: x.dims, data: Array.from(x.data) }] });
      const infer = (x: Tensor): Promise<Response> => fetch(`${server.url}/v2/models/${model.name}/infer`, { method: 'POST', body: body(x) });
      // Two at once on two lanes and one pad: one runs, the other finds no pad.
      const both = await Promise.all([infer(inputs[0]!), infer(inputs[1]!)]);
      const statuses = both.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 503]);
      const refused = both.find((r) => r.status === 503)!;
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.match(((await refused.json()) as { error: string }).error, /no one-time pad is ready/);
      const ok = (await both.find((r) => r.status === 200)!.json()) as { parameters: { slalom_receipt: { body: { pads: { source: string } } } } };
      assert.equal(ok.parameters.slalom_receipt.body.pads.source, 'memory');
      // The pool refills in idle time only (not within this test): the next request is refused too.
      assert.equal((await infer(inputs[2]!)).status, 503);
      assert.equal((await padStats(server.url, model.name)).remaining, 0);
      const { families } = await scrape(server.url);
      assert.equal(sample(families, 'slalom_serve_pads_exhausted_total', { model: model.name, policy: 'fail' }), 2);
      assert.equal(sample(families, 'slalom_serve_pads_remaining', { model: model.name }), 0);
    } finally {
      await server.close();
    }
  });

  it("policy 'local': with the pool empty, that request runs in the trusted runtime (mode baseline, no pad)", async () => {
    const server = await TrustedServer.start({ models: [{ model, mode: 'private+verified', lanes: 1, pads: { source: 'memory', capacity: 1, idleMs: NEVER_IDLE, onEmpty: 'local' } }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const first = await client.infer(model.name, inputs[0]!);
      const second = await client.infer(model.name, inputs[1]!);
      assert.equal(first.mode, 'private+verified');
      assert.equal(first.receipt.body.pads!.source, 'memory');
      assert.equal(second.mode, 'baseline');
      assert.equal(second.receipt.body.pads, null);
      assert.deepEqual(Array.from(second.outputs['logits']!.data), expected[1]);
      assert.equal(sample((await scrape(server.url)).families, 'slalom_serve_pads_exhausted_total', { model: model.name, policy: 'local' }), 1);
    } finally {
      await server.close();
    }
  });

  it('the CLI: `slalom serve --mode private --pads memory --pad-pool 2` needs no store and answers with the pool\'s pads', async () => {
    const child = spawn(process.execPath, ['bin/slalom.js', 'serve', '--model', MODEL, '--mode', 'private', '--pads', 'memory', '--pad-pool', '2', '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = once(child, 'exit');
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = out.match(/listening on (http:\/\/\S+)/);
          if (m) resolve(m[1]!);
        });
        void exited.then(([code]) => reject(new Error(`slalom serve exited with ${code}: ${err}`)));
      });
      const stats = await padStats(url, model.name);
      assert.deepEqual([stats.source, stats.remaining, stats.capacity], ['memory', 2, 2]);
      const res = await fetch(`${url}/v2/models/${model.name}/infer`, { method: 'POST', body: readFileSync('examples/fashion-mnist-0-boot.json', 'utf8') });
      const json = (await res.json()) as { parameters: { slalom_mode: string; slalom_receipt: { body: { pads: { source: string; indices: number[] } } } } };
      assert.equal(res.status, 200, JSON.stringify(json));
      assert.equal(json.parameters.slalom_mode, 'private');
      assert.equal(json.parameters.slalom_receipt.body.pads.source, 'memory');
      assert.equal(json.parameters.slalom_receipt.body.pads.indices.length, 1);
    } finally {
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, `slalom serve stopped cleanly on SIGTERM: ${err}`);
    }
  });
});
