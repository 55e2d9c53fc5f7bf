/**
 * The accelerator service's limits (issue 20, defect 7: unlimited uploads under fresh names, an
 * unbounded per-client stats map, any client unloading any layer), in-process on port 0:
 * - the cap on loaded layers and their bytes (src/accel/http/capacity.ts, repository.ts): 507 when
 *   full and the client has no idle layer, eviction of the client's least recently used idle layer,
 *   503 + Retry-After while its layers are busy, never another client's layer evicted, a stream of
 *   fresh names from one client bounded;
 * - per-client statistics bounded (stats.ts ClientCounts) under 20 000 client ids;
 * - unload only by the client that loaded (403 for another), loads and unloads behind the server's
 *   bearer token when it has one (401 without it), and the HTTP accelerator client sending its token
 *   and client id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import type { PublicLayer } from '../../src/accel/backend.js';
import { BYTES_PER_WEIGHT, planRoom, type Resident } from '../../src/accel/http/capacity.js';
import { HttpBackend } from '../../src/accel/http/client.js';
import { exportLayerOnnx, exportModelRepository, publicLayerDigest } from '../../src/accel/http/export.js';
import { layerModelName, type ServerStats } from '../../src/accel/http/protocol.js';
import { AcceleratorServer, type AcceleratorServerOptions } from '../../src/accel/http/server.js';
import { ClientCounts, MAX_TRACKED_CLIENTS, OTHER_CLIENTS } from '../../src/accel/http/stats.js';
import { TransportError } from '../../src/errors.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A Gemm layer [k, 2] with distinct weights per seed: BYTES_PER_WEIGHT · 2k bytes loaded. */
function gemm(seed: number, k = 4): PublicLayer {
  return { id: 0, name: `fc${seed}`, op: 'Gemm', wDims: [k, 2], w: { dims: [k, 2], data: Float64Array.from({ length: 2 * k }, (_, i) => ((seed * 31 + i * 7) % 19) - 9) } };
}

const nameOf = (layer: PublicLayer, modelId = 'limits'): string => layerModelName(modelId, layer.id, publicLayerDigest(layer));

const servers: AcceleratorServer[] = [];
async function start(options: AcceleratorServerOptions): Promise<AcceleratorServer> {
  const s = await AcceleratorServer.start({ backend: 'reference', kernels: 'js', maxDelayMs: 0, ...options });
  servers.push(s);
  return s;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close(2000)));
});

const as = (client: string, extra: Record<string, string> = {}): Record<string, string> => ({ 'x-slalom-client': client, ...extra });

/** Uploads `layer` under `name` as `client`. */
function load(s: AcceleratorServer, layer: PublicLayer, client: string, name = nameOf(layer), extra: Record<string, string> = {}): Promise<Reply> {
  return send(s.port, 'POST', `/v2/repository/models/${name}/load`, Buffer.from(exportLayerOnnx(layer)), as(client, { 'content-type': 'application/octet-stream', ...extra }));
}

const unload = (s: AcceleratorServer, name: string, client: string, extra: Record<string, string> = {}): Promise<Reply> => send(s.port, 'POST', `/v2/repository/models/${name}/unload`, undefined, as(client, extra));
const ready = async (s: AcceleratorServer, name: string): Promise<boolean> => (await send(s.port, 'GET', `/v2/models/${name}/ready`)).status === 200;

function infer(s: AcceleratorServer, layer: PublicLayer, client: string, name = nameOf(layer)): Promise<Reply> {
  const k = layer.wDims[0]!;
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT32', shape: [1, k], data: Array.from({ length: k }, (_, i) => i + 1) }] }));
  return send(s.port, 'POST', `/v2/models/${name}/infer`, body, as(client, { 'content-type': 'application/json' }));
}

const stats = async (s: AcceleratorServer): Promise<ServerStats> => JSON.parse((await send(s.port, 'GET', '/v2/slalom/stats')).body) as ServerStats;

