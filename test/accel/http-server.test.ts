/**
 * The Open Inference Protocol accelerator server (src/accel/http/server.ts), in-process on port 0:
 * health and metadata; exact JSON and binary inference on both backends (checked against BigInt);
 * the repository extension (index, load and unload from a repository written by exportModelRepository,
 * and from uploaded bytes as base64 JSON and octet-stream); dynamic batching of concurrent requests
 * (seen in the stats, every caller still gets its own exact result) with round-robin fair share;
 * bounded queues (503 + Retry-After, queue timeouts); 1000 malformed, oversized and hostile requests
 * all answered 4xx, after which the server still answers exactly and its RSS grew little; graceful close.
 * Issue 11: a load whose layer is not the one its name's digest names, or differs from what is loaded,
 * is refused with 409 and an identical load changes nothing (defect 3); a request's output and working
 * memory count against the in-flight budget (413 when it can never fit) and a big batch runs in pieces
 * with exact results (defect 4).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { PublicLayer } from '../../src/accel/backend.js';
import { exportLayerOnnx, exportModelRepository, publicLayerDigest, type ExportIndex } from '../../src/accel/http/export.js';
import { layerModelName, type ServerStats } from '../../src/accel/http/protocol.js';
import { AcceleratorServer, type AcceleratorServerOptions } from '../../src/accel/http/server.js';
import { FairQueue, type QueueItem } from '../../src/http/fair-queue.js';
import { MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { convRef, gemmRef } from '../reference/bigint.js';

const rng = new Rng(0x0157);
const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const randInt = (lo: number, hi: number): number => lo + ((rng.nextI32() >>> 0) % (hi - lo + 1));
const ints = (n: number, max: number): Float64Array => Float64Array.from({ length: n }, () => randInt(-max, max));
const residues = (n: number): Float64Array => Float64Array.from({ length: n }, () => randInt(0, P - 1));

const CONV_ATTRS: ConvAttrs = { strides: [2, 1], pads: [1, 1, 1, 0], dilations: [1, 1], group: 2 };
const CONV: PublicLayer = { id: 0, name: 'conv', op: 'Conv', conv: CONV_ATTRS, wDims: [6, 2, 3, 3], w: { dims: [6, 2, 3, 3], data: ints(108, 127) } };
const CONV_IN = [4, 7, 6] as const;
const FC: PublicLayer = { id: 1, name: 'fc', op: 'Gemm', wDims: [24, 5], w: { dims: [24, 5], data: ints(120, 5000) } };
const EDGE: PublicLayer = { id: 2, name: 'edge', op: 'Gemm', wDims: [2, 1], w: { dims: [2, 1], data: Float64Array.of(MAX_WEIGHT_L1 - 7, -7) } };

const dir = mkdtempSync(join(tmpdir(), 'slalom-server-'));
let index: ExportIndex;
let convName: string;
let fcName: string;
let edgeName: string;

function expectConv(dims: readonly number[], x: Float64Array): { dims: number[]; data: Float64Array } {
  return convRef(dims, x, CONV.w.dims, CONV.w.data, CONV_ATTRS);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request with node:http (no keep-alive); resolves with what came back, rejects on a transport error. */
