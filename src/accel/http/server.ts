/**
 * The accelerator as a service (issue 5; DESIGN.md §1): an untrusted Open Inference Protocol (KServe
 * v2) REST server on node:http, one OIP model per linear layer (protocol.ts fixes names and tensors).
 *
 * Endpoints: `GET /v2/health/live|ready`, `GET /v2` (server metadata), `GET /v2/models/{m}` (metadata),
 * `GET /v2/models/{m}/ready`, `POST /v2/models/{m}/infer` (JSON tensors and the binary tensor data
 * extension), the repository extension (`POST /v2/repository/index`, `…/models/{m}/load`, `…/unload`),
 * the statistics extension (`GET /v2/models/stats`, `GET /v2/models/{m}/stats`) and `GET /v2/slalom/stats`.
 * `/versions/1` may follow a model name.
 *
 * Backends, by name from accel/registry.ts (any registered backend that computes in-process), each
 * behind an AcceleratorHost: `onnxruntime` runs the layer's exact ONNX graph (export.ts) in an
 * InferenceSession (http/onnx-graph-kernels.ts), `reference` slalom's exact kernels (js or ort),
 * `webgpu` the exact WGSL kernels on a GPU. Either way the server runs
 * the graph it regenerates from the uploaded model's `slalom.layer` description and `W` initializer,
 * never an arbitrary uploaded graph: a load is parsed, checked against the exactness bound
 * ((p − 1)·Σ|w̃_row| < 2^53, field.ts) and refused if it fails, so an honest server never answers inexactly.
 *
 * Loads: a layer's model name ends with its content digest (protocol.ts); a load whose layer does
 * not match its name, or differs from what is loaded under that name, is refused with 409, and a load
 * of what is already loaded changes nothing (200). So no client can replace the layer another client
 * registered: the only layer a name can hold is the one whose digest it carries (a different layer
 * with the same 64-bit digest prefix would take ~2^64 hashes to find, and even then cannot replace a
 * loaded one). The layer's model id (model name and weightsHash prefix) is not checkable here (the
 * server never sees the whole model) and only keeps models apart.
 *
 * Memory: a request is admitted only if what it will hold — input, output, the copy of its input in
 * a batch, the backend's working memory (memory.ts) and a JSON reply's text — fits in the in-flight
 * budget (503 + Retry-After when it does not fit now, 413 when it never could); a batch whose working
 * memory would pass `maxWorkBytes` runs in pieces along the batch axis. onnxruntime sessions run
 * without a memory arena, so what a burst allocated is given back.
 *
 * Scheduling: requests for a layer wait in a bounded per-layer queue (503 + Retry-After when it is
 * full, or when the bytes held by all requests pass a budget) made of one FIFO per client (the
 * `X-Slalom-Client` header, else the remote address). A batch is formed round-robin over the clients
 * from requests with the same per-item shape, up to `maxBatch` items, once the oldest request waited
 * `maxDelayMs` or the batch is full; it runs once (concatenated on the batch axis) and is split back.
 * Batches run one at a time (`concurrency`), layers taking turns.
 *
 * Hardening: bodies are counted as they stream and refused with 413 past the limit (loads have their
 * own limit); no buffer is sized from a request header; JSON is pre-scanned for container count
 * before parsing; shapes, datatypes, binary sizes and every value (an integer in [0, p)) are checked;
 * every bad request gets a 4xx `{"error": "…"}` and the server keeps serving; requests that wait in a
 * queue past `requestTimeoutMs` get 503; node's own request and header timeouts apply.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { isSlalomError, TransportError } from '../../errors.js';
import { P } from '../../field/prime.js';
import { convOutputDims } from '../../kernels/conv.js';
import { EXACT_KERNELS, type ExactKernels, type ExactKernelsName } from '../../kernels/exact-linear.js';
import { sizeOf } from '../../tensor/tensor.js';
import { AcceleratorHost } from '../host.js';
import { backendRequest, resolveKernels } from '../registry.js';
import type { AdapterChoice } from '../webgpu/device.js';
import { EXPORT_INDEX_FILE, itemDims, layerDigest, parseLayerOnnx, type ExportableLayer, type LayerDescription, type ParsedLayer } from './export.js';
import { requestCost } from './memory.js';
import {
  BINARY_HEADER,
  CLIENT_HEADER,
  DATATYPE,
  INPUT_TENSOR,
  LOAD_FILE_PARAMETER,
  MODEL_VERSION,
  NAME_DIGEST_HEX,
  OUTPUT_TENSOR,
  parseLayerModelName,
  PLATFORM,
  type ModelStats,
  type ServerStats,
} from './protocol.js';
import { aInt, aOneOf } from '../../util/assert.js';

export interface AcceleratorServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string;
  /** How layers are computed: a backend of accel/registry.ts that computes in-process — onnxruntime (default), reference, webgpu. */
  readonly backend?: string;
  /** Kernels of the `reference` backend (default 'ort'). */
  readonly kernels?: ExactKernelsName;
  /** The backend's variant: the adapter of `webgpu` (default SLALOM_WEBGPU_ADAPTER, else 'gpu': a hardware GPU or nothing; accel/webgpu/device.ts). */
  readonly adapter?: AdapterChoice;
  /** A model repository (`slalom export`) to load models from. */
  readonly modelRepository?: string;
  /** Load every model of the repository at start-up (default true when a repository is given). */
  readonly preload?: boolean;
  /** onnxruntime intra-op threads (default 1). */
  readonly threads?: number;
  /** Most items (sum of batch axes) per batch (default 8). */
  readonly maxBatch?: number;
  /** Longest a request waits for others to join its batch (default 2 ms). */
  readonly maxDelayMs?: number;
  /** Most requests queued per model (default 64). */
  readonly maxQueue?: number;
  /** Largest infer request body (default 64 MiB). */
  readonly maxBodyBytes?: number;
  /** Largest repository-load request body (default 1 GiB). */
  readonly maxLoadBytes?: number;
  /** Largest input or output tensor of one request, in elements (default 2^24). */
  readonly maxTensorElements?: number;
  /** Bytes all requests together may hold (bodies, tensors, results, working memory) before 503 (default 1 GiB). */
  readonly maxInflightBytes?: number;
  /** Working memory of one backend run; bigger batches run in pieces (default 64 MiB). */
  readonly maxWorkBytes?: number;
  /** Most JSON objects and arrays in one body (default 2^20). */
  readonly maxJsonContainers?: number;
  /** Longest a request may take to arrive, or wait in a queue (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Largest request head (default 16 KiB; more is 431). */
  readonly maxHeaderBytes?: number;
  /** Batches run at once (default 1). */
  readonly concurrency?: number;
  /** Most open connections; more are refused (default 1024). */
  readonly maxConnections?: number;
  /** One line per event worth logging (loads, unloads, start, stop); default none. */
  readonly log?: (line: string) => void;
}

type Resolved = Required<Omit<AcceleratorServerOptions, 'modelRepository' | 'log' | 'adapter'>> & { modelRepository?: string; adapter?: AdapterChoice; log: (line: string) => void };

const MIB = 1 << 20;
const RETRY_AFTER_S = '1';
const MODEL_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;
const ID_MAX = 256;

