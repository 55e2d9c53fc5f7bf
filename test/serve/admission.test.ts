/**
 * What `slalom serve` says ran, and how it recovers from a lie (issue 20, deliverable 4;
 * src/serve/accelerator-admission.ts, runtime/execution.ts):
 * - `--on-failure recompute` with an accelerator that lies on layer 2: the first request's receipt
 *   names layers 0–1 'accelerator+freivalds', layer 2 recomputed in the trusted runtime and the
 *   incident, soundness over the two checked layers only; the next request (accelerator quarantined)
 *   says every layer ran in the trusted runtime, integrity 'trusted-runtime', no soundness claimed —
 *   and its outputs are the baseline's;
 * - `--on-failure abort`, private+verified on an in-memory pool: the lie is a 502; while the
 *   accelerator is quarantined a request is refused (503) before it takes a pad (the pool's count and
 *   the next receipt's pad index show none was spent); once the accelerator is honest again, a health
 *   probe and a canary re-admit it and requests are served from it again, checked;
 * - the same over HTTP, through a proxy that tampers with the accelerator service's replies: the
 *   the health probe lifts the HttpBackend's quarantine, a failed canary puts it back, and the
 *   service asks it again only once a canary passed.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { HttpBackend } from '../../src/accel/http/client.js';
import { startAcceleratorServer } from '../../src/accel/http/server.js';
import { LocalBackend } from '../../src/accel/local.js';
import { createSession } from '../../src/api/session.js';
import { SlalomClient } from '../../src/client/client.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { TrustedServer } from '../../src/serve/server.js';
import { CheatingBackend } from '../accel/cheating.js';

const MODEL = 'models/fashion-mnist.onnx';
const IMAGE = 'examples/fashion-mnist-0-boot.png';
const LIE_AT = 2;

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('slalom serve after a lie: receipts tell what ran, the accelerator is re-admitted', async () => {
  const model = await SlalomModel.load(MODEL);
  const x = await model.loadInput(IMAGE);
  const names = model.quantized.layers.map((l) => l.name);
  const baseline = await createSession(model, { mode: 'baseline' });
  const expected = Array.from((await baseline.run(x)).outputs[model.outputNames[0]!]!.data);
  await baseline.close();

  it('--on-failure recompute: the receipts name the recomputed and trusted-runtime layers and the incident; soundness covers the checked layers only', async () => {
    const liar = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [LIE_AT] });
    const server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 1, accelerator: liar, session: { onFailure: 'recompute' }, admission: { backoffMs: 60_000 } }], log: () => {} });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const configured = server.served(model.name)!;
      const first = await client.infer(model.name, x);
      const body = first.receipt.body;
      assert.deepEqual(
        body.execution[0]!.map((l) => l.ran),
        names.map((_, i) => (i < LIE_AT ? 'accelerator+freivalds' : 'trusted')),
      );
      assert.match(body.execution[0]![LIE_AT]!.reason!, /recomputed .*SLALOM_ERR_INTEGRITY/);
      assert.deepEqual(body.incidents, [{ layer: names[LIE_AT], code: 'SLALOM_ERR_INTEGRITY' }]);
      assert.equal(body.integrity, 'freivalds');
      // The union bound over the two checked layers, not over every layer.
      const session = await createSession(model, { mode: 'verified' });
      const everyLayer = session.verification!.soundnessLog2PerInference;
      await session.close();
      assert.ok(Math.abs(body.soundnessLog2! - (everyLayer - Math.log2(names.length) + Math.log2(LIE_AT))) < 1e-9, `claimed 2^${body.soundnessLog2} with ${LIE_AT} of ${names.length} layers checked, 2^${everyLayer} for all`);
      assert.equal(Array.from(first.outputs[model.outputNames[0]!]!.data).join(), expected.join());
      assert.equal(configured.admission!.admitted(), false);

      const second = await client.infer(model.name, x);
      const b2 = second.receipt.body;
      assert.deepEqual(b2.execution[0]!.map((l) => l.ran), names.map(() => 'trusted'));
      for (const l of b2.execution[0]!) assert.match(l.reason!, /no accelerator admitted/);
      assert.equal(b2.integrity, 'trusted-runtime');
      assert.equal(b2.soundnessLog2, null);
      assert.equal(b2.verification, null);
      assert.equal(b2.mode, 'baseline');
      assert.equal(Array.from(second.outputs[model.outputNames[0]!]!.data).join(), expected.join());
      assert.equal(liar.tampered.length, 1, 'the quarantined accelerator is asked nothing');
    } finally {
      await server.close();
    }
  });

  it('--on-failure abort: a request while quarantined is refused before it takes a pad; the honest-again accelerator is re-admitted after its canary', async () => {
    const liar = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [LIE_AT] });
    const events: string[] = [];
    const server = await TrustedServer.start({
      models: [{ model, mode: 'private+verified', lanes: 1, accelerator: liar, pads: { source: 'memory', capacity: 4, idleMs: 60_000 }, session: { onFailure: 'abort' }, admission: { backoffMs: 40, onEvent: (e) => events.push(e.kind) } }],
      log: () => {},
    });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const served = server.served(model.name)!;
      const admission = served.admission!;
      await assert.rejects(client.infer(model.name, x), (e: { code?: string; message: string }) => e.code === 'SLALOM_ERR_INTEGRITY' && /502/.test(e.message));
      assert.equal(admission.admitted(), false);
      const padsLeft = served.pads!.remaining();
      await assert.rejects(client.infer(model.name, x), (e: { code?: string; message: string }) => e.code === 'SLALOM_ERR_TRANSPORT' && /503/.test(e.message) && /no pad spent/.test(e.message));
      assert.equal(served.pads!.remaining(), padsLeft, 'the refused request spent no pad');
      // Still lying: its canaries fail and it stays out.
      await until(() => events.includes('canary-failed'), 5000);
      assert.equal(admission.admitted(), false);
      liar.enabled = false;
      await until(() => admission.admitted(), 10_000);
      assert.equal(admission.readmissions, 1);
      const served3 = await client.infer(model.name, x);
      const b = served3.receipt.body;
      assert.deepEqual(b.execution[0]!.map((l) => l.ran), names.map(() => 'accelerator+freivalds'));
      assert.equal(b.mode, 'private+verified');
      assert.deepEqual(b.incidents, []);
      // Pads 0 (the lie) and 1 (this one): the refused request took none.
      assert.deepEqual(b.pads!.indices, [1]);
      assert.equal(Array.from(served3.outputs[model.outputNames[0]!]!.data).join(), expected.join());
    } finally {
      await server.close();
    }
  });
});

/** An HTTP proxy in front of an accelerator service that, while `lying`, adds 1 to a value of every inference reply. */
async function lyingProxy(target: string): Promise<{ url: string; lying: boolean; tampered: number; close(): Promise<void> }> {
  const state = { url: '', lying: true, tampered: 0, close: async () => {} };
  const server = createServer((req, res) => {
    const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        const body = Buffer.concat(chunks);
        if (state.lying && req.method === 'POST' && /\/infer$/.test(req.url ?? '') && up.statusCode === 200 && up.headers['inference-header-content-length'] !== undefined && body.length >= 4) {
          body[body.length - 4]! ^= 1; // the last residue's low bit: still in range, wrong
          state.tampered++;
        }
        res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(body.length) });
        res.end(body);
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}