function send(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string | number> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const json = (r: Reply): any => JSON.parse(r.body.toString('utf8'));

function postJson(port: number, path: string, value: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return send(port, 'POST', path, JSON.stringify(value), { 'content-type': 'application/json', ...headers });
}

function inferBody(dims: readonly number[], x: Float64Array, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { inputs: [{ name: 'x', datatype: 'FP64', shape: [...dims], data: [...x] }], ...extra };
}

/** A binary-extension request: JSON header then the raw float64 bytes. */
function binaryRequest(dims: readonly number[], x: Float64Array, binaryOut = true, id?: string): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      ...(id ? { id } : {}),
      inputs: [{ name: 'x', datatype: 'FP64', shape: [...dims], parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'y', parameters: { binary_data: binaryOut } }],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

/** The output of a reply, JSON or binary. */
function outputOf(r: Reply): { shape: number[]; data: Float64Array; header: any } {
  const hl = r.headers['inference-header-content-length'];
  if (hl !== undefined) {
    const n = Number(hl);
    const header = JSON.parse(r.body.subarray(0, n).toString('utf8'));
    const raw = r.body.subarray(n);
    assert.equal(header.outputs[0].parameters.binary_data_size, raw.length);
    const data = new Float64Array(raw.length / 8);
    new Uint8Array(data.buffer).set(raw);
    return { shape: header.outputs[0].shape, data, header };
  }
  const header = json(r);
  return { shape: header.outputs[0].shape, data: Float64Array.from(header.outputs[0].data), header };
}

const servers: AcceleratorServer[] = [];
async function start(options: AcceleratorServerOptions = {}): Promise<AcceleratorServer> {
  const s = await AcceleratorServer.start({ modelRepository: dir, preload: false, ...options });
  servers.push(s);
  return s;
}

async function loadAll(s: AcceleratorServer): Promise<void> {
  for (const name of index.layers) assert.equal((await send(s.port, 'POST', `/v2/repository/models/${name}/load`)).status, 200);
}

const stats = async (s: AcceleratorServer): Promise<ServerStats> => json(await send(s.port, 'GET', '/v2/slalom/stats'));

/** The model name a layer must be loaded under (it carries the layer's digest), for model id `id`. */
const nameFor = (layer: PublicLayer, id = 'test'): string => layerModelName(id, layer.id, publicLayerDigest(layer));

before(() => {
  index = exportModelRepository({ name: 'server-test', modelHash: 'c0ffee'.repeat(10) + 'abcd', layers: [{ ...CONV, inDims: [1, ...CONV_IN] }, FC, EDGE] }, dir);
  [convName, fcName, edgeName] = index.layers as [string, string, string];
});

after(async () => {
  await Promise.all(servers.map((s) => s.close(2000)));
  rmSync(dir, { recursive: true, force: true });
});

describe('protocol and exact results', () => {
  let server: AcceleratorServer;
  before(async () => {
    server = await start({ maxDelayMs: 1 });
    await loadAll(server);
  });

  it('health, server metadata, model metadata and readiness', async () => {
    const port = server.port;
    assert.deepEqual(json(await send(port, 'GET', '/v2/health/live')), { live: true });
    assert.equal((await send(port, 'GET', '/v2/health/ready')).status, 200);
    const meta = json(await send(port, 'GET', '/v2'));
    assert.ok(meta.extensions.includes('binary_tensor_data') && meta.extensions.includes('model_repository'));
    const m = json(await send(port, 'GET', `/v2/models/${convName}`));
    assert.deepEqual(m.inputs, [{ name: 'x', datatype: 'UINT32', shape: [-1, 4, 7, 6] }]);
    assert.deepEqual(m.outputs, [{ name: 'y', datatype: 'UINT32', shape: [-1, 6, 4, 5] }]);
    assert.deepEqual(m.parameters.datatypes, ['UINT32', 'INT32', 'FP64'], 'every wire datatype is accepted');
    assert.equal(m.platform, 'onnxruntime_onnx');
    assert.equal((await send(port, 'GET', `/v2/models/${convName}/ready`)).status, 200);
    assert.equal((await send(port, 'GET', `/v2/models/${convName}/versions/1/ready`)).status, 200);
    const missing = await send(port, 'GET', '/v2/models/nope/ready');
    assert.equal(missing.status, 404);
    assert.match(json(missing).error, /nope/);
  });

  it('JSON inference is exact (conv, gemm, the exactness edge), id echoed', async () => {
    const dims = [2, ...CONV_IN];
    const x = residues(size(dims));
    const r = await postJson(server.port, `/v2/models/${convName}/infer`, inferBody(dims, x, { id: 'req-1' }));
    assert.equal(r.status, 200, r.body.toString());
    const out = outputOf(r);
    const want = expectConv(dims, x);
    assert.deepEqual(out.shape, want.dims);
    assert.deepEqual([...out.data], [...want.data]);
    assert.equal(out.header.id, 'req-1');
    assert.equal(out.header.model_name, convName);

    const xf = residues(3 * 24);
    const rf = outputOf(await postJson(server.port, `/v2/models/${fcName}/infer`, inferBody([3, 24], xf)));
    assert.deepEqual([...rf.data], [...gemmRef(3, 24, 5, xf, FC.w.data)]);

    const xe = Float64Array.of(P - 1, 0, P - 1, P - 1);
    const re = outputOf(await postJson(server.port, `/v2/models/${edgeName}/infer`, inferBody([2, 2], xe)));
    assert.deepEqual([...re.data], [...gemmRef(2, 2, 1, xe, EDGE.w.data)]);
  });

  it('nested JSON data is accepted', async () => {
    const x = residues(2 * 24);
    const nested = [[...x.subarray(0, 24)], [...x.subarray(24)]];
    const r = await postJson(server.port, `/v2/models/${fcName}/infer`, { inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 24], data: nested }] });
    assert.deepEqual([...outputOf(r).data], [...gemmRef(2, 24, 5, x, FC.w.data)]);
  });

  it('binary inference is exact, binary or JSON output as asked', async () => {
    const dims = [3, ...CONV_IN];
    const x = residues(size(dims));
    const want = expectConv(dims, x);
    const bin = binaryRequest(dims, x, true, 'b1');
    const r = await send(server.port, 'POST', `/v2/models/${convName}/infer`, bin.body, bin.headers);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    const out = outputOf(r);
    assert.equal(out.header.id, 'b1');
    assert.deepEqual(out.shape, want.dims);
    assert.deepEqual([...out.data], [...want.data]);
    // binary in, JSON out
    const bj = binaryRequest(dims, x, false);
    const rj = await send(server.port, 'POST', `/v2/models/${convName}/infer`, bj.body, bj.headers);
    assert.equal(rj.headers['inference-header-content-length'], undefined);
    assert.deepEqual([...outputOf(rj).data], [...want.data]);
    // JSON in, binary out via parameters.binary_data_output
    const rb = await postJson(server.port, `/v2/models/${convName}/infer`, inferBody(dims, x, { parameters: { binary_data_output: true } }));
    assert.ok(rb.headers['inference-header-content-length'] !== undefined);
    assert.deepEqual([...outputOf(rb).data], [...want.data]);
  });

  it('UINT32 and INT32 requests (binary and JSON) are answered exactly, in their own datatype', async () => {
    const dims = [2, ...CONV_IN];
    const x = residues(size(dims));
    const want = expectConv(dims, x);
    for (const datatype of ['UINT32', 'INT32'] as const) {
      const values = Uint32Array.from(x);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype, shape: dims, parameters: { binary_data_size: 4 * values.length } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] }));
      const r = await send(server.port, 'POST', `/v2/models/${convName}/infer`, Buffer.concat([header, Buffer.from(values.buffer)]), {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      });
      assert.equal(r.status, 200, r.body.toString());
      const n = Number(r.headers['inference-header-content-length']);
      const h = JSON.parse(r.body.subarray(0, n).toString('utf8'));
      assert.equal(h.outputs[0].datatype, datatype);
      const raw = r.body.subarray(n);
      assert.equal(raw.length, 4 * want.data.length, '4 bytes per residue');
      assert.deepEqual([...new Uint32Array(Uint8Array.from(raw).buffer)], [...want.data]);
      const j = json(await postJson(server.port, `/v2/models/${convName}/infer`, { inputs: [{ name: 'x', datatype, shape: dims, data: [...x] }] }));
      assert.equal(j.outputs[0].datatype, datatype);
      assert.deepEqual(j.outputs[0].data, [...want.data]);
    }
    // A binary size that fits FP64 but not UINT32 is refused.
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT32', shape: dims, parameters: { binary_data_size: 8 * x.length } }] }));
    const bad = await send(server.port, 'POST', `/v2/models/${convName}/infer`, Buffer.concat([header, Buffer.from(x.buffer)]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
    assert.equal(bad.status, 400);
    assert.match(json(bad).error, /4 bytes/);
  });

  it('the reference backend (js kernels) gives the same exact results', async () => {
    const ref = await start({ backend: 'reference', kernels: 'js', maxDelayMs: 0 });
    await loadAll(ref);
    const dims = [2, ...CONV_IN];
    const x = residues(size(dims));
    const bin = binaryRequest(dims, x);
    const out = outputOf(await send(ref.port, 'POST', `/v2/models/${convName}/infer`, bin.body, bin.headers));
    assert.deepEqual([...out.data], [...expectConv(dims, x).data]);
    const xf = residues(24);
    assert.deepEqual([...outputOf(await postJson(ref.port, `/v2/models/${fcName}/infer`, inferBody([1, 24], xf))).data], [...gemmRef(1, 24, 5, xf, FC.w.data)]);
    await ref.close();
  });
});

