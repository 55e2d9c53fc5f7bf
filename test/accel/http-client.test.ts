/**
 * The HTTP accelerator client (src/accel/http/client.ts) against fake Open Inference Protocol servers
 * started here on 127.0.0.1 (port 0). An honest fake computes with AcceleratorHost, like the real
 * server; misbehaving ones hang, answer 500 or 503, close the socket, lie, echo the wrong id, send
 * garbage or an endless body, forget their models. The client must carry bytes faithfully (binary
 * extension both ways, the very same request bytes on a retry), register layers (repository load, then
 * ONNX upload), fail over, quarantine, stay bounded and end in TransportError when nothing is healthy;
 * an answer with malformed framing is no transport failure but a reply the gate refuses (issue 20:
 * exit 4 and no result under --on-failure abort, whatever the fallback);
 * the trusted runtime, over it, must give logits bit-identical to the baseline in modes verified and
 * private+verified on the Fashion-MNIST model, a lying accelerator included.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import type { LinearReply, PublicLayer } from '../../src/accel/backend.js';
import { HttpBackend, type HttpBackendEvent } from '../../src/accel/http/client.js';
import { exportLayerOnnx, parseLayerOnnx, publicLayerDigest } from '../../src/accel/http/export.js';
import { layerModelName, modelIdOf } from '../../src/accel/http/protocol.js';
import { AcceleratorHost } from '../../src/accel/host.js';
import { LocalBackend } from '../../src/accel/local.js';
import { acceptValues } from '../helpers/accept.js';
import { revealForValidation } from '../../src/boundary/untrusted.js';
import { EXIT_CODES, hasErrorCode, InvalidArgumentError, MalformedResponseError, TransportError } from '../../src/errors.js';
import { writeNpy } from '../../src/io/npy.js';
import { P } from '../../src/field/prime.js';
import { quantizeInput } from '../helpers/requantize.js';
import { isWireDatatype, readTensor } from '../../src/accel/http/tensor-codec.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { jsKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import type { AcceleratedProtocol } from '../../src/runtime/protocols/accelerated.js';
import { openProtocol, publicLayers } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { openStore } from '../../src/runtime/precompute.js';
import { fillPads, tempDir } from '../blind/blind-helpers.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';

type Behavior =
  | 'honest'
  | 'json'
  | 'json-nested'
  | 'json-ragged'
  | 'hang'
  | 'error500'
  | 'error502'
  | 'busy'
  | 'close'
  | 'lie'
  | 'wrong-id'
  | 'garbage'
  | 'not-http'
  | 'binary-past-body'
  | 'length-500mb'
  | 'huge-declared'
  | 'huge-stream'
  | 'forget';

/** Answers whose framing is malformed (issue 20, defect 3): refused by the gate, never a transport failure. */
const MALFORMED_FRAMING: readonly Behavior[] = ['garbage', 'not-http', 'binary-past-body', 'length-500mb', 'huge-declared', 'huge-stream'];

interface Received {
  readonly model: string;
  readonly id: unknown;
  readonly client: string | undefined;
  /** The raw bytes of x as they came. */
  readonly x: Buffer;
}

/** A layer's OIP model name, as the client names it. */
function nameOf(modelId: string, layer: PublicLayer): string {
  return layerModelName(modelId, layer.id, publicLayerDigest(layer));
}

/** A fake OIP accelerator: its "model repository" holds `layers` under their names (`nameOf`). */
class FakeOip {
  readonly received: Received[] = [];
  readonly loads: { name: string; body: boolean }[] = [];
  readonly uploads = new Map<string, Uint8Array>();
  readonly loaded = new Set<string>();
  /** What the next infer requests meet; `script` (consumed first) overrides it request by request. */
  behavior: Behavior = 'honest';
  script: Behavior[] = [];
  /** Whether a load without a body finds the model in the repository. */
  repository = true;
  retryAfter = '0';
  hugeBytesSent = 0;
  private readonly host = new AcceleratorHost(jsKernels());
  private readonly byName = new Map<string, PublicLayer>();
  private server!: Server;
  url = '';

  constructor(layers: readonly PublicLayer[], modelId: string) {
    for (const l of layers) this.byName.set(nameOf(modelId, l), l);
  }

