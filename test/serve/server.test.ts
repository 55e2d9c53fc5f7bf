/**
 * The trusted inference service (src/serve/) in-process on port 0, against the Fashion-MNIST model:
 * the README's curl request (examples/fashion-mnist-0-boot.json, FP32 JSON) answers the same top-1
 * and logits as `slalom infer` in the same mode; both servers' /metrics parse as Prometheus text (an
 * independent parser) with the counts the requests made; bad requests get typed 4xx; a full queue is
 * 503 + Retry-After; the TypeScript client's encrypted request round-trips, a client whose policy
 * refuses the attestation sends nothing, a replayed or tampered ciphertext is refused; a saved
 * receipt verifies with `slalom client verify-receipt` and fails once a field is changed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startAcceleratorServer } from '../../src/accel/http/server.js';
import { createSession } from '../../src/api/session.js';
import { REQUEST_CONTENT_TYPE, sealRequest } from '../../src/attest/channel.js';
import { SlalomClient } from '../../src/client/client.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { TrustedServer } from '../../src/serve/server.js';
import { sample, scrape } from '../helpers/prometheus.js';

const run = promisify(execFile);
const MODEL = 'models/fashion-mnist.onnx';
const IMAGE = 'examples/fashion-mnist-0-boot.png';
const CURL_JSON = 'examples/fashion-mnist-0-boot.json';

async function post(url: string, body: string | Buffer, headers: Record<string, string> = { 'Content-Type': 'application/json' }): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : Uint8Array.from(body), headers });
  const text = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, json, headers: res.headers };
}

describe('slalom serve (verified mode)', () => {
  let model: SlalomModel;
  let server: TrustedServer;
  let infer: string;

  before(async () => {
    model = await SlalomModel.load(MODEL);
    server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 2 }] });
    infer = `${server.url}/v2/models/${model.name}/infer`;
  });
  after(() => server.close());

  it("answers the README's curl request with the top-1 and logits of `slalom infer` in the same mode", async () => {
    const { status, json } = await post(infer, readFileSync(CURL_JSON, 'utf8'));
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.parameters.slalom_mode, 'verified');
    const logits = json.outputs.find((o: { name: string }) => o.name === 'logits');
    const topK = json.outputs.find((o: { name: string }) => o.name === 'top_k');
    // The CLI itself, as the README compares it.
    const cli = JSON.parse((await run(process.execPath, ['bin/slalom.js', 'infer', '--model', MODEL, '--input', IMAGE, '--mode', 'verified', '--json', '--no-progress'])).stdout);
    assert.deepEqual(logits.data, cli.logits);
    assert.equal(Number(String(topK.data[0]).split(':')[1]), cli.predictions[0][0].index);
    assert.match(topK.data[0], /:9:Ankle boot$/);
    // And a session on the image gives the very same doubles.
    const session = await createSession(model, { mode: 'verified' });
    try {
      const r = await session.run(await model.loadInput(IMAGE));
      assert.deepEqual(logits.data, Array.from(r.outputs['logits']!.data));
    } finally {
      await session.close();
    }
  });

  it('answers bad requests with typed 4xx errors and keeps serving', async () => {
    const good = JSON.parse(readFileSync(CURL_JSON, 'utf8'));
    const input = good.inputs[0];
    const cases: [unknown, number, RegExp][] = [
      ['not json', 400, /not valid JSON/],
      [{ inputs: [{ ...input, datatype: 'INT8' }] }, 400, /FP32 or FP64/],
      [{ inputs: [{ ...input, name: 'x' }] }, 400, /unknown input/],
      [{ inputs: [{ ...input, data: input.data.slice(1) }] }, 400, /values/],
      [{ inputs: [{ ...input, data: [...input.data.slice(1), 'NaN'] }] }, 400, /finite/],
      [{ inputs: [{ ...input, shape: [1, 1, 28, 27], data: input.data.slice(28) }] }, 400, /shape/],
      [{ inputs: [input], outputs: [{ name: 'nope' }] }, 400, /unknown output/],
    ];
    for (const [body, status, message] of cases) {
      const r = await post(infer, typeof body === 'string' ? body : JSON.stringify(body));
      assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
      assert.match(r.json.error, message);
    }
    assert.equal((await post(`${server.url}/v2/models/nope/infer`, '{}')).status, 404);
    assert.equal((await fetch(infer)).status, 405);
    const meta = await (await fetch(`${server.url}/v2/models/${model.name}`)).json();
    assert.deepEqual(meta.inputs, [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28] }]);
    assert.equal(meta.parameters.weights_hash, model.weightsHash);
    assert.equal((await post(infer, readFileSync(CURL_JSON, 'utf8'))).status, 200);
  });

  it("serves /metrics in Prometheus text format on both servers (parsed by an independent parser)", async () => {
    const { contentType, families } = await scrape(server.url);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.ok((sample(families, 'slalom_serve_requests_total', { model: model.name, outcome: 'ok' }) ?? 0) >= 2);
    assert.ok((sample(families, 'slalom_serve_requests_total', { outcome: 'invalid' }) ?? 0) >= 1);
    assert.equal(families.get('slalom_serve_phase_seconds')?.type, 'HISTOGRAM');
    // This parser merges a labelled histogram's samples into one (it drops the labels): check it parsed, with buckets.
    const phases = families.get('slalom_serve_phase_seconds')!.metrics[0]!;
    assert.ok(Number(phases.buckets?.['+Inf']) >= 1);
    for (const f of ['slalom_serve_queue_depth', 'slalom_serve_inflight', 'slalom_serve_integrity_failures_total', 'slalom_serve_http_responses_total', 'slalom_serve_process_resident_memory_bytes']) assert.ok(families.has(f), f);
    assert.throws(() => parsePrometheusTextFormat('# TYPE a counter\na{x=} 1\n'), /invalid line/, 'the parser refuses malformed text');

    const accel = await startAcceleratorServer({});
    try {
      const a = await scrape(accel.url);
      for (const f of ['slalom_accelerator_queue_depth', 'slalom_accelerator_batch_items', 'slalom_accelerator_compute_seconds', 'slalom_accelerator_inflight_bytes', 'slalom_accelerator_http_responses_total']) assert.ok(a.families.has(f), f);
      assert.equal(a.families.get('slalom_accelerator_batch_items')?.type, 'HISTOGRAM');
    } finally {
      await accel.close();
    }
  });

  it('the client: an encrypted request round-trips with a verified receipt; a refusing policy sends nothing', async () => {
    const x = await model.loadInput(IMAGE);
    await assert.rejects(SlalomClient.connect(server.url, { policy: {} }), { code: 'SLALOM_ERR_ATTESTATION', message: /none.*development/ });
    await assert.rejects(SlalomClient.connect(server.url, { policy: { allowDevelopment: true, weightsHash: 'f'.repeat(16) } }), /weights/);
    const before = sample((await scrape(server.url)).families, 'slalom_serve_requests_total', { outcome: 'ok' });
    const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true, weightsHash: model.weightsHash.slice(0, 16) } });
    const sealed = await client.infer(model.name, x);
    const plain = await client.infer(model.name, x, { encrypt: false });
    assert.equal(sealed.encrypted, true);
    assert.deepEqual(sealed.outputs['logits']!.data, plain.outputs['logits']!.data);
    assert.equal(sealed.mode, 'verified');
    assert.equal(sealed.integrity, 'freivalds');
    assert.ok(sealed.soundnessLog2! < -40);
    assert.equal(sealed.topK?.[0]?.[0]?.label, 'Ankle boot');
    assert.equal(sample((await scrape(server.url)).families, 'slalom_serve_requests_total', { outcome: 'ok' }), before! + 2, 'only the accepted client sent');
  });

  it('refuses a replayed or tampered ciphertext', async () => {
    const doc = await (await fetch(`${server.url}/v2/slalom/attestation`)).json();
    const pk = Buffer.from(doc.keys.hpke.publicKey, 'base64url');
    const json = readFileSync(CURL_JSON);
    const sealed = sealRequest(pk, model.name, { json, binary: Buffer.alloc(0) });
    const headers = { 'Content-Type': REQUEST_CONTENT_TYPE };
    const first = await post(infer, sealed.body, headers);
    assert.equal(first.status, 200);
    const again = await post(infer, sealed.body, headers);
    assert.equal(again.status, 409);
    assert.match(again.json.error, /replayed/);
    const tampered = Buffer.from(sealRequest(pk, model.name, { json, binary: Buffer.alloc(0) }).body);
    tampered[tampered.length - 20]! ^= 1;
    const bad = await post(infer, tampered, headers);
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /authenticate/);
    const other = await post(`${server.url}/v2/models/${model.name}/infer`, sealRequest(pk, 'another-model', { json, binary: Buffer.alloc(0) }).body, headers);
    assert.equal(other.status, 400);
    const { families } = await scrape(server.url);
    assert.ok((sample(families, 'slalom_serve_encrypted_requests_total', { result: 'replayed' }) ?? 0) >= 1);
  });

  it('`slalom client verify-receipt` checks a saved receipt and fails once a field is changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-receipt-'));
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const r = await client.infer(model.name, await model.loadInput(IMAGE));
      const good = join(dir, 'good.json');
      writeFileSync(good, JSON.stringify({ receipt: r.receipt, attestation: client.document }));
      const cli = (file: string, ...flags: string[]) => run(process.execPath, ['bin/slalom.js', 'client', 'verify-receipt', file, ...flags]);
      const ok = await cli(good, '--allow-development');
      assert.match(ok.stdout, /receipt valid/);
      assert.match(ok.stdout, /mode verified/);
      const badFile = join(dir, 'bad.json');
      writeFileSync(badFile, JSON.stringify({ receipt: { ...r.receipt, body: { ...r.receipt.body, mode: 'private+verified' } }, attestation: client.document }));
      await assert.rejects(cli(badFile, '--allow-development'), (e: { code: number; stderr: string }) => e.code === 7 && /does not verify/.test(e.stderr));
      await assert.rejects(cli(good), (e: { code: number; stderr: string }) => e.code === 7 && /development/.test(e.stderr));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('slalom serve back-pressure', () => {
  it('answers 503 with Retry-After once its queue is full, and serves the rest', async () => {
    const model = await SlalomModel.load(MODEL);
    const server = await TrustedServer.start({ models: [{ model, mode: 'baseline', lanes: 1, maxQueue: 1 }] });
    try {
      const body = readFileSync(CURL_JSON, 'utf8');
      const answers = await Promise.all(Array.from({ length: 8 }, () => post(`${server.url}/v2/models/${model.name}/infer`, body)));
      const busy = answers.filter((a) => a.status === 503);
      assert.ok(busy.length >= 1, `statuses ${answers.map((a) => a.status)}`);
      assert.ok(answers.some((a) => a.status === 200));
      for (const a of busy) assert.equal(a.headers.get('retry-after'), '1');
      assert.ok(answers.every((a) => a.status === 200 || a.status === 503));
    } finally {
      await server.close();
    }
  });
});