describe('repository extension', () => {
  let server: AcceleratorServer;
  before(async () => {
    server = await start({ maxDelayMs: 0 });
  });

  it('index lists the repository; load and unload change readiness', async () => {
    const port = server.port;
    const idx = json(await postJson(port, '/v2/repository/index', {}));
    assert.deepEqual(idx.map((e: { name: string }) => e.name).sort(), [...index.layers].sort());
    assert.ok(idx.every((e: { state: string }) => e.state === 'UNAVAILABLE'));
    assert.equal((await send(port, 'GET', `/v2/models/${fcName}/ready`)).status, 404);
    assert.equal((await send(port, 'POST', `/v2/repository/models/${fcName}/load`)).status, 200);
    assert.equal((await send(port, 'GET', `/v2/models/${fcName}/ready`)).status, 200);
    const ready = json(await postJson(port, '/v2/repository/index', { ready: true }));
    assert.deepEqual(ready, [{ name: fcName, version: '1', state: 'READY' }]);
    assert.equal((await send(port, 'POST', `/v2/repository/models/${fcName}/unload`)).status, 200);
    assert.equal((await send(port, 'GET', `/v2/models/${fcName}/ready`)).status, 404);
    const x = residues(24);
    assert.equal((await postJson(port, `/v2/models/${fcName}/infer`, inferBody([1, 24], x))).status, 404);
    assert.equal((await send(port, 'POST', '/v2/repository/models/not-there.l0.0123456789abcdef/load')).status, 404);
    assert.equal((await send(port, 'POST', '/v2/repository/models/..%2F..%2Fetc/load')).status, 400);
  });

  it('loads uploaded ONNX as Triton base64 JSON and as octet-stream', async () => {
    const port = server.port;
    const layer: PublicLayer = { id: 9, name: 'uploaded', op: 'Conv', conv: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [2, 2], group: 3 }, wDims: [3, 1, 3, 3], w: { dims: [3, 1, 3, 3], data: ints(27, 99) } };
    const onnx = Buffer.from(exportLayerOnnx(layer));
    const [upJson, upBin] = [nameFor(layer, 'up-json'), nameFor(layer, 'up-bin')];
    const r = await postJson(port, `/v2/repository/models/${upJson}/load`, { parameters: { 'file:1/model.onnx': onnx.toString('base64') } });
    assert.equal(r.status, 200, r.body.toString());
    const r2 = await send(port, 'POST', `/v2/repository/models/${upBin}/load`, onnx, { 'content-type': 'application/octet-stream' });
    assert.equal(r2.status, 200, r2.body.toString());
    const meta = json(await send(port, 'GET', `/v2/models/${upJson}`));
    assert.deepEqual(meta.inputs[0].shape, [-1, 3, -1, -1]);
    for (const name of [upJson, upBin]) {
      for (const [h, w] of [[5, 6], [8, 3]]) {
        const dims = [2, 3, h, w];
        const x = residues(size(dims));
        const out = outputOf(await postJson(port, `/v2/models/${name}/infer`, inferBody(dims, x)));
        const want = convRef(dims, x, layer.w.dims, layer.w.data, layer.conv!);
        assert.deepEqual(out.shape, want.dims);
        assert.deepEqual([...out.data], [...want.data]);
      }
    }
  });

  it('a large upload (base64 past 1 MiB) is decoded without one giant string', async () => {
    const k = 1024;
    const n = 300;
    const layer: PublicLayer = { id: 3, name: 'big', op: 'Gemm', wDims: [k, n], w: { dims: [k, n], data: ints(k * n, 1000) } };
    const onnx = Buffer.from(exportLayerOnnx(layer));
    assert.ok(onnx.length * 4 / 3 > 1 << 20);
    const big = nameFor(layer);
    const r = await postJson(server.port, `/v2/repository/models/${big}/load`, { parameters: { 'file:1/model.onnx': onnx.toString('base64') } });
    assert.equal(r.status, 200, r.body.toString());
    const x = residues(k);
    assert.deepEqual([...outputOf(await postJson(server.port, `/v2/models/${big}/infer`, inferBody([1, k], x))).data], [...gemmRef(1, k, n, x, layer.w.data)]);
  });

  it('refuses uploads that are not exact slalom layers', async () => {
    const port = server.port;
    const bad = async (body: Buffer | string, type: string): Promise<void> => {
      const r = await send(port, 'POST', '/v2/repository/models/bad.l0.0123456789abcdef/load', body, { 'content-type': type });
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(typeof json(r).error, 'string');
    };
    await bad(JSON.stringify({ parameters: { 'file:1/model.onnx': 'not base64!' } }), 'application/json');
    await bad(JSON.stringify({ parameters: { 'file:1/model.onnx': Buffer.from('garbage bytes').toString('base64') } }), 'application/json');
    await bad(JSON.stringify({ parameters: { 'file:2/evil.onnx': 'AAAA' } }), 'application/json');
    await bad('{"parameters":', 'application/json');
    await bad(Buffer.from([1, 2, 3, 4, 5]), 'application/octet-stream');
    // weights past the exactness bound, with a hand-patched description
    const over = exportLayerOnnx({ id: 0, name: 'o', op: 'Gemm', wDims: [2, 1], w: { dims: [2, 1], data: Float64Array.of(MAX_WEIGHT_L1, 0) } });
    const patched = Buffer.from(over);
    const first = Buffer.alloc(4);
    first.writeInt32LE(MAX_WEIGHT_L1);
    const at = patched.indexOf(first);
    assert.ok(at > 0);
    patched.writeInt32LE(5, at + 4); // the second weight: 0 → 5, so Σ|w| = MAX_WEIGHT_L1 + 5
    await bad(patched, 'application/octet-stream');
    assert.equal((await send(port, 'GET', '/v2/models/bad.l0.0123456789abcdef/ready')).status, 404);
  });
});