  static async start(layers: readonly PublicLayer[], modelId: string, setup: (f: FakeOip) => void = () => {}): Promise<FakeOip> {
    const f = new FakeOip(layers, modelId);
    await f.host.load(layers);
    setup(f);
    f.server = createServer((req, res) => {
      f.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(JSON.stringify({ error: String(e) }));
      });
    });
    f.server.listen(0, '127.0.0.1');
    await once(f.server, 'listening');
    f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    return f;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const body = await this.body(req);
    let m: RegExpMatchArray | null;
    if ((m = url.match(/^\/v2\/models\/([^/]+)\/ready$/)) && req.method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      if (this.loaded.has(name)) this.json(res, 200, { name, ready: true });
      else this.json(res, 404, { error: `unknown model ${name}` });
      return;
    }
    if ((m = url.match(/^\/v2\/repository\/models\/([^/]+)\/load$/)) && req.method === 'POST') {
      const name = decodeURIComponent(m[1]!);
      this.loads.push({ name, body: body.length > 0 });
      if (!this.byName.has(name)) return this.json(res, 404, { error: `no model ${name}` });
      if (body.length === 0) {
        if (!this.repository) return this.json(res, 400, { error: 'no model repository: send the ONNX file' });
      } else {
        const onnx = (JSON.parse(body.toString('utf8')) as { parameters: Record<string, string> }).parameters['file:1/model.onnx']!;
        this.uploads.set(name, Buffer.from(onnx, 'base64'));
      }
      this.loaded.add(name);
      return this.json(res, 200, {});
    }
    if ((m = url.match(/^\/v2\/models\/([^/]+)\/infer$/)) && req.method === 'POST') return this.infer(decodeURIComponent(m[1]!), req, res, body);
    this.json(res, 404, { error: 'not found' });
  }

  private async infer(name: string, req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const headerLength = Number(req.headers['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as {
      id: unknown;
      parameters?: { client_id?: string };
      inputs: { name: string; shape: number[]; datatype: string; parameters: { binary_data_size: number } }[];
    };
    const xBytes = body.subarray(headerLength);
    this.received.push({ model: name, id: header.id, client: req.headers['x-slalom-client'] as string | undefined, x: Buffer.from(xBytes) });
    const behavior = this.script.shift() ?? this.behavior;
    if (behavior === 'forget') this.loaded.clear();
    if (!this.loaded.has(name)) return this.json(res, 404, { error: `model ${name} is not loaded` });
    switch (behavior) {
      case 'hang':
        return; // never answers; the socket stays open until the client gives up
      case 'error500':
        return this.json(res, 500, { error: 'internal\nfailure' });
      case 'error502':
        return this.json(res, 502, { error: 'bad gateway' }, { 'retry-after': this.retryAfter });
      case 'busy':
        return this.json(res, 503, { error: 'queue full' }, { 'retry-after': this.retryAfter });
      case 'close':
        req.socket.destroy();
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('this is not JSON');
        return;
      case 'not-http':
        req.socket.end('SLALOM\r\n\r\nnot an HTTP response');
        return;
      case 'length-500mb':
        res.writeHead(200, { 'content-length': String(500 * 2 ** 20), 'inference-header-content-length': '10' });
        res.write(Buffer.alloc(1 << 16));
        return; // the red team's 500 MB Content-Length: refused before a byte of the body is read
      case 'huge-declared':
        res.writeHead(200, { 'content-length': String(1e12), 'inference-header-content-length': '10' });
        res.write(Buffer.alloc(1 << 16));
        return; // announces a terabyte; the client must not wait for it or allocate it
      case 'huge-stream':
        return this.stream(res);
    }
    const layer = this.byName.get(name)!;
    // Requests in whatever datatype the client sends; replies in FP64, as an existing server answers.
    const datatype = header.inputs[0]!.datatype;
    if (!isWireDatatype(datatype)) return this.json(res, 400, { error: `datatype ${datatype}` });
    const x = Uint32Array.from(readTensor(datatype, xBytes)!);
    const computed = await this.host.linear(layer.id, header.inputs[0]!.shape, x);
    const out = { ...computed, data: Float64Array.from(computed.data) };
    if (behavior === 'lie') out.data[0] = (out.data[0]! + 1) % P;
    const id = behavior === 'wrong-id' ? `${String(header.id)}0` : header.id;
    if (behavior === 'json') {
      return this.json(res, 200, { model_name: name, id, outputs: [{ name: 'y', datatype: 'FP64', shape: out.dims, data: Array.from(out.data) }] });
    }
    if (behavior === 'json-nested' || behavior === 'json-ragged') {
      // Nested in the tensor's shape, row-major.
      const nest = (at: number, depth: number): unknown => {
        const n = out.dims[depth]!;
        const stride = out.dims.slice(depth + 1).reduce((a, d) => a * d, 1);
        return Array.from({ length: n }, (_, i) => (depth === out.dims.length - 1 ? out.data[at + i] : nest(at + i * stride, depth + 1)));
      };
      const data = nest(0, 0) as unknown[];
      if (behavior === 'json-ragged') {
        // The first value one level deeper than the shape says: the right count, the wrong nesting.
        let row = data;
        while (Array.isArray(row[0])) row = row[0] as unknown[];
        row[0] = [row[0]];
      }
      return this.json(res, 200, { model_name: name, id, outputs: [{ name: 'y', datatype: 'FP64', shape: out.dims, data }] });
    }
    // binary-past-body: the tensor's binary_data_size claims 8 bytes more than the body holds.
    const size = out.data.byteLength + (behavior === 'binary-past-body' ? 8 : 0);
    const h = Buffer.from(JSON.stringify({ model_name: name, id, parameters: { slalom_compute_ms: out.computeMs }, outputs: [{ name: 'y', datatype: 'FP64', shape: out.dims, parameters: { binary_data_size: size } }] }));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(h.length), 'content-length': String(h.length + out.data.byteLength) });
    res.end(Buffer.concat([h, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength)]));
  }

  /** A chunked body that never ends (until the client hangs up, at most 256 MiB). */
  private stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': '2' });
    const chunk = Buffer.alloc(1 << 20, 0x20);
    const pump = (): void => {
      while (!res.destroyed && this.hugeBytesSent < 256 << 20) {
        this.hugeBytesSent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  }
}