describe('slalom serve over an HTTP accelerator that lies, then is honest', () => {
  it('quarantined after the lie (503 before anything is sent), re-admitted after a health probe and a canary', async () => {
    const model = await SlalomModel.load(MODEL);
    const x = await model.loadInput(IMAGE);
    const accel = await startAcceleratorServer({});
    const proxy = await lyingProxy(accel.url);
    const backend = new HttpBackend({ urls: [proxy.url], timeoutMs: 5_000 });
    const events: string[] = [];
    const server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 1, accelerator: backend, session: { onFailure: 'abort' }, admission: { backoffMs: 40, onEvent: (e) => events.push(e.kind) } }], log: () => {} });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const admission = server.served(model.name)!.admission!;
      await assert.rejects(client.infer(model.name, x), (e: { code?: string }) => e.code === 'SLALOM_ERR_INTEGRITY' || e.code === 'SLALOM_ERR_MALFORMED');
      assert.match(backend.stats().accelerators[0]!.quarantined ?? '', /refused/);
      const tampered = proxy.tampered;
      await assert.rejects(client.infer(model.name, x), (e: { code?: string; message: string }) => e.code === 'SLALOM_ERR_TRANSPORT' && /no accelerator is admitted/.test(e.message));
      await until(() => events.includes('canary-failed'), 5000);
      assert.ok(proxy.tampered > tampered, 'the canary went to the accelerator, and was caught');
      proxy.lying = false;
      await until(() => admission.admitted(), 10_000);
      assert.equal(backend.stats().accelerators[0]!.quarantined, undefined);
      const r = await client.infer(model.name, x);
      assert.deepEqual(new Set(r.execution[0]!.map((l) => l.ran)), new Set(['accelerator+freivalds']));
      assert.equal(r.integrity, 'freivalds');
    } finally {
      await server.close();
      await proxy.close();
      await accel.close();
    }
  });
});