describe('a layer name is bound to its content (issue 11, defect 3)', () => {
  const upload = (port: number, name: string, layer: PublicLayer): Promise<Reply> =>
    send(port, 'POST', `/v2/repository/models/${name}/load`, Buffer.from(exportLayerOnnx(layer)), { 'content-type': 'application/octet-stream' });
  // Two layers of one model, as an attacker sharing the accelerator would use them.
  const L2: PublicLayer = { id: 2, name: 'l2', op: 'Gemm', wDims: [24, 5], w: { dims: [24, 5], data: ints(120, 300) } };
  const L3: PublicLayer = { id: 3, name: 'l3', op: 'Gemm', wDims: [24, 5], w: { dims: [24, 5], data: ints(120, 300) } };

  it("another layer's graph under a layer's name is refused (409), before and after the right one is loaded; the right one keeps serving", async () => {
    const lines: string[] = [];
    const server = await start({ maxDelayMs: 0, log: (l) => lines.push(l) });
    const port = server.port;
    const l3Name = nameFor(L3, 'shared');
    // Squatting: l2's graph under l3's name, before anyone loaded l3.
    let r = await upload(port, l3Name, L2);
    assert.equal(r.status, 409, r.body.toString());
    assert.match(json(r).error, /not the layer this name is bound to/);
    assert.equal((await send(port, 'GET', `/v2/models/${l3Name}/ready`)).status, 404);
    // l3 itself, with the index of another layer.
    r = await upload(port, l3Name, { ...L3, id: 4 });
    assert.equal(r.status, 409, r.body.toString());
    // A name that does not carry a digest at all cannot be bound to anything.
    r = await upload(port, 'shared.l3', L3);
    assert.equal(r.status, 400, r.body.toString());
    // The honest client loads l3; the attacker tries to replace it.
    assert.equal((await upload(port, l3Name, L3)).status, 200);
    r = await upload(port, l3Name, L2);
    assert.equal(r.status, 409, r.body.toString());
    const x = residues(24);
    const out = outputOf(await postJson(port, `/v2/models/${l3Name}/infer`, inferBody([1, 24], x)));
    assert.deepEqual([...out.data], [...gemmRef(1, 24, 5, x, L3.w.data)], 'l3 still computes l3');
    assert.equal(lines.filter((l) => l.includes(`loaded ${l3Name}`)).length, 1);
  });

  it('an identical load is idempotent: 200, nothing reloaded, queued requests unaffected', async () => {
    const lines: string[] = [];
    const server = await start({ maxDelayMs: 0, log: (l) => lines.push(l) });
    const name = nameFor(L2, 'idem');
    assert.equal((await upload(server.port, name, L2)).status, 200);
    const x = residues(24);
    const pending = Promise.all(Array.from({ length: 8 }, () => postJson(server.port, `/v2/models/${name}/infer`, inferBody([1, 24], x))));
    for (let k = 0; k < 3; k++) assert.equal((await upload(server.port, name, L2)).status, 200);
    for (const reply of await pending) assert.deepEqual([...outputOf(reply).data], [...gemmRef(1, 24, 5, x, L2.w.data)]);
    assert.equal(lines.filter((l) => l.includes(`loaded ${name}`)).length, 1, lines.join('\n'));
  });
});