/** A port nothing listens on: a server started and closed again. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const normalize = (pixels: Uint8Array): Float64Array => Float64Array.from(pixels, (v) => (v / 255 - 0.286) / 0.353);

let model: SlalomModel;
let layers: PublicLayer[];
let modelId: string;
let images: Tensor[];
let baselines: Float64Array[];
const servers: FakeOip[] = [];
const backends: HttpBackend[] = [];

async function fake(setup?: (f: FakeOip) => void): Promise<FakeOip> {
  const f = await FakeOip.start(layers, modelId, setup);
  servers.push(f);
  return f;
}

function client(urls: string[], extra: Partial<ConstructorParameters<typeof HttpBackend>[0]> = {}): HttpBackend {
  const b = new HttpBackend({ urls, timeoutMs: 2_000, clientId: 'test-client', modelId, cooldownMs: 60_000, ...extra });
  backends.push(b);
  return b;
}

/** A first-layer request on the first test image, residues in [0, p). */
function request(id: number, layerIndex = 1): { requestId: string; layerId: number; dims: number[]; x: Uint32Array } {
  const layer = model.quantized.layers[layerIndex]!;
  const n = layer.inDims.reduce((a, b) => a * b, 1);
  const x = new Uint32Array(n);
  const requestId = `test-${id}`;
  let s = 12345 + id;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s % P;
  }
  return { requestId, layerId: layer.index, dims: [...layer.inDims], x };
}

async function honestAnswer(req: ReturnType<typeof request>): Promise<Uint32Array> {
  const local = new LocalBackend();
  await local.loadWeights(layers);
  const reply = revealForValidation(await local.linear(req)) as LinearReply;
  return Uint32Array.from(reply.data);
}

function accept(reply: Awaited<ReturnType<HttpBackend['linear']>>, req: ReturnType<typeof request>): Uint32Array {
  const layer = model.quantized.layers.find((l) => l.index === req.layerId)!;
  return acceptValues(reply, { requestId: req.requestId, layerId: req.layerId, layerName: layer.name, dims: layer.outDims });
}

before(async () => {
  model = await SlalomModel.load('models/fashion-mnist.onnx');
  layers = publicLayers(model.quantized);
  modelId = modelIdOf(model.name, model.weightsHash);
  const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR, limit: 2 });
  images = [0, 1].map((i) => tensor([1, 1, 28, 28], normalize(data.images.subarray(i * 784, (i + 1) * 784))));
  baselines = [];
  for (const x of images) baselines.push((await model.infer(x)).logits);
});

after(async () => {
  for (const b of backends) await b.close();
  for (const s of servers) await s.close();
});

describe('registration', () => {
  it('loads every layer from the model repository (load without a body) when it is not ready', async () => {
    const s = await fake();
    const b = client([s.url]);
    await b.loadWeights(layers);
    assert.deepEqual(s.loads.map((l) => l.name).sort(), layers.map((l) => nameOf(modelId, l)).sort());
    assert.ok(s.loads.every((l) => !l.body));
    assert.equal(s.loaded.size, layers.length);
  });

  it('asks nothing more of an accelerator whose layers are ready', async () => {
    const s = await fake((f) => layers.forEach((l) => f.loaded.add(nameOf(modelId, l))));
    await client([s.url]).loadWeights(layers);
    assert.equal(s.loads.length, 0);
  });

  it("uploads each layer's exact ONNX graph when the server has no repository", async () => {
    const s = await fake((f) => (f.repository = false));
    await client([s.url]).loadWeights(layers);
    assert.equal(s.loads.filter((l) => l.body).length, layers.length);
    for (const l of layers) {
      const bytes = s.uploads.get(nameOf(modelId, l))!;
      assert.deepEqual(Buffer.from(bytes), Buffer.from(exportLayerOnnx(l)), `${l.name}: uploaded bytes differ from exportLayerOnnx`);
      assert.deepEqual(Array.from(parseLayerOnnx(bytes).layer.w.data), Array.from(l.w.data, (v) => v + 0)); // int32 has no −0
    }
  });

  it('fails with TransportError when no accelerator can register the model', async () => {
    const b = client([await deadUrl(), await deadUrl()]);
    await assert.rejects(b.loadWeights(layers), (e: unknown) => e instanceof TransportError && /no accelerator could register/.test(e.message));
  });

  it('registers again on a 404 (the accelerator restarted and lost its models)', async () => {
    const s = await fake();
    const events: HttpBackendEvent[] = [];
    const b = client([s.url], { onEvent: (e) => events.push(e) });
    await b.loadWeights(layers);
    s.script = ['forget'];
    const req = request(1);
    assert.deepEqual(Array.from(accept(await b.linear(req), req)), Array.from(await honestAnswer(req)));
    assert.equal(s.loaded.size, layers.length);
    assert.ok(events.some((e) => e.kind === 'reregister'));
  });
});