describe('the cap on loaded layers and their bytes', () => {
  it('full, and the client has no layer of its own: 507, and no other client loses a layer', async () => {
    const s = await start({ maxLoadedLayers: 2 });
    const [a, b, c] = [gemm(1), gemm(2), gemm(3)];
    assert.equal((await load(s, a, 'alice')).status, 200);
    assert.equal((await load(s, b, 'alice')).status, 200);
    const r = await load(s, c, 'bob');
    assert.equal(r.status, 507, r.body);
    assert.match(r.body, /full/);
    assert.ok((await ready(s, nameOf(a))) && (await ready(s, nameOf(b))), "alice's layers stay");
    assert.equal(await ready(s, nameOf(c)), false);
    assert.equal(nameOf(c) in (await stats(s)).models, false, 'a refused load leaves no slot behind');
  });

  it('a layer larger than --max-loaded-mb on its own: 507', async () => {
    const s = await start({ maxLoadedBytes: BYTES_PER_WEIGHT * 128 });
    const big = gemm(4, 128); // 256 weights
    const r = await load(s, big, 'alice');
    assert.equal(r.status, 507, r.body);
    assert.match(r.body, /larger than this server's limit/);
    assert.equal((await load(s, gemm(5, 32), 'alice')).status, 200, 'a layer of 64 weights fits');
  });

  it("full: the client's least recently used idle layer is evicted, not another client's", async () => {
    // Bytes are the binding limit here: 3 layers of 8 weights fit, a fourth does not.
    const s = await start({ maxLoadedBytes: 3 * 8 * BYTES_PER_WEIGHT });
    const [a1, a2, b1, a3] = [gemm(11), gemm(12), gemm(13), gemm(14)];
    assert.equal((await load(s, a1, 'alice')).status, 200);
    assert.equal((await load(s, a2, 'alice')).status, 200);
    assert.equal((await load(s, b1, 'bob')).status, 200);
    assert.equal((await infer(s, a1, 'alice')).status, 200); // a1 used after a2: a2 is the least recently used
    const r = await load(s, a3, 'alice');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await Promise.all([a1, a2, b1, a3].map((l) => ready(s, nameOf(l)))), [true, false, true, true]);
    assert.equal((await infer(s, a2, 'alice')).status, 404, 'the evicted layer answers 404 (a slalom client registers it again)');
    assert.equal(nameOf(a2) in (await stats(s)).models, false, 'an evicted layer leaves no slot behind');
  });

  it("full, and the client's layers are busy: 503 + Retry-After; once idle, the load evicts", async () => {
    // A request waits up to maxDelayMs for a batch to fill: its layer is busy meanwhile.
    const s = await start({ maxLoadedLayers: 1, maxDelayMs: 600, maxBatch: 64 });
    const [a1, a2] = [gemm(21), gemm(22)];
    assert.equal((await load(s, a1, 'alice')).status, 200);
    const pending = infer(s, a1, 'alice');
    await new Promise((r) => setTimeout(r, 150));
    const r = await load(s, a2, 'alice');
    assert.equal(r.status, 503, r.body);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal((await pending).status, 200, 'the busy layer answers its request');
    assert.equal((await load(s, a2, 'alice')).status, 200);
    assert.equal(await ready(s, nameOf(a1)), false);
  });

  it('a stream of fresh names from one client stays within the cap (the red team: 400 uploads in 4 s)', async () => {
    const s = await start({ maxLoadedLayers: 4 });
    const layer = gemm(31);
    for (let i = 0; i < 40; i++) assert.equal((await load(s, layer, 'mallory', nameOf(layer, `fresh${i}`))).status, 200);
    const st = await stats(s);
    assert.equal(Object.keys(st.models).length, 4, 'slots of evicted layers are dropped');
    assert.equal(Object.values(st.models).filter((m) => m.ready).length, 4);
    assert.equal((await load(s, gemm(32), 'alice')).status, 507, "mallory's layers are never evicted for alice");
  });

  it('planRoom: least recently used idle layers of the same client first, busy ones skipped, nothing of others', () => {
    const r = (owner: string | undefined, lastUsed: number, busy = false): Resident & { id: string } => ({ id: `${owner}@${lastUsed}`, ...(owner !== undefined ? { owner } : {}), bytes: 10, lastUsed, busy });
    const residents = [r('a', 5), r('a', 1, true), r('a', 3), r('b', 0), r(undefined, 0)];
    const limits = { maxBytes: 50, maxLayers: 100 };
    const plan = planRoom(15, 'a', { bytes: 50, layers: 5 }, limits, residents);
    assert.equal(plan.kind, 'fits');
    assert.deepEqual(plan.kind === 'fits' ? plan.evict.map((x) => x.id) : [], ['a@3', 'a@5']);
    assert.equal(planRoom(25, 'a', { bytes: 50, layers: 5 }, limits, residents).kind, 'busy', "room once a's busy layer is idle");
    assert.equal(planRoom(45, 'a', { bytes: 50, layers: 5 }, limits, residents).kind, 'full', "not even all of a's layers make room");
    assert.equal(planRoom(5, 'c', { bytes: 50, layers: 5 }, limits, residents).kind, 'full');
    assert.equal(planRoom(5, undefined, { bytes: 45, layers: 5 }, limits, residents).kind, 'fits');
  });
});