describe('memory: what a request allocates counts against the budget (issue 11, defect 4)', () => {
  it('a request that could never fit is refused with 413 before it runs (not 503 forever)', async () => {
    const server = await start({ maxDelayMs: 0, maxInflightBytes: 2 * 2 ** 20 });
    await loadAll(server);
    // 6000 items × (24 inputs, 5 outputs): 1.3 MiB of doubles, 2.4 MiB with the batch copy of the input —
    // over the 2 MiB budget (the old count of input and output bytes alone let it run).
    const items = 6000;
    const { body, headers } = binaryRequest([items, 24], residues(items * 24));
    const r = await send(server.port, 'POST', `/v2/models/${fcName}/infer`, body, headers);
    assert.equal(r.status, 413, r.body.toString());
    assert.match(json(r).error, /needs \d+ MiB \(input, output, working memory\)/);
    const small = residues(24);
    assert.deepEqual([...outputOf(await postJson(server.port, `/v2/models/${fcName}/infer`, inferBody([1, 24], small))).data], [...gemmRef(1, 24, 5, small, FC.w.data)]);
  });

  it('a batch whose working memory passes the budget runs in pieces, exactly', async () => {
    for (const backend of ['onnxruntime', 'reference'] as const) {
      const server = await start({ backend, maxDelayMs: 0, maxWorkBytes: 64 * 1024 });
      await loadAll(server);
      const dims = [40, ...CONV_IN];
      const x = residues(size(dims));
      const { body, headers } = binaryRequest(dims, x);
      const out = outputOf(await send(server.port, 'POST', `/v2/models/${convName}/infer`, body, headers));
      const want = expectConv(dims, x);
      assert.deepEqual(out.shape, want.dims);
      assert.deepEqual([...out.data], [...want.data], backend);
      const m = (await stats(server)).models[convName]!;
      assert.equal(m.batches, 1);
      assert.ok(m.runs > 1, `${backend}: ${m.runs} runs for a batch of ${dims[0]} items over a 64 KiB work budget`);
    }
  });
});