describe('transport', () => {
  it('binary extension both ways: the server gets x byte for byte and the reply passes the gate', async () => {
    const s = await fake();
    const b = client([s.url]);
    await b.loadWeights(layers);
    const req = request(7);
    const y = accept(await b.linear(req), req);
    assert.deepEqual(Array.from(y), Array.from(await honestAnswer(req)));
    const got = s.received.at(-1)!;
    assert.deepEqual(got.x, Buffer.from(req.x.buffer));
    assert.equal(got.id, 'test-7');
    assert.equal(got.client, 'test-client');
    assert.equal(got.model, nameOf(modelId, layers[req.layerId]!));
  });

  it('accepts a JSON reply too', async () => {
    const s = await fake((f) => (f.behavior = 'json'));
    const b = client([s.url]);
    await b.loadWeights(layers);
    const req = request(8);
    assert.deepEqual(Array.from(accept(await b.linear(req), req)), Array.from(await honestAnswer(req)));
  });

  it('accepts JSON data nested in the tensor shape, as the Open Inference Protocol allows; refuses nesting that does not follow the shape', async () => {
    for (const layerIndex of [1, model.quantized.layers.length - 1]) {
      const s = await fake((f) => (f.behavior = 'json-nested'));
      const b = client([s.url]);
      await b.loadWeights(layers);
      const req = request(9, layerIndex);
      assert.deepEqual(Array.from(accept(await b.linear(req), req)), Array.from(await honestAnswer(req)), `layer ${layerIndex}`);
      s.behavior = 'json-ragged';
      const ragged = request(10, layerIndex);
      const reply = await b.linear(ragged);
      assert.throws(() => accept(reply, ragged), (e: unknown) => e instanceof MalformedResponseError, `layer ${layerIndex}`);
    }
  });

  it("leaves the caller's array alone and reuses connections (keep-alive)", async () => {
    const s = await fake();
    let connections = 0;
    (s as unknown as { server: Server }).server.on('connection', () => connections++);
    const b = client([s.url], { maxSockets: 2 });
    await b.loadWeights(layers);
    const before = connections;
    const reqs = Array.from({ length: 12 }, (_, i) => request(100 + i));
    const copies = reqs.map((r) => Uint32Array.from(r.x));
    const replies = await Promise.all(reqs.map((r) => b.linear(r)));
    reqs.forEach((r, i) => {
      accept(replies[i]!, r);
      assert.deepEqual(r.x, copies[i]);
    });
    assert.ok(connections - before <= 2, `${connections - before} new connections for 12 requests with maxSockets 2`);
  });

  it('round-robins across healthy accelerators', async () => {
    const [s1, s2] = [await fake(), await fake()];
    const b = client([s1.url, s2.url]);
    await b.loadWeights(layers);
    const n1 = s1.received.length;
    const n2 = s2.received.length;
    for (let i = 0; i < 10; i++) {
      const req = request(200 + i, 4);
      accept(await b.linear(req), req);
    }
    assert.equal(s1.received.length - n1, 5);
    assert.equal(s2.received.length - n2, 5);
  });

  it('refuses requests for unregistered layers and after close()', async () => {
    const s = await fake();
    const b = client([s.url]);
    await b.loadWeights(layers.slice(0, 2));
    await assert.rejects(b.linear(request(1, 4)), InvalidArgumentError);
    await b.close();
    await assert.rejects(b.linear(request(2, 1)), TransportError);
  });
});