function resolveOptions(o: AcceleratorServerOptions): Resolved {
  const int = (v: number | undefined, def: number, what: string, min = 1): number => aInt(v ?? def, what, { min });
  const backend = o.backend ?? 'onnxruntime';
  backendRequest(backend, o.adapter, {}, 'kernels'); // throws for a backend that cannot serve, or a variant it does not take
  if (o.kernels !== undefined) aOneOf(o.kernels, 'kernels', EXACT_KERNELS);
  const requestTimeoutMs = int(o.requestTimeoutMs, 30_000, 'requestTimeoutMs');
  return {
    port: int(o.port, 0, 'port', 0),
    host: o.host ?? '127.0.0.1',
    backend,
    kernels: o.kernels ?? 'ort',
    ...(o.adapter !== undefined ? { adapter: o.adapter } : {}),
    ...(o.modelRepository !== undefined ? { modelRepository: o.modelRepository } : {}),
    preload: o.preload ?? o.modelRepository !== undefined,
    threads: int(o.threads, 1, 'threads'),
    maxBatch: int(o.maxBatch, 8, 'maxBatch'),
    maxDelayMs: int(o.maxDelayMs, 2, 'maxDelayMs', 0),
    maxQueue: int(o.maxQueue, 64, 'maxQueue'),
    maxBodyBytes: int(o.maxBodyBytes, 64 * MIB, 'maxBodyBytes'),
    maxLoadBytes: int(o.maxLoadBytes, 1024 * MIB, 'maxLoadBytes'),
    maxTensorElements: int(o.maxTensorElements, 1 << 24, 'maxTensorElements'),
    maxInflightBytes: int(o.maxInflightBytes, 1024 * MIB, 'maxInflightBytes'),
    maxWorkBytes: int(o.maxWorkBytes, 64 * MIB, 'maxWorkBytes'),
    maxJsonContainers: int(o.maxJsonContainers, 1 << 20, 'maxJsonContainers'),
    requestTimeoutMs,
    maxHeaderBytes: int(o.maxHeaderBytes, 16 * 1024, 'maxHeaderBytes', 1024),
    concurrency: int(o.concurrency, 1, 'concurrency'),
    maxConnections: int(o.maxConnections, 1024, 'maxConnections'),
    log: o.log ?? (() => {}),
  };
}

/** A failure with the HTTP status to answer it with. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const busy = (message: string): HttpError => new HttpError(503, message, { 'Retry-After': RETRY_AFTER_S });

// ---------------------------------------------------------------------------------------------
// Backends

interface Runner {
  run(dims: readonly number[], x: Float64Array): Promise<Float64Array>;
  close(): Promise<void>;
}

interface RunnerFactory {
  readonly name: string;
  create(layer: ParsedLayer): Promise<Runner>;
  close(): Promise<void>;
}

/** Layers run by an AcceleratorHost on the in-process kernels of a registered backend (accel/registry.ts). */
function hostFactory(backend: string, kernels: ExactKernels): RunnerFactory {
  return {
    name: `${backend} (${kernels.device ?? kernels.name})`,
    async create({ layer, description }) {
      const host = new AcceleratorHost(kernels);
      // The input dims fix H and W of a convolution's exported graph (the onnxruntime backend's kernels).
      const loaded: ExportableLayer = { ...layer, id: 0, ...(description.inputDims ? { inDims: [1, ...description.inputDims] } : {}) };
      await host.load([loaded]);
      return { run: async (dims, x) => (await host.linear(0, dims, x)).data, close: async () => host.unload(0) };
    },
    close: () => kernels.close(),
  };
}

function serverKernels(o: Resolved): Promise<ExactKernels> {
  return resolveKernels(backendRequest(o.backend, o.adapter, { kernels: o.kernels, threads: o.threads }, 'kernels'));
}

// ---------------------------------------------------------------------------------------------
// Queues

interface Outcome {
  readonly y: Float64Array;
  readonly computeMs: number;
  readonly batchItems: number;
  readonly batchRequests: number;
}

/** What FairQueue needs of a queued request. */
export interface QueueItem {
  readonly client: string;
  readonly items: number;
  readonly shapeKey: string;
  readonly enqueuedAt: number;
}

interface Entry extends QueueItem {
  readonly client: string;
  readonly dims: readonly number[];
  readonly outDims: readonly number[];
  readonly x: Float64Array;
  readonly items: number;
  /** Items per backend run for this per-item shape (memory.ts). */
  readonly itemsPerRun: number;
  readonly shapeKey: string;
  readonly enqueuedAt: number;
  settled: boolean;
  resolve(o: Outcome): void;
  reject(e: HttpError): void;
}

/** One FIFO per client; batches are taken round-robin over the clients. Exported for tests. */
export class FairQueue<E extends QueueItem> {
  private readonly byClient = new Map<string, E[]>();
  private ring: string[] = [];
  private cursor = 0;
  size = 0;
  items = 0;

  push(e: E): void {
    let q = this.byClient.get(e.client);
    if (q === undefined) {
      q = [];
      this.byClient.set(e.client, q);
      this.ring.push(e.client);
    }
    q.push(e);
    this.size++;
    this.items += e.items;
  }

  remove(e: E): boolean {
    const q = this.byClient.get(e.client);
    const i = q?.indexOf(e) ?? -1;
    if (q === undefined || i < 0) return false;
    q.splice(i, 1);
    this.size--;
    this.items -= e.items;
    if (q.length === 0) this.dropClient(e.client);
    return true;
  }

  private dropClient(client: string): void {
    this.byClient.delete(client);
    const i = this.ring.indexOf(client);
    this.ring.splice(i, 1);
    if (i < this.cursor) this.cursor--;
    if (this.cursor >= this.ring.length) this.cursor = 0;
  }

  /** Enqueue time of the oldest request (the oldest head). */
  oldestAt(): number {
    let t = Infinity;
    for (const q of this.byClient.values()) if (q[0]!.enqueuedAt < t) t = q[0]!.enqueuedAt;
    return t;
  }

  /** Takes a batch: round-robin over clients, same per-item shape as the first taken, at most maxItems items (the first is always taken). */
  take(maxItems: number): E[] {
    const batch: E[] = [];
    let items = 0;
    let shape: string | undefined;
    let progress = true;
    while (progress && this.ring.length > 0) {
      progress = false;
      const clients = this.ring.length;
      for (let k = 0; k < clients && this.ring.length > 0; k++) {
        if (this.cursor >= this.ring.length) this.cursor = 0;
        const client = this.ring[this.cursor]!;
        const q = this.byClient.get(client)!;
        const head = q[0]!;
        if ((shape === undefined || head.shapeKey === shape) && (batch.length === 0 || items + head.items <= maxItems)) {
          shape = head.shapeKey;
          q.shift();
          batch.push(head);
          items += head.items;
          this.size--;
          this.items -= head.items;
          progress = true;
          if (q.length === 0) {
            this.dropClient(client); // the next client moves to the cursor
          } else {
            this.cursor = (this.cursor + 1) % this.ring.length;
          }
          if (items >= maxItems) return batch;
        } else {
          this.cursor = (this.cursor + 1) % this.ring.length;
        }
      }
    }
    return batch;
  }

  drain(): E[] {
    const all = [...this.byClient.values()].flat();
    this.byClient.clear();
    this.ring = [];
    this.cursor = 0;
    this.size = 0;
    this.items = 0;
    return all;
  }
}