describe('batching, fair share and back-pressure', () => {
  it('FairQueue takes round-robin over clients, same shape only, up to the batch size', () => {
    const q = new FairQueue<QueueItem & { id: string }>();
    let t = 0;
    const push = (client: string, id: string, items = 1, shapeKey = 's'): void => q.push({ client, id, items, shapeKey, enqueuedAt: t++ });
    for (let i = 0; i < 6; i++) push('A', `a${i}`);
    push('B', 'b0');
    push('B', 'b1');
    push('C', 'c0', 1, 'other');
    assert.deepEqual(q.take(4).map((e) => e.id), ['a0', 'b0', 'a1', 'b1']);
    assert.equal(q.size, 5);
    // C's turn: its request has another shape, so it runs alone; then A's remaining ones together.
    assert.deepEqual(q.take(4).map((e) => e.id), ['c0']);
    assert.deepEqual(q.take(4).map((e) => e.id), ['a2', 'a3', 'a4', 'a5']);
    assert.equal(q.size, 0);
    assert.equal(q.items, 0);
    push('A', 'big', 9);
    assert.deepEqual(q.take(4).map((e) => e.id), ['big'], 'a request larger than the batch runs alone');
  });

  it('concurrent requests are batched and each gets its own exact result', async () => {
    const server = await start({ maxDelayMs: 30, maxBatch: 8 });
    await loadAll(server);
    const jobs = Array.from({ length: 24 }, (_, i) => {
      const b = 1 + (i % 2);
      const x = residues(b * 24);
      return { b, x, client: `client-${i % 4}` };
    });
    const replies = await Promise.all(jobs.map((j) => postJson(server.port, `/v2/models/${fcName}/infer`, inferBody([j.b, 24], j.x), { 'x-slalom-client': j.client })));
    replies.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.deepEqual([...outputOf(r).data], [...gemmRef(jobs[i]!.b, 24, 5, jobs[i]!.x, FC.w.data)]);
    });
    const st = (await stats(server)).models[fcName]!;
    assert.equal(st.requests, 24);
    assert.equal(st.items, 36);
    assert.ok(st.batches < 24, `batched: ${st.batches} batches for 24 requests`);
    assert.ok(Object.keys(st.batchSizes).some((k) => Number(k) > 1 && Number(k) <= 8), JSON.stringify(st.batchSizes));
    assert.ok(Object.keys(st.batchSizes).every((k) => Number(k) <= 8));
    assert.deepEqual(st.clients, { 'client-0': 6, 'client-1': 6, 'client-2': 6, 'client-3': 6 });
    const triton = json(await send(server.port, 'GET', `/v2/models/${fcName}/stats`));
    assert.equal(triton.model_stats[0].inference_count, 36);
  });

  it('a full queue answers 503 with Retry-After; queued requests still complete', async () => {
    const server = await start({ maxDelayMs: 400, maxBatch: 64, maxQueue: 2 });
    await loadAll(server);
    const xs = Array.from({ length: 6 }, () => residues(24));
    const replies = await Promise.all(xs.map((x) => postJson(server.port, `/v2/models/${fcName}/infer`, inferBody([1, 24], x))));
    const ok = replies.filter((r) => r.status === 200);
    const busy = replies.filter((r) => r.status === 503);
    assert.equal(ok.length, 2);
    assert.equal(busy.length, 4);
    for (const r of busy) {
      assert.equal(r.headers['retry-after'], '1');
      assert.match(json(r).error, /queue .* is full/);
    }
    replies.forEach((r, i) => {
      if (r.status === 200) assert.deepEqual([...outputOf(r).data], [...gemmRef(1, 24, 5, xs[i]!, FC.w.data)]);
    });
    assert.equal((await stats(server)).models[fcName]!.rejectedQueueFull, 4);
  });

  it('a request that waits in the queue past the timeout gets 503', async () => {
    const server = await start({ maxDelayMs: 5000, maxBatch: 64, requestTimeoutMs: 300 });
    await loadAll(server);
    const r = await postJson(server.port, `/v2/models/${fcName}/infer`, inferBody([1, 24], residues(24)));
    assert.equal(r.status, 503);
    assert.match(json(r).error, /timed out/);
    assert.equal((await stats(server)).models[fcName]!.timedOut, 1);
  });

  it('close() finishes queued requests, then refuses connections', async () => {
    const server = await start({ maxDelayMs: 300, maxBatch: 64 });
    await loadAll(server);
    const x = residues(24);
    const pending = postJson(server.port, `/v2/models/${fcName}/infer`, inferBody([1, 24], x));
    await new Promise((r) => setTimeout(r, 50));
    await server.close();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual([...outputOf(r).data], [...gemmRef(1, 24, 5, x, FC.w.data)]);
    await assert.rejects(send(server.port, 'GET', '/v2/health/live'));
  });
});