describe('failover: the same request bytes on another accelerator', () => {
  const cases: { behavior: Behavior; kind: HttpBackendEvent['kind'] }[] = [
    { behavior: 'hang', kind: 'cooldown' },
    { behavior: 'error500', kind: 'cooldown' },
    { behavior: 'close', kind: 'cooldown' },
  ];
  for (const { behavior, kind } of cases) {
    it(`${behavior} → ${kind}, answered by the other accelerator`, async () => {
      const bad = await fake((f) => (f.behavior = behavior));
      const good = await fake();
      const events: HttpBackendEvent[] = [];
      // 1 s: long enough for an honest answer on a loaded CI machine, short enough to show no wait runs past it.
      const b = client([bad.url, good.url], { timeoutMs: 1_000, onEvent: (e) => events.push(e) });
      await b.loadWeights(layers);
      const req = request(300);
      const start = performance.now();
      const y = accept(await b.linear(req), req);
      const ms = performance.now() - start;
      assert.deepEqual(Array.from(y), Array.from(await honestAnswer(req)));
      // A connection reset on a reused keep-alive connection is retried once there (it may be a stale one).
      assert.ok(bad.received.length === 1 || (behavior === 'close' && bad.received.length === 2), `${bad.received.length} attempts on the bad one`);
      assert.equal(good.received.length, 1);
      for (const r of bad.received) {
        assert.deepEqual(good.received[0]!.x, r.x, 'the retry must send byte-identical x');
        assert.equal(good.received[0]!.id, r.id);
      }
      const attempts = bad.received.length;
      assert.ok(events.some((e) => e.kind === kind && e.url === bad.url), JSON.stringify(events));
      // One timeout on the hanging one at most, then the other: far below the default 60 s budget.
      assert.ok(ms < (behavior === 'hang' ? 5_000 : 4_000), `${ms.toFixed(0)} ms`);
      // The failed accelerator is skipped from now on (cooling down).
      const next = request(301);
      accept(await b.linear(next), next);
      assert.equal(bad.received.length, attempts);
      assert.equal(b.stats().accelerators.find((a) => a.url === bad.url)!.coolingDown, true);
    });
  }

  it('503 is back-pressure: the other accelerator answers, the busy one is not penalised', async () => {
    const busy = await fake((f) => {
      f.script = ['busy'];
      f.retryAfter = '0';
    });
    const good = await fake();
    const b = client([busy.url, good.url]);
    await b.loadWeights(layers);
    const req = request(400);
    accept(await b.linear(req), req);
    assert.equal(good.received.length, 1);
    const st = b.stats().accelerators[0]!;
    assert.equal(st.busy, 1);
    assert.equal(st.failures, 0);
    assert.equal(st.coolingDown, false);
  });

  it('503 with Retry-After on the only accelerator: waits, then succeeds on it', async () => {
    const s = await fake((f) => {
      f.script = ['busy', 'busy'];
      f.retryAfter = '0.2';
    });
    const b = client([s.url]);
    await b.loadWeights(layers);
    const req = request(401);
    const start = performance.now();
    accept(await b.linear(req), req);
    const ms = performance.now() - start;
    assert.equal(s.received.length, 3);
    assert.ok(ms >= 380, `${ms.toFixed(0)} ms: Retry-After not honoured`);
    assert.ok(s.received.every((r) => r.x.equals(s.received[0]!.x)));
  });

  it('a transient 5xx on the only accelerator (issue 11, defect 6): the very same bytes again, after a backoff or Retry-After', async () => {
    const s = await fake((f) => (f.script = ['error500', 'error502']));
    s.retryAfter = '0.2';
    const events: HttpBackendEvent[] = [];
    const b = client([s.url], { onEvent: (e) => events.push(e) });
    await b.loadWeights(layers);
    const req = request(403);
    const start = performance.now();
    assert.deepEqual(Array.from(accept(await b.linear(req), req)), Array.from(await honestAnswer(req)));
    const ms = performance.now() - start;
    assert.equal(s.received.length, 3);
    assert.ok(s.received.every((r) => r.x.equals(s.received[0]!.x) && r.id === s.received[0]!.id), 'the same bytes and id each time');
    assert.ok(ms >= 290, `${ms.toFixed(0)} ms: backoff (100 ms) and Retry-After (200 ms) not honoured`);
    assert.equal(events.filter((e) => e.kind === 'cooldown').length, 2);
    // The accelerator is usable again right away for the next request.
    const next = request(404);
    accept(await b.linear(next), next);
    assert.equal(s.received.length, 4);
  });

  it('5xx every time on the only accelerator: bounded (3 attempts), then TransportError', async () => {
    const s = await fake((f) => (f.behavior = 'error500'));
    const b = client([s.url]);
    await b.loadWeights(layers);
    await assert.rejects(b.linear(request(405)), (e: unknown) => e instanceof TransportError && /HTTP 500/.test(e.message));
    assert.equal(s.received.length, 3);
  });

  it('503 whose Retry-After runs past the budget: TransportError, no long wait', async () => {
    const s = await fake((f) => {
      f.behavior = 'busy';
      f.retryAfter = '5';
    });
    const b = client([s.url], { timeoutMs: 300 });
    await b.loadWeights(layers);
    const start = performance.now();
    await assert.rejects(b.linear(request(402)), TransportError);
    assert.ok(performance.now() - start < 1_000);
  });

  it('every accelerator dead: TransportError naming the layer and each failure', async () => {
    const s1 = await fake();
    const s2 = await fake();
    const b = client([s1.url, s2.url], { timeoutMs: 400 });
    await b.loadWeights(layers);
    await s1.close();
    await s2.close();
    const req = request(500);
    await assert.rejects(b.linear(req), (e: unknown) => {
      assert.ok(e instanceof TransportError, String(e));
      assert.equal(e.layer, model.quantized.layers[1]!.name);
      assert.match(e.message, new RegExp(s1.url.replace(/[.:/]/g, '\\$&')));
      assert.match(e.message, new RegExp(s2.url.replace(/[.:/]/g, '\\$&')));
      return true;
    });
    // Both are cooling down now: the next request fails at once.
    const start = performance.now();
    await assert.rejects(b.linear(request(501)), TransportError);
    assert.ok(performance.now() - start < 100);
  });

  it('with a fallback backend, requests go there when no accelerator is healthy', async () => {
    const events: HttpBackendEvent[] = [];
    const b = client([await deadUrl()], { fallback: new LocalBackend(), onEvent: (e) => events.push(e) });
    await b.loadWeights(layers);
    const req = request(600);
    assert.deepEqual(Array.from(accept(await b.linear(req), req)), Array.from(await honestAnswer(req)));
    assert.equal(b.stats().fallbackReplies, 1);
    assert.ok(events.some((e) => e.kind === 'fallback'));
    assert.equal(b.reportFailure(req.requestId, new Error('x')), false);
  });

  it('reportFailure quarantines the accelerator that answered and says whether another can retry', async () => {
    const s1 = await fake();
    const s2 = await fake();
    const b = client([s1.url, s2.url]);
    await b.loadWeights(layers);
    const r1 = request(700);
    await b.linear(r1);
    assert.equal(b.reportFailure(r1.requestId, new Error('failed check')), true);
    assert.equal(b.reportFailure(r1.requestId, new Error('again')), false, 'an id is reported once');
    const r2 = request(701);
    await b.linear(r2);
    assert.equal(s2.received.length, 1);
    assert.equal(b.reportFailure(r2.requestId, new Error('failed check')), false, 'no healthy accelerator is left');
    assert.ok(b.stats().accelerators.every((a) => a.quarantined !== undefined));
    await assert.rejects(b.linear(request(702)), (e: unknown) => e instanceof TransportError && /quarantined/.test(e.message));
  });
});