class MutableStats {
  requests = 0;
  items = 0;
  batches = 0;
  runs = 0;
  batchSizes: Record<string, number> = {};
  batchRequests: Record<string, number> = {};
  rejectedQueueFull = 0;
  rejectedInvalid = 0;
  timedOut = 0;
  failed = 0;
  computeMs = 0;
  queueNs = 0;
  lastInference = 0;
  clients: Record<string, number> = {};
  /** Per batch size: count and compute ns (statistics extension). */
  batchCompute = new Map<number, { count: number; ns: number }>();
}

interface LoadedModel {
  readonly name: string;
  /** The layer's content digest (export.ts layerDigest). */
  readonly digest: string;
  readonly description: LayerDescription;
  readonly input: readonly number[];
  readonly output: readonly number[];
  readonly runner: Runner;
  /** Batches of this runner in flight; the runner is closed once it is retired and this is 0. */
  active: number;
  retired: boolean;
}

interface ModelSlot {
  readonly name: string;
  model?: LoadedModel;
  readonly queue: FairQueue<Entry>;
  readonly stats: MutableStats;
  /** Serialises loads and unloads of this name. */
  loading: Promise<unknown>;
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** Reads a body, counting bytes as they arrive: 413 past `limit` (nothing beyond it is buffered). */
function readBody(req: IncomingMessage, limit: number, onBytes: (n: number) => void): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && (!/^\d{1,16}$/.test(declared) || Number(declared) > limit)) {
    return Promise.reject(new HttpError(413, `request body of ${declared.slice(0, 20)} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err?: HttpError): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer): void => {
      if (total + chunk.length > limit) {
        finish(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      try {
        onBytes(chunk.length);
      } catch (e) {
        finish(e as HttpError);
        return;
      }
      total += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    const onError = (): void => finish(new HttpError(400, 'request body could not be read'));
    const onAborted = (): void => finish(new HttpError(400, 'request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** Counts `{` and `[` outside strings; refuses JSON with more than `max` containers before JSON.parse sees it. */
function parseJsonBounded(bytes: Buffer, maxContainers: number, what: string): unknown {
  let containers = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++containers > maxContainers) throw new HttpError(400, `${what} has more than ${maxContainers} JSON objects and arrays`);
    }
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpError(400, `${what} is not valid JSON`);
  }
}

/** A string value of a JSON body kept out of JSON.parse (a base64 model can pass V8's string limit): its byte range. */
interface Blob {
  readonly start: number;
  readonly end: number;
}

const BLOB_MIN_BYTES = 1 << 20;
const BLOB_PREFIX = '\u0000slalom-blob:';

/**
 * JSON.parse for a repository-load body: string literals of at least 1 MiB without escapes are
 * replaced by placeholders before parsing and returned as byte ranges, so a model's base64 never
 * becomes one JavaScript string. Also bounds the containers like parseJsonBounded.
 */
function parseJsonWithBlobs(bytes: Buffer, maxContainers: number, what: string): { value: unknown; blobs: Blob[] } {
  const blobs: Blob[] = [];
  const pieces: Buffer[] = [];
  let copied = 0;
  let containers = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x22) {
      const start = i + 1;
      let escaped = false;
      let j = start;
      for (; j < bytes.length; j++) {
        const d = bytes[j]!;
        if (d === 0x5c) {
          escaped = true;
          j++;
        } else if (d === 0x22) break;
      }
      if (j >= bytes.length) throw new HttpError(400, `${what} is not valid JSON`);
      if (!escaped && j - start >= BLOB_MIN_BYTES) {
        pieces.push(bytes.subarray(copied, start), Buffer.from(`\\u0000slalom-blob:${blobs.length}`));
        blobs.push({ start, end: j });
        copied = j;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      if (++containers > maxContainers) throw new HttpError(400, `${what} has more than ${maxContainers} JSON objects and arrays`);
    }
  }
  pieces.push(bytes.subarray(copied));
  const text = Buffer.concat(pieces);
  if (text.length > 64 * MIB) throw new HttpError(413, `${what} has ${text.length} bytes of JSON besides its file contents`);
  try {
    return { value: JSON.parse(text.toString('utf8')), blobs };
  } catch {
    throw new HttpError(400, `${what} is not valid JSON`);
  }
}

const BASE64_CHUNK = 4 * MIB; // a multiple of 4

/** Decodes standard base64 held in bytes [start, end) of `body`, chunk by chunk; 400 on anything that is not base64. */
function decodeBase64Range(body: Buffer, start: number, end: number, what: string): Buffer {
  const len = end - start;
  if (len === 0 || len % 4 !== 0) throw new HttpError(400, `${what} must be base64`);
  const pad = body[end - 1] === 0x3d ? (body[end - 2] === 0x3d ? 2 : 1) : 0;
  const out = Buffer.allocUnsafe((len / 4) * 3 - pad);
  let at = 0;
  for (let a = start; a < end; a += BASE64_CHUNK) {
    const b = Math.min(end, a + BASE64_CHUNK);
    for (let i = a; i < b; i++) {
      const c = body[i]!;
      const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || (c === 0x3d && i >= end - pad);
      if (!ok) throw new HttpError(400, `${what} must be base64`);
    }
    at += Buffer.from(body.subarray(a, b).toString('latin1'), 'base64').copy(out, at);
  }
  if (at !== out.length) throw new HttpError(400, `${what} must be base64`);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float64 values from little-endian bytes, into a fresh aligned array. */
function float64FromBytes(bytes: Uint8Array): Float64Array {
  const out = new Float64Array(bytes.length / 8);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
  }
  return out;
}

function bytesOfFloat64(y: Float64Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(y.buffer, y.byteOffset, y.byteLength);
  const out = Buffer.alloc(y.byteLength);
  for (let i = 0; i < y.length; i++) out.writeDoubleLE(y[i]!, 8 * i);
  return out;
}

/** Flattens JSON tensor data (flat, or nested to match `shape`) into doubles; every value must be a residue. */
function flattenData(data: unknown, shape: readonly number[], size: number): Float64Array {
  if (!Array.isArray(data)) throw new HttpError(400, `input '${INPUT_TENSOR}': data must be an array`);
  const out = new Float64Array(size);
  let at = 0;
  const put = (v: unknown): void => {
    if (typeof v !== 'number' || !(v >= 0 && v < P) || Math.floor(v) !== v) {
      throw new HttpError(400, `input '${INPUT_TENSOR}': value ${at} is ${describeValue(v)}, not an integer in [0, ${P})`);
    }
    out[at++] = v + 0;
  };
  if (data.length === 0 || !Array.isArray(data[0])) {
    if (data.length !== size) throw new HttpError(400, `input '${INPUT_TENSOR}': data has ${data.length} values, shape [${shape.join(', ')}] needs ${size}`);
    for (const v of data) put(v);
    return out;
  }
  const walk = (a: unknown, depth: number): void => {
    if (depth === shape.length) return put(a);
    if (!Array.isArray(a) || a.length !== shape[depth]) throw new HttpError(400, `input '${INPUT_TENSOR}': data does not match shape [${shape.join(', ')}] (flat or nested)`);
    for (const v of a) walk(v, depth + 1);
  };
  walk(data, 0);
  return out;
}

function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return 'a string';
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

/** Checks that every value is an integer in [0, p); normalises −0. */
function checkResidues(x: Float64Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!(v >= 0 && v < P) || Math.floor(v) !== v) throw new HttpError(400, `input '${INPUT_TENSOR}': value ${i} is ${v}, not an integer in [0, ${P})`);
    if (v === 0) x[i] = 0;
  }
}

/** Bytes of a refused request's body still read (and dropped) after the answer, so the client sees the answer. */
const DRAIN_BYTES = 4 * MIB;
const DRAIN_MS = 1000;

/**
 * After answering a request whose body was not (fully) read: drop what follows, keeping the
 * connection if the body ends within DRAIN_BYTES and DRAIN_MS, destroying it otherwise. Closing at
 * once would reset the connection under a client still sending, which may lose the answer.
 */
function discardRest(req: IncomingMessage): void {
  if (req.complete) return;
  let dropped = 0;
  const kill = (): void => {
    clearTimeout(timer);
    req.socket?.destroy();
  };
  const timer = setTimeout(kill, DRAIN_MS);
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_BYTES) kill();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

// ---------------------------------------------------------------------------------------------
// The server

interface ParsedInfer {
  readonly id?: string;
  readonly clientId?: string;
  readonly dims: number[];
  readonly outDims: number[];
  readonly x: Float64Array;
  readonly binaryOutput: boolean;
}

export class AcceleratorServer {
  readonly options: Resolved;
  private readonly http: Server;
  private readonly slots = new Map<string, ModelSlot>();
  private readonly startedAt = performance.now();
  private readonly totals = { requests: 0, ok: 0, rejected: {} as Record<string, number> };
  private readonly sockets = new Set<Socket>();
  private factory!: RunnerFactory;
  private inflightBytes = 0;
  private running = 0;
  private rr = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private loadBytes = 0;
  private draining = false;
  private closed: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private boundPort = 0;

  private constructor(options: AcceleratorServerOptions) {
    this.options = resolveOptions(options);
    this.http = createServer({ maxHeaderSize: this.options.maxHeaderBytes, requestTimeout: this.options.requestTimeoutMs, headersTimeout: Math.min(this.options.requestTimeoutMs, 10_000) }, (req, res) => {
      void this.handle(req, res);
    });
    this.http.maxConnections = this.options.maxConnections;
    this.http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.http.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      this.count(status);
      if (socket.writable) {
        const body = JSON.stringify({ error: status === 431 ? 'request header too large' : status === 408 ? 'request timeout' : 'malformed HTTP request' });
        socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroySoon?.();
    });
  }

  /** Starts a server (backend ready, repository preloaded when asked) listening on `options.port`. */
  static async start(options: AcceleratorServerOptions = {}): Promise<AcceleratorServer> {
    const server = new AcceleratorServer(options);
    const o = server.options;
    server.factory = hostFactory(o.backend, await serverKernels(o));
    if (o.preload && o.modelRepository !== undefined) {
      for (const name of server.repositoryModels()) {
        try {
          await server.load(name, undefined);
        } catch (e) {
          o.log(`preload of ${name} failed: ${(e as Error).message}`);
        }
      }
    }
    try {
      await new Promise<void>((resolve, reject) => {
        server.http.once('error', reject);
        server.http.listen(o.port, o.host, () => {
          server.http.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await Promise.all([...server.slots.values()].map((s) => s.model?.runner.close().catch(() => {})));
      await server.factory.close().catch(() => {});
      throw new TransportError(`cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`, { cause: e });
    }
    server.boundPort = (server.http.address() as AddressInfo).port;
    o.log(`slalom accelerator (${server.factory.name}) listening on ${server.url}`);
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const h = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${h === '0.0.0.0' ? '127.0.0.1' : h}:${this.boundPort}`;
  }

  /** Names of the loaded models. */
  loadedModels(): string[] {
    return [...this.slots.values()].filter((s) => s.model !== undefined).map((s) => s.name);
  }

  stats(): ServerStats {
    const models: Record<string, ModelStats> = {};
    for (const s of this.slots.values()) {
      const m = s.stats;
      models[s.name] = {
        ready: s.model !== undefined,
        queueDepth: s.queue.size,
        queuedItems: s.queue.items,
        maxQueue: this.options.maxQueue,
        requests: m.requests,
        items: m.items,
        batches: m.batches,
        runs: m.runs,
        batchSizes: { ...m.batchSizes },
        batchRequests: { ...m.batchRequests },
        rejectedQueueFull: m.rejectedQueueFull,
        rejectedInvalid: m.rejectedInvalid,
        timedOut: m.timedOut,
        failed: m.failed,
        computeMs: m.computeMs,
        clients: { ...m.clients },
      };
    }
    const mem = process.memoryUsage();
    return {
      uptimeMs: performance.now() - this.startedAt,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      inflightBytes: this.inflightBytes,
      backend: this.factory.name,
      totals: { requests: this.totals.requests, ok: this.totals.ok, rejected: { ...this.totals.rejected } },
      models,
    };
  }

  /**
   * Graceful stop: not ready, no new connections; queued and running batches finish (up to `graceMs`,
   * then what is still queued gets 503); then connections close and sessions are released.
   */
  close(graceMs = 10_000): Promise<void> {
    this.closed ??= (async () => {
      this.draining = true;
      this.options.log('shutting down: finishing queued requests');
      const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections();
      this.kick();
      const idle = new Promise<void>((resolve) => {
        if (this.isIdle()) resolve();
        else this.idleWaiters.push(resolve);
      });
      let graceTimer: NodeJS.Timeout | undefined;
      await Promise.race([idle, new Promise<void>((r) => (graceTimer = setTimeout(r, graceMs)))]);
      clearTimeout(graceTimer);
      for (const s of this.slots.values()) for (const e of s.queue.drain()) this.settle(e, busy('the accelerator is shutting down'));
      if (this.timer) clearTimeout(this.timer);
      // Responses just written get a moment to flush before the remaining sockets are closed.
      await new Promise((r) => setTimeout(r, 50));
      this.http.closeAllConnections();
      for (const s of this.sockets) s.destroy();
      await stopped;
      await Promise.all([...this.slots.values()].map((s) => (s.model ? s.model.runner.close().catch(() => {}) : undefined)));
      await this.factory.close().catch(() => {});
      this.options.log('stopped');
    })();
    return this.closed;
  }

  // ----- repository

  private repositoryModels(): string[] {
    const dir = this.options.modelRepository;
    if (dir === undefined) return [];
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && MODEL_NAME_RE.test(e.name))
        .map((e) => e.name);
    } catch {
      return [];
    }
    // In the exported order when the index is there, so that preload follows the model.
    try {
      const index = JSON.parse(readFileSync(join(dir, EXPORT_INDEX_FILE), 'utf8')) as { layers?: unknown };
      if (Array.isArray(index.layers)) {
        const order = new Map(index.layers.map((n, i) => [String(n), i]));
        names.sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || a.localeCompare(b));
      }
    } catch {
      names.sort();
    }
    return names;
  }

  private repositoryFile(name: string): string {
    const dir = this.options.modelRepository;
    if (dir === undefined) throw new HttpError(400, `no model repository is configured; send the model in the request (parameters["${LOAD_FILE_PARAMETER}"], base64) or as application/octet-stream`);
    const file = join(dir, name, MODEL_VERSION, 'model.onnx');
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new HttpError(404, `model '${name}' is not in the repository`);
    }
    if (size > this.options.maxLoadBytes) throw new HttpError(413, `model file of ${size} bytes exceeds the load limit of ${this.options.maxLoadBytes} bytes`);
    return file;
  }

  private slot(name: string): ModelSlot {
    let s = this.slots.get(name);
    if (s === undefined) {
      s = { name, queue: new FairQueue<Entry>(), stats: new MutableStats(), loading: Promise.resolve() };
      this.slots.set(name, s);
    }
    return s;
  }

  /**
   * Loads model `name` from `bytes`, or from the repository when `bytes` is undefined: 409 unless the
   * layer is the one the name's digest names and nothing else is loaded under it; nothing changes if
   * it is loaded already.
   */
  private load(name: string, bytes: Uint8Array | undefined): Promise<void> {
    const claimed = parseLayerModelName(name);
    if (claimed === undefined) {
      return Promise.reject(new HttpError(400, `model '${name}': a layer's name must end with .l<index>.<first ${NAME_DIGEST_HEX} hex digits of the layer's digest> (as slalom export and the slalom client name layers)`));
    }
    const s = this.slot(name);
    const run = s.loading.then(async () => {
      const onnx = bytes ?? readFileSync(this.repositoryFile(name));
      let parsed;
      try {
        parsed = parseLayerOnnx(onnx);
      } catch (e) {
        throw new HttpError(400, `model '${name}': ${(e as Error).message}`);
      }
      const d = parsed.description;
      const digest = layerDigest(d, parsed.weights);
      if (d.index !== claimed.index || !digest.startsWith(claimed.digest)) {
        throw new HttpError(409, `model '${name}': the uploaded layer (index ${d.index}, digest ${digest.slice(0, NAME_DIGEST_HEX)}) is not the layer this name is bound to`);
      }
      if (s.model !== undefined) {
        if (s.model.digest !== digest) throw new HttpError(409, `model '${name}' is loaded already, with other content; unload it first`);
        return; // the very same layer: nothing to do
      }
      const runner = await this.factory.create(parsed).catch((e: unknown) => {
        throw new HttpError(400, `model '${name}' cannot be run: ${(e as Error).message}`);
      });
      const dims = itemDims(d);
      if (this.slots.get(name) !== s) this.slots.set(name, s); // a failed load before this one may have dropped the slot
      s.model = { name, digest, description: d, input: dims.input, output: dims.output, runner, active: 0, retired: false };
      this.options.log(`loaded ${name} (${d.op} ${d.name}, W [${d.wDims.join(', ')}])`);
      this.kick();
    });
    s.loading = run.catch(() => {
      // A failed first load leaves no trace (hostile names must not accumulate).
      if (s.model === undefined && s.queue.size === 0 && s.stats.requests === 0 && this.slots.get(name) === s) this.slots.delete(name);
    });
    return run;
  }

  private async unload(name: string): Promise<void> {
    const s = this.slots.get(name);
    if (s === undefined || s.model === undefined) throw new HttpError(400, `model '${name}' is not loaded`);
    await (s.loading = s.loading.then(() => {
      const old = s.model;
      s.model = undefined;
      for (const e of s.queue.drain()) this.settle(e, new HttpError(404, `model '${name}' was unloaded`));
      if (old) this.retire(old);
      this.options.log(`unloaded ${name}`);
    }));
  }

  private retire(m: LoadedModel): void {
    m.retired = true;
    if (m.active === 0) void m.runner.close().catch(() => {});
  }

  // ----- scheduling

  private isIdle(): boolean {
    if (this.running > 0) return false;
    for (const s of this.slots.values()) if (s.queue.size > 0) return false;
    return true;
  }

  private kick(): void {
    if (this.idleWaiters.length > 0 && this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
    while (this.running < this.options.concurrency) {
      const now = performance.now();
      const pending = [...this.slots.values()].filter((s) => s.queue.size > 0 && s.model !== undefined);
      if (pending.length === 0) return;
      let pick: ModelSlot | undefined;
      let nextAt = Infinity;
      for (let k = 0; k < pending.length; k++) {
        const s = pending[(this.rr + k) % pending.length]!;
        const due = s.queue.oldestAt() + this.options.maxDelayMs;
        if (s.queue.items >= this.options.maxBatch || due <= now || this.draining) {
          pick = s;
          this.rr = (this.rr + k + 1) % Math.max(1, pending.length);
          break;
        }
        nextAt = Math.min(nextAt, due);
      }
      if (pick === undefined) {
        this.arm(nextAt, now);
        return;
      }
      const batch = pick.queue.take(this.options.maxBatch);
      this.running++;
      void this.runBatch(pick, batch).finally(() => {
        this.running--;
        this.kick();
      });
    }
  }

  private arm(at: number, now: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, Math.ceil(at - now)));
  }

  private async runBatch(slot: ModelSlot, batch: Entry[]): Promise<void> {
    const live = batch.filter((e) => !e.settled);
    const model = slot.model;
    if (live.length === 0) return;
    if (model === undefined) {
      for (const e of live) this.settle(e, new HttpError(404, `model '${slot.name}' was unloaded`));
      return;
    }
    const items = live.reduce((a, e) => a + e.items, 0);
    const dims = [items, ...live[0]!.dims.slice(1)];
    let x: Float64Array;
    if (live.length === 1) x = live[0]!.x;
    else {
      x = new Float64Array(live.reduce((a, e) => a + e.x.length, 0));
      let at = 0;
      for (const e of live) {
        x.set(e.x, at);
        at += e.x.length;
      }
    }
    const start = performance.now();
    const st = slot.stats;
    for (const e of live) st.queueNs += (start - e.enqueuedAt) * 1e6;
    model.active++;
    try {
      const outDims = [items, ...live[0]!.outDims.slice(1)];
      const y = await this.runInPieces(model.runner, dims, x, outDims, live[0]!.itemsPerRun, st);
      if (y.length !== sizeOf(outDims)) throw new Error(`the backend returned ${y.length} values for [${outDims.join(', ')}]`);
      const computeMs = performance.now() - start;
      st.batches++;
      st.items += items;
      st.computeMs += computeMs;
      st.lastInference = Date.now();
      st.batchSizes[items] = (st.batchSizes[items] ?? 0) + 1;
      st.batchRequests[live.length] = (st.batchRequests[live.length] ?? 0) + 1;
      const bc = st.batchCompute.get(items) ?? { count: 0, ns: 0 };
      bc.count++;
      bc.ns += computeMs * 1e6;
      st.batchCompute.set(items, bc);
      let at = 0;
      for (const e of live) {
        const n = sizeOf(e.outDims);
        const part = live.length === 1 ? y : y.subarray(at, at + n);
        at += n;
        if (!e.settled) {
          st.requests++;
          st.clients[e.client] = (st.clients[e.client] ?? 0) + 1;
        }
        this.settleOk(e, { y: part, computeMs, batchItems: items, batchRequests: live.length });
      }
    } catch (err) {
      st.failed += live.length;
      const status = isSlalomError(err) && err.code === 'SLALOM_ERR_INVALID_ARG' ? 400 : 500;
      for (const e of live) this.settle(e, new HttpError(status, `model '${slot.name}': ${(err as Error).message}`));
    } finally {
      model.active--;
      if (model.retired && model.active === 0) void model.runner.close().catch(() => {});
    }
  }

  /** One run, or runs of at most `itemsPerRun` items along the batch axis, concatenated. */
  private async runInPieces(runner: Runner, dims: readonly number[], x: Float64Array, outDims: readonly number[], itemsPerRun: number, st: MutableStats): Promise<Float64Array> {
    const items = dims[0]!;
    if (items <= itemsPerRun) {
      st.runs++;
      return runner.run(dims, x);
    }
    const inItem = x.length / items;
    const outItem = sizeOf(outDims) / items;
    const y = new Float64Array(sizeOf(outDims));
    for (let at = 0; at < items; at += itemsPerRun) {
      const n = Math.min(itemsPerRun, items - at);
      st.runs++;
      const part = await runner.run([n, ...dims.slice(1)], x.slice(at * inItem, (at + n) * inItem));
      if (part.length !== n * outItem) throw new Error(`the backend returned ${part.length} values for ${n} items`);
      y.set(part, at * outItem);
    }
    return y;
  }

  private settle(e: Entry, err: HttpError): void {
    if (e.settled) return;
    e.settled = true;
    e.reject(err);
  }

  private settleOk(e: Entry, o: Outcome): void {
    if (e.settled) return;
    e.settled = true;
    e.resolve(o);
  }

  /** Reserves bytes of the in-flight budget, or throws 503. */
  private reserve(n: number): void {
    if (this.inflightBytes + n > this.options.maxInflightBytes) throw busy('the accelerator holds too much request data; retry later');
    this.inflightBytes += n;
  }

  private release(n: number): void {
    this.inflightBytes = Math.max(0, this.inflightBytes - n);
  }

  // ----- HTTP

  private count(status: number): void {
    if (status < 400) this.totals.ok++;
    else this.totals.rejected[status] = (this.totals.rejected[status] ?? 0) + 1;
  }

  private send(res: ServerResponse, status: number, body: string | Buffer | Buffer[], headers: Record<string, string | number> = {}): void {
    if (res.headersSent || res.destroyed) return;
    this.count(status);
    const parts = Array.isArray(body) ? body : [typeof body === 'string' ? Buffer.from(body) : body];
    const length = parts.reduce((a, p) => a + p.length, 0);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': length, ...(this.draining ? { Connection: 'close' } : {}), ...headers });
    for (const p of parts) res.write(p);
    res.end();
  }

  private sendJson(res: ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
    this.send(res, status, JSON.stringify(obj), headers);
  }

  private sendError(res: ServerResponse, req: IncomingMessage, err: unknown): void {
    const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error)?.message ?? String(err)}`);
    // A body left unread (refused before reading, or cut off at a limit) is not drained: close the connection.
    const unread = !req.complete && (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0');
    this.sendJson(res, e.status, { error: e.message }, e.headers);
    if (unread) res.once('finish', () => discardRest(req));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.totals.requests++;
    try {
      await this.route(req, res);
    } catch (err) {
      this.sendError(res, req, err);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    let parts: string[];
    try {
      parts = (q < 0 ? raw : raw.slice(0, q)).split('/').filter((p) => p !== '').map(decodeURIComponent);
    } catch {
      throw new HttpError(400, 'malformed URL');
    }
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    const allow = (ok: boolean, allowed: string): void => {
      if (!ok) throw new HttpError(405, `method ${method} not allowed here (use ${allowed})`, { Allow: allowed });
    };
    if (parts[0] !== 'v2') throw new HttpError(404, `no such endpoint: ${raw.slice(0, 200)}`);
    const [, a, b, c, d] = parts;
    if (parts.length === 1) {
      allow(get, 'GET');
      return this.sendJson(res, 200, { name: 'slalom-accelerator', version: '0.1.0', extensions: ['binary_tensor_data', 'model_repository', 'statistics', 'slalom_stats'] });
    }
    if (a === 'health' && parts.length === 3 && (b === 'live' || b === 'ready')) {
      allow(get, 'GET');
      if (b === 'ready' && this.draining) return this.sendJson(res, 503, { error: 'shutting down' });
      return this.sendJson(res, 200, b === 'live' ? { live: true } : { ready: true });
    }
    if (a === 'slalom' && b === 'stats' && parts.length === 3) {
      allow(get, 'GET');
      return this.sendJson(res, 200, this.stats());
    }
    if (a === 'repository') {
      allow(method === 'POST', 'POST');
      if (b === 'index' && parts.length === 3) return this.handleIndex(req, res);
      if (b === 'models' && parts.length === 5 && (d === 'load' || d === 'unload')) {
        if (!MODEL_NAME_RE.test(c!)) throw new HttpError(400, 'bad model name');
        return d === 'load' ? this.handleLoad(req, res, c!) : this.handleUnload(req, res, c!);
      }
      throw new HttpError(404, 'no such repository endpoint');
    }
    if (a === 'models') {
      if (b === 'stats' && parts.length === 3) {
        allow(get, 'GET');
        return this.sendJson(res, 200, { model_stats: [...this.slots.values()].map((s) => this.tritonStats(s)) });
      }
      if (b === undefined) throw new HttpError(404, 'no such endpoint');
      let rest = parts.slice(3);
      if (rest[0] === 'versions') {
        if (rest[1] !== MODEL_VERSION) throw new HttpError(404, `model '${b.slice(0, 200)}' has no version '${String(rest[1]).slice(0, 20)}' (only ${MODEL_VERSION})`);
        rest = rest.slice(2);
      }
      const action = rest[0];
      if (rest.length > 1) throw new HttpError(404, 'no such endpoint');
      const slot = this.slots.get(b);
      if (action === 'infer') {
        allow(method === 'POST', 'POST');
        return this.handleInfer(req, res, b, slot);
      }
      allow(get, 'GET');
      if (action === 'stats') {
        if (slot === undefined) throw new HttpError(404, `unknown model '${b.slice(0, 200)}'`);
        return this.sendJson(res, 200, { model_stats: [this.tritonStats(slot)] });
      }
      const model = slot?.model;
      if (model === undefined) throw new HttpError(404, `unknown model '${b.slice(0, 200)}' (not loaded)`);
      if (action === 'ready') return this.sendJson(res, 200, { name: b, ready: true });
      if (action !== undefined) throw new HttpError(404, 'no such endpoint');
      return this.sendJson(res, 200, {
        name: b,
        versions: [MODEL_VERSION],
        platform: PLATFORM,
        inputs: [{ name: INPUT_TENSOR, datatype: DATATYPE, shape: [-1, ...model.input] }],
        outputs: [{ name: OUTPUT_TENSOR, datatype: DATATYPE, shape: [-1, ...model.output] }],
        parameters: { slalom_layer: model.description.name, slalom_op: model.description.op, slalom_index: model.description.index, modulus: P },
      });
    }
    throw new HttpError(404, `no such endpoint: ${raw.slice(0, 200)}`);
  }

  private tritonStats(s: ModelSlot): unknown {
    const m = s.stats;
    const ns = Math.round(m.computeMs * 1e6);
    return {
      name: s.name,
      version: MODEL_VERSION,
      last_inference: m.lastInference,
      inference_count: m.items,
      execution_count: m.batches,
      inference_stats: {
        success: { count: m.requests, ns },
        fail: { count: m.failed + m.timedOut, ns: 0 },
        queue: { count: m.requests, ns: Math.round(m.queueNs) },
        compute_infer: { count: m.requests, ns },
      },
      batch_stats: [...m.batchCompute.entries()].sort((x, y) => x[0] - y[0]).map(([size, v]) => ({ batch_size: size, compute_infer: { count: v.count, ns: Math.round(v.ns) } })),
    };
  }

  private async handleIndex(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, 64 * 1024, () => {});
    let readyOnly = false;
    if (body.length > 0) {
      const v = parseJsonBounded(body, 64, 'the index request');
      if (!isObject(v)) throw new HttpError(400, 'the index request must be a JSON object');
      readyOnly = v['ready'] === true;
    }
    const names = new Set([...this.repositoryModels(), ...this.slots.keys()]);
    const out: unknown[] = [];
    for (const name of [...names].sort()) {
      const ready = this.slots.get(name)?.model !== undefined;
      if (readyOnly && !ready) continue;
      out.push({ name, version: MODEL_VERSION, state: ready ? 'READY' : 'UNAVAILABLE', ...(ready ? {} : { reason: 'unloaded' }) });
    }
    this.sendJson(res, 200, out);
  }

  private async handleLoad(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (this.draining) throw busy('the accelerator is shutting down');
    // Uploads received at once share one budget of maxLoadBytes.
    let held = 0;
    let body: Buffer;
    try {
      body = await readBody(req, this.options.maxLoadBytes, (n) => {
        if (this.loadBytes + n > this.options.maxLoadBytes) throw busy('other model uploads are being received; retry later');
        this.loadBytes += n;
        held += n;
      });
    } finally {
      this.loadBytes -= held;
    }
    let bytes: Uint8Array | undefined;
    const type = String(req.headers['content-type'] ?? '').toLowerCase();
    if (type.startsWith('application/octet-stream')) {
      if (body.length === 0) throw new HttpError(400, 'empty model upload');
      bytes = body;
    } else if (body.length > 0) {
      const { value: v, blobs } = parseJsonWithBlobs(body, 64, 'the load request');
      if (!isObject(v)) throw new HttpError(400, 'the load request must be a JSON object');
      const params = v['parameters'];
      if (params !== undefined && !isObject(params)) throw new HttpError(400, 'parameters must be an object');
      if (isObject(params)) {
        for (const key of Object.keys(params)) {
          if (key.startsWith('file:') && key !== LOAD_FILE_PARAMETER) throw new HttpError(400, `unsupported file parameter '${key.slice(0, 80)}' (only '${LOAD_FILE_PARAMETER}')`);
        }
        const file = params[LOAD_FILE_PARAMETER];
        const what = `parameters["${LOAD_FILE_PARAMETER}"]`;
        if (file !== undefined) {
          if (typeof file !== 'string') throw new HttpError(400, `${what} must be a base64 string`);
          if (file.startsWith(BLOB_PREFIX)) {
            const blob = blobs[Number(file.slice(BLOB_PREFIX.length))];
            if (blob === undefined) throw new HttpError(400, `${what} must be base64`);
            bytes = decodeBase64Range(body, blob.start, blob.end, what);
          } else {
            if (file.length === 0 || file.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(file)) throw new HttpError(400, `${what} must be base64`);
            bytes = Buffer.from(file, 'base64');
          }
        }
      }
    }
    await this.load(name, bytes);
    this.sendJson(res, 200, {});
  }

  private async handleUnload(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = await readBody(req, 64 * 1024, () => {});
    if (body.length > 0) {
      const v = parseJsonBounded(body, 64, 'the unload request');
      if (!isObject(v)) throw new HttpError(400, 'the unload request must be a JSON object');
    }
    await this.unload(name);
    this.sendJson(res, 200, {});
  }

  /** The client's id for fair share: the X-Slalom-Client header, else `parameters.client_id`, else the remote address. */
  private clientOf(req: IncomingMessage, fromParameters: string | undefined): string {
    const h = req.headers[CLIENT_HEADER];
    const v = Array.isArray(h) ? h[0] : h;
    if (v !== undefined && v.length > 0) return v.slice(0, 64);
    if (fromParameters !== undefined && fromParameters.length > 0) return fromParameters.slice(0, 64);
    return req.socket.remoteAddress ?? 'unknown';
  }

  private async handleInfer(req: IncomingMessage, res: ServerResponse, name: string, slot: ModelSlot | undefined): Promise<void> {
    const model = slot?.model;
    if (slot === undefined || model === undefined) throw new HttpError(404, `unknown model '${name.slice(0, 200)}' (not loaded)`);
    if (this.draining) throw busy('the accelerator is shutting down');
    const o = this.options;
    if (slot.queue.size >= o.maxQueue) {
      slot.stats.rejectedQueueFull++;
      throw busy(`the queue of '${name}' is full (${o.maxQueue} requests)`);
    }
    let held = 0;
    const hold = (n: number): void => {
      this.reserve(n);
      held += n;
    };
    try {
      let parsed: ParsedInfer;
      try {
        const body = await readBody(req, o.maxBodyBytes, hold);
        parsed = this.parseInfer(req, body, model);
      } catch (e) {
        if (e instanceof HttpError && e.status >= 400 && e.status < 500) slot.stats.rejectedInvalid++;
        throw e;
      }
      // The body is decoded: hold what the request will use until it is answered instead.
      this.release(held);
      held = 0;
      // One run may use at most half the budget, so a big request runs in pieces rather than never.
      const cost = requestCost(model.description, parsed.dims, parsed.outDims, parsed.binaryOutput, Math.min(o.maxWorkBytes, o.maxInflightBytes / 2));
      if (cost.bytes > o.maxInflightBytes) {
        throw new HttpError(413, `a request of ${parsed.dims[0]} items needs ${Math.ceil(cost.bytes / MIB)} MiB (input, output, working memory), more than this server's budget of ${Math.floor(o.maxInflightBytes / MIB)} MiB; send fewer items per request`);
      }
      hold(cost.bytes);
      if (slot.model === undefined) throw new HttpError(404, `model '${name}' was unloaded`);
      if (slot.queue.size >= o.maxQueue) {
        slot.stats.rejectedQueueFull++;
        throw busy(`the queue of '${name}' is full (${o.maxQueue} requests)`);
      }
      const outcome = await new Promise<Outcome>((resolve, reject) => {
        const entry: Entry = {
          client: this.clientOf(req, parsed.clientId),
          dims: parsed.dims,
          outDims: parsed.outDims,
          x: parsed.x,
          items: parsed.dims[0]!,
          itemsPerRun: cost.itemsPerRun,
          shapeKey: parsed.dims.slice(1).join(','),
          enqueuedAt: performance.now(),
          settled: false,
          resolve,
          reject,
        };
        const timeout = setTimeout(() => {
          if (slot.queue.remove(entry)) {
            slot.stats.timedOut++;
            this.settle(entry, busy(`timed out after ${o.requestTimeoutMs} ms in the queue of '${name}'`));
          }
        }, o.requestTimeoutMs);
        const cleanup = (): void => clearTimeout(timeout);
        entry.resolve = (v) => {
          cleanup();
          resolve(v);
        };
        entry.reject = (err) => {
          cleanup();
          reject(err);
        };
        res.once('close', () => {
          // The client went away: drop its queued request.
          if (!entry.settled && slot.queue.remove(entry)) this.settle(entry, new HttpError(499, 'client closed the connection'));
        });
        slot.queue.push(entry);
        this.kick();
      });
      this.respondInfer(res, name, parsed, outcome);
    } finally {
      this.release(held);
    }
  }

  private parseInfer(req: IncomingMessage, body: Buffer, model: LoadedModel): ParsedInfer {
    const o = this.options;
    const headerValue = req.headers[BINARY_HEADER];
    let json: Buffer = body;
    let binary: Buffer | undefined;
    if (headerValue !== undefined) {
      const h = Array.isArray(headerValue) ? headerValue[0]! : headerValue;
      if (!/^\d{1,12}$/.test(h)) throw new HttpError(400, `${BINARY_HEADER} must be a decimal byte count`);
      const n = Number(h);
      if (n > body.length) throw new HttpError(400, `${BINARY_HEADER} (${n}) exceeds the body length (${body.length})`);
      json = body.subarray(0, n);
      binary = body.subarray(n);
    }
    const req_ = parseJsonBounded(json, o.maxJsonContainers, 'the inference request');
    if (!isObject(req_)) throw new HttpError(400, 'the inference request must be a JSON object');
    const id = req_['id'];
    if (id !== undefined && (typeof id !== 'string' || id.length > ID_MAX)) throw new HttpError(400, `id must be a string of at most ${ID_MAX} characters`);
    const params = req_['parameters'];
    if (params !== undefined && !isObject(params)) throw new HttpError(400, 'parameters must be an object');
    let binaryOutput = isObject(params) && params['binary_data_output'] === true;
    const inputs = req_['inputs'];
    if (!Array.isArray(inputs) || inputs.length !== 1) throw new HttpError(400, `inputs must be an array of exactly one tensor named '${INPUT_TENSOR}'`);
    const outputs = req_['outputs'];
    if (outputs !== undefined) {
      if (!Array.isArray(outputs) || outputs.length > 1) throw new HttpError(400, `outputs must be an array naming at most the one output '${OUTPUT_TENSOR}'`);
      for (const out of outputs) {
        if (!isObject(out) || out['name'] !== OUTPUT_TENSOR) throw new HttpError(400, `unknown output (the only output is '${OUTPUT_TENSOR}')`);
        const p = out['parameters'];
        if (p !== undefined && !isObject(p)) throw new HttpError(400, 'output parameters must be an object');
        if (isObject(p) && p['binary_data'] !== undefined) {
          if (typeof p['binary_data'] !== 'boolean') throw new HttpError(400, 'binary_data must be a boolean');
          binaryOutput = p['binary_data'];
        }
      }
    }
    const input = inputs[0];
    if (!isObject(input)) throw new HttpError(400, 'an input must be an object');
    if (input['name'] !== INPUT_TENSOR) throw new HttpError(400, `unknown input '${String(input['name']).slice(0, 64)}' (the only input is '${INPUT_TENSOR}')`);
    if (input['datatype'] !== DATATYPE) throw new HttpError(400, `input '${INPUT_TENSOR}' must have datatype ${DATATYPE}, got ${JSON.stringify(input['datatype'])?.slice(0, 32)}`);
    const shape = input['shape'];
    const rank = model.input.length + 1;
    if (!Array.isArray(shape) || shape.length !== rank || !shape.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= o.maxTensorElements)) {
      throw new HttpError(400, `input '${INPUT_TENSOR}' shape must be ${rank} positive integers [batch, ${model.input.map((d) => (d < 0 ? '*' : d)).join(', ')}], got ${JSON.stringify(shape)?.slice(0, 64)}`);
    }
    const dims = shape as number[];
    for (let i = 1; i < rank; i++) {
      const want = model.input[i - 1]!;
      if (want >= 0 && dims[i] !== want) throw new HttpError(400, `input '${INPUT_TENSOR}' shape [${dims.join(', ')}] does not match the model's [-1, ${model.input.join(', ')}]`);
    }
    const size = dims.reduce((a, v) => a * v, 1);
    if (size > o.maxTensorElements) throw new HttpError(413, `input of ${size} elements exceeds the limit of ${o.maxTensorElements}`);
    let outDims: number[];
    const d = model.description;
    if (d.op === 'Gemm') outDims = [dims[0]!, d.wDims[1]!];
    else {
      try {
        outDims = convOutputDims(dims, d.wDims, d.conv!);
      } catch (e) {
        throw new HttpError(400, `input '${INPUT_TENSOR}' shape [${dims.join(', ')}]: ${(e as Error).message}`);
      }
    }
    const outSize = sizeOf(outDims);
    if (outSize > o.maxTensorElements) throw new HttpError(413, `output of ${outSize} elements exceeds the limit of ${o.maxTensorElements}`);
    const ip = input['parameters'];
    if (ip !== undefined && !isObject(ip)) throw new HttpError(400, 'input parameters must be an object');
    const binarySize = isObject(ip) ? ip['binary_data_size'] : undefined;
    let x: Float64Array;
    if (binarySize !== undefined) {
      if (binary === undefined) throw new HttpError(400, `binary_data_size given without the ${BINARY_HEADER} header`);
      if (!Number.isSafeInteger(binarySize) || binarySize !== 8 * size) throw new HttpError(400, `binary_data_size must be ${8 * size} (8 bytes × ${size} values), got ${JSON.stringify(binarySize)?.slice(0, 32)}`);
      if (binary.length !== binarySize) throw new HttpError(400, `binary data is ${binary.length} bytes, binary_data_size says ${binarySize}`);
      if (input['data'] !== undefined) throw new HttpError(400, 'an input has both data and binary_data_size');
      x = float64FromBytes(binary);
      checkResidues(x);
    } else {
      if (binary !== undefined && binary.length > 0) throw new HttpError(400, `${binary.length} bytes of binary data follow the header but no input has binary_data_size`);
      x = flattenData(input['data'], dims, size);
    }
    const clientId = isObject(params) && typeof params['client_id'] === 'string' ? params['client_id'] : undefined;
    return { ...(typeof id === 'string' ? { id } : {}), ...(clientId !== undefined ? { clientId } : {}), dims, outDims, x, binaryOutput };
  }

  private respondInfer(res: ServerResponse, name: string, req: ParsedInfer, o: Outcome): void {
    const head = `{"model_name":${JSON.stringify(name)},"model_version":"${MODEL_VERSION}"${req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : ''},"parameters":{"slalom_batch_items":${o.batchItems},"slalom_batch_requests":${o.batchRequests},"slalom_compute_ms":${Number(o.computeMs.toFixed(3))}},"outputs":[{"name":"${OUTPUT_TENSOR}","datatype":"${DATATYPE}","shape":[${req.outDims.join(',')}]`;
    if (req.binaryOutput) {
      const header = Buffer.from(`${head},"parameters":{"binary_data_size":${o.y.byteLength}}}]}`);
      this.send(res, 200, [header, bytesOfFloat64(o.y)], { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length });
    } else {
      this.send(res, 200, `${head},"data":[${o.y.join(',')}]}]}`);
    }
  }
}

/** Starts an accelerator server; see AcceleratorServerOptions. */
export function startAcceleratorServer(options: AcceleratorServerOptions = {}): Promise<AcceleratorServer> {
  return AcceleratorServer.start(options);
}