/** Writes raw bytes on a fresh connection; resolves with the status of the first response (0 if none came). */
function raw(port: number, data: Buffer | string, endAfter = true): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (): void => {
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      socket.destroy();
      resolve(m ? Number(m[1]) : 0);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (/\r\n\r\n/.test(Buffer.concat(chunks).toString('latin1'))) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(data);
    if (endAfter) socket.end();
  });
}

describe('hostile requests', () => {
  it('1000 malformed, oversized and hostile requests all get 4xx; the server still answers exactly; RSS stays bounded', async (t) => {
    const server = await start({ maxDelayMs: 0, maxBodyBytes: 1 << 20, maxTensorElements: 1 << 16 });
    await loadAll(server);
    const port = server.port;
    const path = `/v2/models/${fcName}/infer`;
    const good = (): Record<string, unknown> => inferBody([1, 24], residues(24));
    const withInput = (patch: Record<string, unknown>): string => JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 24], data: [...residues(24)], ...patch }] });
    const bin = binaryRequest([1, 24], residues(24));
    const nanBin = binaryRequest([1, 24], Float64Array.from({ length: 24 }, (_, i) => (i === 5 ? NaN : 1)));
    const bigBin = binaryRequest([1, 24], Float64Array.from({ length: 24 }, (_, i) => (i === 5 ? P : 1)));
    const infBin = binaryRequest([1, 24], Float64Array.from({ length: 24 }, (_, i) => (i === 7 ? -Infinity : 1)));
    const J = { 'content-type': 'application/json' };
    type Attack = () => Promise<number>;
    const http = (body: string | Buffer, headers: Record<string, string> = J, p = path, method = 'POST'): Attack => async () => (await send(port, method, p, body, headers)).status;
    const attacks: [string, Attack][] = [
      ['bad JSON', http('{"inputs": [')],
      ['JSON array', http('[1,2,3]')],
      ['JSON string', http('"hello"')],
      ['JSON null', http('null')],
      ['empty body', http('')],
      ['no inputs', http('{}')],
      ['two inputs', http(JSON.stringify({ inputs: [good()['inputs'], good()['inputs']].flat() }))],
      ['wrong input name', http(withInput({ name: 'input' }))],
      ['FP32', http(withInput({ datatype: 'FP32' }))],
      ['INT64', http(withInput({ datatype: 'INT64' }))],
      ['BYTES', http(withInput({ datatype: 'BYTES', data: ['a'] }))],
      ['rank 3', http(withInput({ shape: [1, 24, 1] }))],
      ['wrong features', http(withInput({ shape: [1, 23] }))],
      ['zero batch', http(withInput({ shape: [0, 24], data: [] }))],
      ['negative dim', http(withInput({ shape: [-1, 24] }))],
      ['fractional dim', http(withInput({ shape: [1.5, 24] }))],
      ['huge dims', http(withInput({ shape: [2 ** 40, 24] }))],
      ['tensor too large', http(withInput({ shape: [100000, 24] }))],
      ['short data', http(withInput({ data: [1, 2, 3] }))],
      ['long data', http(withInput({ data: Array(25).fill(1) }))],
      ['value p', http(withInput({ data: Array(24).fill(P) }))],
      ['value -1', http(withInput({ data: [-1, ...Array(23).fill(0)] }))],
      ['value 1.5', http(withInput({ data: [1.5, ...Array(23).fill(0)] }))],
      ['value 2^53', http(withInput({ data: [2 ** 53, ...Array(23).fill(0)] }))],
      ['value 1e308', http(withInput({ data: [1e308, ...Array(23).fill(0)] }))],
      ['string value', http(withInput({ data: ['NaN', ...Array(23).fill(0)] }))],
      ['null value', http(withInput({ data: [null, ...Array(23).fill(0)] }))],
      ['NaN literal', http(withInput({}).replace(/"data":\[\d+/, '"data":[NaN'))],
      ['bad nesting', http(withInput({ data: [[1, 2], [3]] }))],
      ['data not array', http(withInput({ data: { 0: 1 } }))],
      ['unknown output', http(JSON.stringify({ ...good(), outputs: [{ name: 'z' }] }))],
      ['bad parameters', http(JSON.stringify({ ...good(), parameters: 'x' }))],
      ['long id', http(JSON.stringify({ ...good(), id: 'i'.repeat(300) }))],
      ['deep nesting', http('['.repeat(200000) + ']'.repeat(200000))],
      ['many objects', http(`{"a":[${'{},'.repeat(300000)}{}]}`)],
      ['truncated binary', http(bin.body.subarray(0, bin.body.length - 9), bin.headers)],
      ['extra binary', http(Buffer.concat([bin.body, Buffer.alloc(8)]), bin.headers)],
      ['header length past body', http(bin.body, { ...bin.headers, 'inference-header-content-length': String(bin.body.length + 100) })],
      ['header length garbage', http(bin.body, { ...bin.headers, 'inference-header-content-length': '12abc' })],
      ['header length huge', http(bin.body, { ...bin.headers, 'inference-header-content-length': '99999999999999999999' })],
      ['header length cuts JSON', http(bin.body, { ...bin.headers, 'inference-header-content-length': '10' })],
      ['binary NaN', http(nanBin.body, nanBin.headers)],
      ['binary p', http(bigBin.body, bigBin.headers)],
      ['binary -Infinity', http(infBin.body, infBin.headers)],
      ['binary size lie', http(Buffer.from(bin.body.toString('latin1').replace('"binary_data_size":192', '"binary_data_size":184'), 'latin1'), bin.headers)],
      ['binary without header', http(bin.body, J)],
      ['unknown model', http(JSON.stringify(good()), J, '/v2/models/nope/infer')],
      ['unknown version', http(JSON.stringify(good()), J, `/v2/models/${fcName}/versions/7/infer`)],
      ['unknown endpoint', http('', J, '/v2/unknown', 'GET')],
      ['not v2', http('', J, '/', 'GET')],
      ['GET infer', http('', J, path, 'GET')],
      ['DELETE model', http('', J, `/v2/models/${fcName}`, 'DELETE')],
      ['bad percent-encoding', http('', J, '/v2/models/%E0%A4%A/ready', 'GET')],
      ['declared huge Content-Length', () => raw(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999999999\r\n\r\n{"inputs":`)],
      ['absurd Content-Length', () => raw(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1${'0'.repeat(40)}\r\n\r\n`)],
      ['huge header', () => raw(port, `GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`)],
      ['garbage request line', () => raw(port, 'HELLO THERE\r\n\r\n')],
      ['chunked past the limit', () => raw(port, Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`), ...Array.from({ length: 5 }, () => Buffer.from(`40000\r\n${'1'.repeat(0x40000)}\r\n`))]), false)],
    ];
    const heavy = new Set(['chunked past the limit', 'deep nesting', 'many objects']);
    // Warm up, then measure.
    for (const [, attack] of attacks) await attack();
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    let sent = 0;
    const plan: [string, Attack][] = [];
    for (let i = 0; plan.length < 1000; i++) {
      const a = attacks[i % attacks.length]!;
      if (heavy.has(a[0]) && i % (attacks.length * 5) >= attacks.length) continue; // the heavy ones every fifth round
      plan.push(a);
    }
    // oversized bodies actually sent, a few times
    const oversized = Buffer.alloc((1 << 20) + 10, 0x20);
    for (let i = 0; i < 5; i++) plan[i * 200] = ['oversized body', http(oversized)];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < plan.length) {
          const [name, attack] = plan[next++]!;
          const status = await attack().catch(() => -1);
          sent++;
          statuses.set(name, status);
          if (!(status >= 400 && status < 500)) failures.push(`${name} → ${status}`);
        }
      }),
    );
    assert.equal(sent, 1000);
    assert.deepEqual([...new Set(failures)], []);
    assert.equal(statuses.get('oversized body'), 413);
    assert.equal(statuses.get('declared huge Content-Length'), 413);
    assert.equal(statuses.get('huge header'), 431);
    assert.equal(statuses.get('unknown model'), 404);
    assert.equal(statuses.get('GET infer'), 405);
    // still serving, exactly
    const x = residues(2 * 24);
    const r = await postJson(port, path, inferBody([2, 24], x));
    assert.equal(r.status, 200);
    assert.deepEqual([...outputOf(r).data], [...gemmRef(2, 24, 5, x, FC.w.data)]);
    const b = binaryRequest([1, 24], x.subarray(0, 24));
    assert.deepEqual([...outputOf(await send(port, 'POST', path, b.body, b.headers)).data], [...gemmRef(1, 24, 5, x.subarray(0, 24), FC.w.data)]);
    const st = await stats(server);
    assert.equal(st.inflightBytes, 0);
    global.gc?.();
    const growth = process.memoryUsage().rss - rssBefore;
    const histogram: Record<string, number> = {};
    for (const v of statuses.values()) histogram[v] = (histogram[v] ?? 0) + 1;
    if (process.env['SLALOM_TEST_VERBOSE']) t.diagnostic(JSON.stringify(Object.fromEntries(statuses)));
    t.diagnostic(`statuses by kind: ${JSON.stringify(histogram)}; server totals ${JSON.stringify(st.totals.rejected)}; RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(growth < 200 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
  });
});