describe('malformed framing (issue 20, defect 3): a reply the gate refuses, never a transport failure', () => {
  for (const behavior of MALFORMED_FRAMING) {
    it(`${behavior}: MalformedResponseError at the gate, the accelerator quarantined, neither another accelerator nor the fallback asked`, async () => {
      const bad = await fake((f) => (f.behavior = behavior));
      const good = await fake();
      const events: HttpBackendEvent[] = [];
      const b = client([bad.url, good.url], { timeoutMs: 2_000, fallback: new LocalBackend(), onEvent: (e) => events.push(e) });
      await b.loadWeights(layers);
      const req = request(800);
      const start = performance.now();
      const reply = await b.linear(req);
      assert.ok(performance.now() - start < 1_500, 'cut off at the byte limit, not by the timeout');
      assert.throws(() => accept(reply, req), (e: unknown) => e instanceof MalformedResponseError && e.layer === model.quantized.layers[1]!.name);
      assert.equal(good.received.length, 0, 'no second opinion from another accelerator');
      assert.equal(b.stats().fallbackReplies, 0, 'no second opinion from the fallback');
      if (behavior === 'huge-stream') assert.ok(bad.hugeBytesSent < 64 << 20, `the server got to send ${bad.hugeBytesSent} bytes`);
      assert.ok(b.stats().accelerators.find((a) => a.url === bad.url)!.quarantined !== undefined);
      assert.ok(events.some((e) => e.kind === 'quarantine' && e.url === bad.url), JSON.stringify(events));
      // The trusted runtime's report: another accelerator can take the request again (policy recompute).
      assert.equal(b.reportFailure(req.requestId, new MalformedResponseError('refused')), true);
      const next = request(801);
      accept(await b.linear(next), next);
      assert.equal(bad.received.length, 1);
      assert.equal(good.received.length, 1);
    });
  }

  async function inferOver(accelerator: HttpBackend, onFailure: 'abort' | 'recompute'): Promise<{ result: Promise<Float64Array>; protocol: AcceleratedProtocol }> {
    const protocol = (await openProtocol(model, 'verified', { accelerator, onFailure })) as AcceleratedProtocol;
    const result = model.infer(images[0]!, { mode: 'verified', protocol }).then((r) => r.logits);
    result.catch(() => undefined).finally(() => protocol.close?.());
    return { result, protocol };
  }

  for (const behavior of MALFORMED_FRAMING) {
    it(`${behavior} under --on-failure abort: SLALOM_ERR_MALFORMED and no result, with and without a local fallback`, async () => {
      for (const withFallback of [false, true]) {
        const bad = await fake((f) => (f.behavior = behavior));
        const backend = client([bad.url], withFallback ? { fallback: new LocalBackend() } : {});
        const { result, protocol } = await inferOver(backend, 'abort');
        await assert.rejects(result, (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_MALFORMED') && EXIT_CODES[e.code] === 4, `fallback: ${withFallback}`);
        assert.equal(backend.stats().fallbackReplies, 0, `fallback: ${withFallback}`);
        assert.deepEqual(protocol.incidents, []);
      }
    });
  }

  it('under --on-failure recompute the refused layer is recomputed in the trusted runtime, with an incident', async () => {
    const bad = await fake((f) => (f.behavior = 'binary-past-body'));
    const backend = client([bad.url]);
    const { result, protocol } = await inferOver(backend, 'recompute');
    assert.deepEqual(Array.from(await result), Array.from(baselines[0]!));
    assert.equal(protocol.incidents[0]!.code, 'SLALOM_ERR_MALFORMED');
    // The HTTP backend quarantined the accelerator itself (it re-admits it only after a probe and a canary).
    assert.equal(backend.admitted(), false);
  });

  for (const failure of ['connection refused', 'reset', 'timeout', '5xx'] as const) {
    it(`a transport failure (${failure}) under --on-failure abort is still the fallback's business`, async () => {
      const url =
        failure === 'connection refused'
          ? await deadUrl()
          : (await fake((f) => (f.behavior = failure === 'reset' ? 'close' : failure === 'timeout' ? 'hang' : 'error500'))).url;
      const backend = client([url], { timeoutMs: 500, fallback: new LocalBackend() });
      const { result, protocol } = await inferOver(backend, 'abort');
      assert.deepEqual(Array.from(await result), Array.from(baselines[0]!));
      assert.ok(backend.stats().fallbackReplies > 0);
      assert.deepEqual(protocol.incidents, []);
    });
  }

  it('slalom infer --on-failure abort against malformed framing: exit 4, nothing on stdout, with and without --accelerator-fallback local', async () => {
    const dir = tempDir('http-cli');
    try {
      const input = `${dir}/x.npy`;
      writeFileSync(input, writeNpy(images[0]!));
      const bad = await fake((f) => (f.behavior = 'binary-past-body'));
      for (const fallback of ['fail', 'local']) {
        const args = ['bin/slalom.js', 'infer', '--model', 'models/fashion-mnist.onnx', '--input', input, '--mode', 'verified', '--accelerator', bad.url, '--on-failure', 'abort', '--accelerator-fallback', fallback, '--json'];
        const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SLALOM_DEBUG: '' } }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr }));
        });
        assert.equal(r.code, 4, `--accelerator-fallback ${fallback}: ${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /invalid accelerator response/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('end to end: SlalomModel over HttpBackend, bit-identical to baseline', () => {
  async function run(
    mode: 'verified' | 'private+verified',
    urls: string[],
    pads?: { store: string; stateDir: string },
    onFailure: 'abort' | 'recompute' = 'abort',
  ): Promise<{ logits: Float64Array[]; protocol: AcceleratedProtocol; backend: HttpBackend }> {
    const backend = client(urls);
    const protocol = (await openProtocol(model, mode, { accelerator: backend, onFailure, ...(pads ? { pads } : {}) })) as AcceleratedProtocol;
    const logits: Float64Array[] = [];
    try {
      for (const x of images) logits.push((await model.infer(x, { mode, protocol })).logits);
    } finally {
      await protocol.close?.();
    }
    return { logits, protocol, backend };
  }

  it('verified, two honest accelerators', async () => {
    const { logits } = await run('verified', [(await fake()).url, (await fake()).url]);
    logits.forEach((l, i) => assert.deepEqual(Array.from(l), Array.from(baselines[i]!)));
  });

  it('request ids are unique to the trusted runtime (issue 11, defect 10): a random prefix, then a counter', async () => {
    const s = await fake();
    await run('verified', [s.url]);
    const ids = s.received.map((r) => String(r.id));
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^[0-9a-f]{16}-\d+$/);
    const prefix = ids[0]!.split('-')[0]!;
    assert.ok(ids.every((id) => id.startsWith(`${prefix}-`)));
    // Another trusted runtime (process) numbers its requests under another prefix.
    const other = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/runtime/protocols/accelerated.ts').then((m) => console.log(m.nextRequestId()))"], { encoding: 'utf8' });
    assert.equal(other.status, 0, other.stderr);
    assert.match(other.stdout.trim(), /^[0-9a-f]{16}-1$/);
    assert.notEqual(other.stdout.trim().split('-')[0], prefix);
  });

  it('private+verified: the accelerators only see blinded inputs, and results match', async () => {
    const dir = tempDir('http-e2e');
    try {
      await fillPads(model, `${dir}/state`, `${dir}/store`, 2);
      const s1 = await fake();
      const s2 = await fake();
      const { logits } = await run('private+verified', [s1.url, s2.url], { store: `${dir}/store`, stateDir: `${dir}/state` });
      logits.forEach((l, i) => assert.deepEqual(Array.from(l), Array.from(baselines[i]!)));
      // What the accelerators saw of the first layer is x + r, never the quantized image x.
      const first = [...s1.received, ...s2.received].filter((r) => r.model === nameOf(modelId, layers[0]!));
      assert.equal(first.length, 2);
      for (const r of first) {
        const sent = new Uint32Array(new Uint8Array(r.x).buffer);
        for (const image of images) {
          const x = quantizeInput(model.quantized.layers[0]!, image.data).residues;
          const same = sent.filter((v, i) => v === x[i]).length;
          assert.ok(same < sent.length / 100, `${same} of ${sent.length} values sent in the clear`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const mode of ['verified', 'private+verified'] as const) {
    it(`${mode}, --on-failure recompute: a lying accelerator fails the check, is quarantined, and the honest one redoes the layer with the same bytes`, async () => {
      const dir = tempDir('http-lie');
      try {
        if (mode === 'private+verified') await fillPads(model, `${dir}/state`, `${dir}/store`, 2);
        const liar = await fake((f) => (f.behavior = 'lie'));
        const honest = await fake();
        const { logits, protocol, backend } = await run(mode, [liar.url, honest.url], mode === 'private+verified' ? { store: `${dir}/store`, stateDir: `${dir}/state` } : undefined, 'recompute');
        logits.forEach((l, i) => assert.deepEqual(Array.from(l), Array.from(baselines[i]!)));
        assert.equal(liar.received.length, 1, 'the liar is asked once, then never again');
        const retried = honest.received.find((r) => r.model === liar.received[0]!.model && r.x.equals(liar.received[0]!.x));
        assert.ok(retried !== undefined, 'the honest accelerator got the very same tensor');
        assert.equal(protocol.incidents.length, 1);
        assert.equal(protocol.incidents[0]!.code, 'SLALOM_ERR_INTEGRITY');
        assert.equal(protocol.distrusted, false);
        assert.match(backend.stats().accelerators[0]!.quarantined ?? '', /SLALOM_ERR_INTEGRITY/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('an accelerator echoing the wrong request id is refused by the gate, quarantined, and (recompute) the request retried', async () => {
    const liar = await fake((f) => (f.behavior = 'wrong-id'));
    const honest = await fake();
    const { logits, protocol } = await run('verified', [liar.url, honest.url], undefined, 'recompute');
    logits.forEach((l, i) => assert.deepEqual(Array.from(l), Array.from(baselines[i]!)));
    assert.equal(protocol.incidents[0]!.code, 'SLALOM_ERR_MALFORMED');
    assert.equal(liar.received.length, 1);
  });

  it('--on-failure abort (issue 11, defect 5): a failed check ends the inference with IntegrityError, whether another accelerator or a local fallback is there', async () => {
    for (const setup of ['another accelerator', 'a local fallback'] as const) {
      const liar = await fake((f) => (f.behavior = 'lie'));
      const honest = await fake();
      const fallback = new LocalBackend();
      const urls = setup === 'another accelerator' ? [liar.url, honest.url] : [liar.url];
      const backend = client(urls, setup === 'a local fallback' ? { fallback } : {});
      const protocol = (await openProtocol(model, 'verified', { accelerator: backend, onFailure: 'abort' })) as AcceleratedProtocol;
      try {
        await assert.rejects(model.infer(images[0]!, { mode: 'verified', protocol }), (e: unknown) => (e as { code?: string }).code === 'SLALOM_ERR_INTEGRITY', setup);
      } finally {
        await protocol.close?.();
      }
      assert.equal(liar.received.length, 1, setup);
      assert.equal(honest.received.length, 0, `${setup}: nobody is asked for a second opinion`);
      assert.deepEqual(protocol.incidents, [], setup);
    }
  });

  it('private+verified with a transient 500 on the only accelerator (issue 11, defect 6): the inference succeeds on one pad', async () => {
    const dir = tempDir('http-500');
    try {
      await fillPads(model, `${dir}/state`, `${dir}/store`, images.length);
      const s = await fake((f) => (f.script = ['error500']));
      const { logits } = await run('private+verified', [s.url], { store: `${dir}/store`, stateDir: `${dir}/state` });
      logits.forEach((l, i) => assert.deepEqual(Array.from(l), Array.from(baselines[i]!)));
      assert.equal(s.received[0]!.x.equals(s.received[1]!.x), true, 'the same blinded tensor, not another pad');
      const status = openStore(TrustedState.open(`${dir}/state`), new PadStore(`${dir}/store`), model).ledger.inventory();
      assert.equal(status.consumed, images.length, 'one pad per inference, none lost');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a lying only accelerator: the inference fails with IntegrityError, no result', async () => {
    const liar = await fake((f) => (f.behavior = 'lie'));
    const backend = client([liar.url]);
    const protocol = await openProtocol(model, 'verified', { accelerator: backend });
    try {
      await assert.rejects(model.infer(images[0]!, { mode: 'verified', protocol }), (e: unknown) => (e as { code?: string }).code === 'SLALOM_ERR_INTEGRITY');
    } finally {
      await protocol.close?.();
    }
  });
});