describe('per-client statistics are bounded', () => {
  it('20 000 client ids: at most MAX_TRACKED_CLIENTS tracked, the rest summed under (other), nothing lost', () => {
    const counts = new ClientCounts();
    for (let i = 0; i < 20_000; i++) counts.add(`client-${i}`);
    for (let i = 0; i < 10; i++) counts.add('client-19999'); // a recent id keeps its own count
    const out = counts.toJSON();
    assert.equal(counts.tracked, MAX_TRACKED_CLIENTS);
    assert.equal(Object.keys(out).length, MAX_TRACKED_CLIENTS + 1);
    assert.equal(out['client-19999'], 11);
    assert.equal(out[OTHER_CLIENTS], 20_000 - MAX_TRACKED_CLIENTS);
    assert.equal(Object.values(out).reduce((a, b) => a + b, 0), 20_010);
    const proto = new ClientCounts();
    proto.add('__proto__');
    assert.deepEqual(Object.entries(proto.toJSON()), [['__proto__', 1]], 'an id is data, never a prototype');
  });

  it('through the server: 200 fresh client ids on one layer keep the stats at MAX_TRACKED_CLIENTS + 1 entries', async () => {
    const s = await start({});
    const layer = gemm(41);
    assert.equal((await load(s, layer, 'alice')).status, 200);
    for (let i = 0; i < 200; i += 20) {
      const replies = await Promise.all(Array.from({ length: 20 }, (_, j) => infer(s, layer, `id-${i + j}`)));
      assert.ok(replies.every((r) => r.status === 200));
    }
    const clients = (await stats(s)).models[nameOf(layer)]!.clients;
    assert.equal(Object.keys(clients).length, MAX_TRACKED_CLIENTS + 1);
    assert.equal(clients[OTHER_CLIENTS], 200 - MAX_TRACKED_CLIENTS);
  });
});

describe('who may load and unload', () => {
  it('without a token: only the client that loaded a layer unloads it (403 for another); a start-up layer not at all', async () => {
    const s = await start({});
    const layer = gemm(51);
    const name = nameOf(layer);
    assert.equal((await load(s, layer, 'alice')).status, 200);
    assert.equal((await load(s, layer, 'bob')).status, 200, 'loading what is loaded changes nothing, owner included');
    const r = await unload(s, name, 'bob');
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /another client/);
    assert.equal(await ready(s, name), true);
    assert.equal((await infer(s, layer, 'bob')).status, 200, 'inference stays open to every client');
    assert.equal((await unload(s, name, 'alice')).status, 200);
    assert.equal(await ready(s, name), false);

    const dir = mkdtempSync(join(tmpdir(), 'slalom-limits-'));
    try {
      const index = exportModelRepository({ name: 'limits', modelHash: 'ab'.repeat(32), layers: [gemm(52)] }, dir);
      const preloaded = await start({ modelRepository: dir });
      const r2 = await unload(preloaded, index.layers[0]!, '127.0.0.1');
      assert.equal(r2.status, 403, r2.body);
      assert.match(r2.body, /loaded at start-up/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const TOKEN = 'test-token-0123456789abcdef';

  it('with --token: loads and unloads without it, or with another, are 401 before the upload is read; with it any holder unloads', async () => {
    const s = await start({ token: TOKEN });
    const layer = gemm(61);
    const name = nameOf(layer);
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token-0123456789abcdef' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }];
    for (const auth of attempts) {
      const r = await load(s, layer, 'alice', name, auth);
      assert.equal(r.status, 401, JSON.stringify(auth));
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    }
    assert.equal(await ready(s, name), false);
    // An upload announcing 500 MB without the token is answered at once, unread.
    const t0 = performance.now();
    const unread = await send(s.port, 'POST', `/v2/repository/models/${name}/load`, Buffer.alloc(16), { 'content-type': 'application/octet-stream', 'content-length': String(500 * 2 ** 20) });
    assert.equal(unread.status, 401);
    assert.ok(performance.now() - t0 < 2_000);
    const bearer = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await load(s, layer, 'alice', name, bearer)).status, 200);
    assert.equal((await infer(s, layer, 'bob')).status, 200, 'inference needs no token');
    assert.equal((await unload(s, name, 'alice')).status, 401);
    assert.equal((await unload(s, name, 'bob', bearer)).status, 200, 'a token holder may unload any layer');
  });

  it('a token that is too short or has characters a header cannot carry is refused at start', async () => {
    for (const token of ['short', 'has space in it 0123456789', 'line\nbreak0123456789abc']) {
      await assert.rejects(AcceleratorServer.start({ backend: 'reference', kernels: 'js', token }), /token/);
    }
  });

  it('the HTTP accelerator client sends its token and client id: it registers behind a token, and its layers are its own', async () => {
    const s = await start({ token: TOKEN });
    const layers = [{ ...gemm(71), id: 0 }, { ...gemm(72), id: 1 }];
    const without = new HttpBackend({ urls: [s.url], clientId: 'no-token', timeoutMs: 2_000, loadTimeoutMs: 2_000 });
    await assert.rejects(without.loadWeights(layers), (e: unknown) => e instanceof TransportError && /HTTP 401/.test(e.message));
    await without.close();
    const client = new HttpBackend({ urls: [s.url], clientId: 'with-token', token: TOKEN, timeoutMs: 2_000 });
    try {
      await client.loadWeights(layers);
      assert.equal(await ready(s, client.modelName(0)), true);
    } finally {
      await client.close();
    }
    const open = await start({});
    const owner = new HttpBackend({ urls: [open.url], clientId: 'owner-7f3a', timeoutMs: 2_000 });
    try {
      await owner.loadWeights(layers);
      const name = owner.modelName(0);
      assert.equal((await unload(open, name, 'someone-else')).status, 403);
      assert.equal((await unload(open, name, 'owner-7f3a')).status, 200, 'the loads carried the client id');
    } finally {
      await owner.close();
    }
  });
});
