/**
 * The trusted runtime's client for accelerator services that speak the Open Inference Protocol
 * (KServe v2 REST; contract in protocol.ts; issue 5; docs/design.md §1). It only carries bytes: it sends
 * each linear request — already blinded in the private modes; it never sees plaintext there and never
 * re-blinds — to one accelerator and hands back whatever that accelerator claims, branded Untrusted.
 * boundary/accept.ts validates the reply and the trusted runtime checks it (Freivalds); this file is
 * not a validation gate. It is robust on its own account, though: every read is bounded, every request
 * has a timeout, nothing waits forever.
 *
 * - Transport: one keep-alive node:http Agent per accelerator (at most `maxSockets` connections);
 *   requests and replies use the binary tensor data extension (JSON header + little-endian UINT32
 *   residues, or FP64 for a server that speaks only that; `Inference-Header-Content-Length`; the
 *   codec is client-wire.ts); JSON replies are accepted too. A reply may be at most the expected
 *   output as JSON text (24 bytes per value) plus 64 KiB; a larger Content-Length or body is cut off
 *   at that point, whatever its headers say.
 * - Registration (loadWeights): for each layer `${modelId}.l${id}.${digest}` (protocol.ts: the name
 *   carries the layer's content digest, which the server checks every upload against) on every accelerator, GET
 *   /v2/models/{name}/ready; if not ready, POST /v2/repository/models/{name}/load without a body (the
 *   server loads it from its model repository) and, if that fails, with the layer's exact ONNX graph
 *   (export.ts) as Triton's `{"parameters": {"file:1/model.onnx": <base64>}}`; loads go one at a time
 *   per accelerator and a 503 (another upload in progress, or the server full of this client's busy
 *   layers) is waited out; every request carries the client id and, when given, the services' token
 *   (`Authorization: Bearer`), which a server may require for loads. An accelerator that answers
 *   404 for a registered layer later (it restarted) is registered again, once per request.
 * - Failover: on a timeout, a connection error or a 4xx, the very same request bytes go to the
 *   next healthy accelerator (round robin); the one that failed cools down (doubling from
 *   `cooldownMs`); so does one that answers 5xx while another is free. A 5xx from the only usable
 *   accelerator is taken as transient: the same bytes go to it again after its Retry-After or a
 *   backoff doubling from 100 ms, up to SERVER_ERROR_TRIES times per request (then it is treated
 *   like a timeout). 503 is back-pressure: Retry-After is honoured within the request's budget
 *   (`timeoutMs` per accelerator), the accelerator is not penalised. A retry never re-blinds: the
 *   bytes are built once. When no accelerator is healthy the request goes to `fallback` if one is
 *   configured (e.g. a LocalBackend: the layer computed in the trusted process), else TransportError.
 * - Malformed replies are no transport failure: an answer that is not an OIP response at all
 *   (unparseable HTTP or header, inconsistent binary framing, a Content-Length or body past the limit)
 *   quarantines the accelerator for the rest of the run and goes to the trusted gate as an unreadable
 *   reply, which refuses it (MalformedResponseError) — no failover, no fallback: under
 *   `--on-failure abort` that ends the inference with no result, under `recompute` the runtime asks
 *   again or recomputes. So does a reply the trusted runtime refused (`reportFailure`).
 * - Ids: the request's `id` is the requestId (unique to the trusted runtime: runtime/protocols/
 *   accelerated.ts); the reply's requestId is the `id` the server echoed and its layerId the layer
 *   whose model name it names, so the gate sees what the server claimed.
 */
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { untrusted, type Untrusted } from '../../boundary/untrusted.js';
import { InvalidArgumentError, TransportError } from '../../errors.js';
import { outputDims } from '../../kernels/output-dims.js';
import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from '../backend.js';
import { exportLayerOnnx, publicLayerDigest } from './export.js';
import { AttemptFailure, DEFAULT_RETRY_AFTER_MS, decodeResponse, encodeRequest, errorText, exchange, MAX_RETRY_AFTER_MS, parseUrl, requestBodyBuffer, retryAfterMs, type HttpResult } from './client-wire.js';
import { BINARY_HEADER, CLIENT_HEADER, layerModelName, LOAD_FILE_PARAMETER, modelIdOf } from './protocol.js';
import { RESIDUE_DATATYPE, type WireDatatype } from './tensor-codec.js';

export interface HttpBackendOptions {
  /** Accelerator base URLs, e.g. `http://127.0.0.1:8000` (http only; a path prefix is kept). */
  readonly urls: readonly string[];
  /** Per-request timeout: connect, send, compute and read the whole reply (default 60 s). */
  readonly timeoutMs?: number;
  /** Sent with each request (`x-slalom-client` header, `client_id` parameter) for the server's fair share; the server's unloads go by it too. */
  readonly clientId?: string;
  /** The services' bearer token (`accelerator serve --token`), sent as `Authorization: Bearer …` with every request. */
  readonly token?: string;
  /**
   * The OIP model id of the model (layer l is `${modelId}.l${l}.${digest}`): `modelIdOf(model.name,
   * model.modelHash)` to match a repository written by `slalom export`. Default: derived from the
   * public layers themselves (their SHA-256), which only the ONNX-upload registration can serve.
   */
  readonly modelId?: string;
  /** Where requests go when no accelerator is healthy (default none: TransportError). */
  readonly fallback?: AcceleratorBackend;
  /** Connections per accelerator (default 8). */
  readonly maxSockets?: number;
  /** First cool-down after a transport failure; doubles per consecutive failure up to 60 s (default 2 s). */
  readonly cooldownMs?: number;
  /** Timeout of each registration request, uploads included (default max(timeoutMs, 120 s)). */
  readonly loadTimeoutMs?: number;
  /** Quarantines, cool-downs, fallbacks and re-registrations, as they happen (for logs). */
  readonly onEvent?: (event: HttpBackendEvent) => void;
  /**
   * The datatype requests carry residues in (default UINT32, 4 bytes each; FP64 for a server that
   * only speaks it, such as a Triton serving the exported repository). Replies may be either.
   */
  readonly datatype?: 'UINT32' | 'FP64';
}

export interface HttpBackendEvent {
  readonly kind: 'cooldown' | 'quarantine' | 'busy' | 'fallback' | 'reregister' | 'readmit';
  readonly url: string;
  readonly message: string;
}

export interface AcceleratorStats {
  readonly url: string;
  /** Replies handed to the trusted runtime. */
  readonly replies: number;
  /** Attempts that failed in transport (timeouts, connection errors, HTTP errors, invalid framing). */
  readonly failures: number;
  /** 503 answers (back-pressure). */
  readonly busy: number;
  readonly quarantined?: string;
  readonly coolingDown: boolean;
}

export interface HttpBackendStats {
  readonly accelerators: readonly AcceleratorStats[];
  /** Requests answered by the fallback backend. */
  readonly fallbackReplies: number;
}

/** Layers whose ONNX exceeds this are uploaded as raw application/octet-stream. */
const RAW_UPLOAD_BYTES = 32 * 2 ** 20;
/** Extra bytes allowed beyond the expected tensor in a reply: the JSON header. */
const HEADER_SLACK = 64 * 1024;
/** The most bytes a registration or readiness answer may have. */
const SMALL_REPLY = 64 * 1024;
/** A residue as JSON text: at most 8 digits, a comma and generous whitespace. */
const JSON_BYTES_PER_VALUE = 24;
const MAX_COOLDOWN_MS = 60_000;
/** Attempts of one request on the only usable accelerator while it answers 5xx (issue 11). */
const SERVER_ERROR_TRIES = 3;
/** First wait after a 5xx without Retry-After; doubles per retry. */
const SERVER_ERROR_BACKOFF_MS = 100;
/** How many answered request ids are remembered for reportFailure. */
const ANSWERED_MEMORY = 4096;
/** Registration requests in flight per accelerator. */
const REGISTRATION_CONCURRENCY = 4;

interface Accelerator {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly basePath: string;
  readonly agent: Agent;
  /** Why it is out for the rest of the run. */
  quarantined?: string;
  /** Transport failure: skipped until then. */
  coolUntil: number;
  /** 503: not asked again before then. */
  busyUntil: number;
  consecutiveFailures: number;
  registration?: Promise<void>;
  /** Repository loads, one after the other. */
  loads: Promise<unknown>;
  replies: number;
  failures: number;
  busy: number;
}

const FALLBACK = -1;


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export class HttpBackend implements AcceleratorBackend {
  readonly name = 'http';
  private readonly accelerators: Accelerator[];
  private readonly timeoutMs: number;
  private readonly loadTimeoutMs: number;
  private readonly cooldownMs: number;
  private readonly clientId: string | undefined;
  /** Headers of every request: the client id and the token. */
  private readonly baseHeaders: Record<string, string>;
  private readonly datatype: WireDatatype;
  private readonly fallback: AcceleratorBackend | undefined;
  private readonly onEvent: ((event: HttpBackendEvent) => void) | undefined;
  private modelId: string | undefined;
  private readonly layers = new Map<number, PublicLayer>();
  /** Layer id → its OIP model name, and back. */
  private readonly names = new Map<number, string>();
  private readonly layerOfName = new Map<string, number>();
  /** requestId → index of the accelerator that answered it (FALLBACK for the fallback); bounded. */
  private readonly answeredBy = new Map<string, number>();
  private next = 0;
  private fallbackReplies = 0;
  private closed = false;

  constructor(options: HttpBackendOptions) {
    if (!Array.isArray(options.urls) || options.urls.length === 0) throw new InvalidArgumentError('HttpBackend needs at least one accelerator URL');
    const positive = (v: number | undefined, fallback: number, what: string): number => {
      if (v === undefined) return fallback;
      if (!Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got ${String(v)}`);
      return v;
    };
    this.timeoutMs = positive(options.timeoutMs, 60_000, 'timeoutMs');
    this.loadTimeoutMs = positive(options.loadTimeoutMs, Math.max(this.timeoutMs, 120_000), 'loadTimeoutMs');
    this.cooldownMs = positive(options.cooldownMs, 2_000, 'cooldownMs');
    const maxSockets = Math.floor(positive(options.maxSockets, 8, 'maxSockets'));
    this.clientId = options.clientId;
    if (options.token !== undefined && !/^[A-Za-z0-9\-._~+/]+=*$/.test(options.token)) throw new InvalidArgumentError('the accelerator token must be a bearer token (A-Z a-z 0-9 - . _ ~ + /)');
    this.baseHeaders = { ...(options.clientId !== undefined ? { [CLIENT_HEADER]: options.clientId } : {}), ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}) };
    if (options.datatype !== undefined && options.datatype !== 'UINT32' && options.datatype !== 'FP64') throw new InvalidArgumentError(`datatype must be UINT32 or FP64, got ${String(options.datatype)}`);
    this.datatype = options.datatype ?? RESIDUE_DATATYPE;
    this.fallback = options.fallback;
    this.onEvent = options.onEvent;
    this.modelId = options.modelId;
    const seen = new Set<string>();
    this.accelerators = options.urls.map((text) => {
      const u = parseUrl(text);
      if (seen.has(u.url)) throw new InvalidArgumentError(`accelerator URL '${text}' is listed twice`);
      seen.add(u.url);
      // Idle keep-alive connections are dropped after 4 s, before a Node server's default 5 s.
      const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 4_000 });
      return { ...u, agent, loads: Promise.resolve(), coolUntil: 0, busyUntil: 0, consecutiveFailures: 0, replies: 0, failures: 0, busy: 0 };
    });
  }

  /** The OIP model name of a layer of the registered model. */
  modelName(layerId: number): string {
    const name = this.names.get(layerId);
    if (name === undefined) throw new InvalidArgumentError(`layer ${layerId} is not registered (loadWeights first)`);
    return name;
  }

  stats(): HttpBackendStats {
    const now = Date.now();
    return {
      accelerators: this.accelerators.map((a) => ({
        url: a.url,
        replies: a.replies,
        failures: a.failures,
        busy: a.busy,
        ...(a.quarantined !== undefined ? { quarantined: a.quarantined } : {}),
        coolingDown: a.coolUntil > now,
      })),
      fallbackReplies: this.fallbackReplies,
    };
  }

  async loadWeights(layers: readonly PublicLayer[]): Promise<void> {
    this.layers.clear();
    this.names.clear();
    this.layerOfName.clear();
    this.modelId ??= defaultModelId(layers);
    for (const l of layers) {
      const name = layerModelName(this.modelId, l.id, publicLayerDigest(l));
      this.layers.set(l.id, l);
      this.names.set(l.id, name);
      this.layerOfName.set(name, l.id);
    }
    for (const a of this.accelerators) a.registration = undefined;
    const fallbackReady = this.fallback?.loadWeights(layers);
    const results = await Promise.allSettled(this.accelerators.map((a) => this.ensureRegistered(a)));
    await fallbackReady;
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${this.accelerators[i]!.url}: ${(r.reason as Error).message}`] : []));
    results.forEach((r, i) => {
      if (r.status === 'rejected') this.penalize(this.accelerators[i]!, r.reason instanceof AttemptFailure ? r.reason : new AttemptFailure('connection', String((r.reason as Error)?.message ?? r.reason)));
    });
    if (failed.length === this.accelerators.length && this.fallback === undefined) {
      throw new TransportError(`no accelerator could register the model: ${failed.join('; ')}`);
    }
  }

  private ensureRegistered(a: Accelerator): Promise<void> {
    a.registration ??= this.register(a).catch((e: unknown) => {
      a.registration = undefined;
      throw e;
    });
    return a.registration;
  }

  /** Makes every layer ready on one accelerator (see the module comment). */
  private async register(a: Accelerator): Promise<void> {
    const queue = [...this.layers.values()];
    const worker = async (): Promise<void> => {
      for (let layer = queue.shift(); layer !== undefined; layer = queue.shift()) await this.registerLayer(a, layer);
    };
    await Promise.all(Array.from({ length: Math.min(REGISTRATION_CONCURRENCY, queue.length) }, worker));
  }

  private async registerLayer(a: Accelerator, layer: PublicLayer): Promise<void> {
    const name = encodeURIComponent(this.modelName(layer.id));
    if (await this.isReady(a, name)) return;
    const deadline = Date.now() + this.loadTimeoutMs;
    const load = `/v2/repository/models/${name}/load`;
    const plain = await this.postLoad(a, load, undefined, deadline);
    if (plain.status === 200 && (await this.isReady(a, name))) return;
    const onnx = Buffer.from(exportLayerOnnx(layer));
    // Triton's JSON form for ordinary layers; raw bytes for huge ones (base64 of VGG16's fc6 would
    // pass V8's string limit).
    const raw = onnx.length > RAW_UPLOAD_BYTES;
    const body = raw ? onnx : Buffer.from(JSON.stringify({ parameters: { [LOAD_FILE_PARAMETER]: onnx.toString('base64') } }), 'utf8');
    const upload = await this.postLoad(a, load, body, deadline, raw ? 'application/octet-stream' : 'application/json');
    if (upload.status !== 200) {
      throw new AttemptFailure(upload.status >= 500 ? 'http' : 'invalid', `layer ${layer.name} (${this.modelName(layer.id)}) refused: HTTP ${upload.status} ${errorText(upload.body)}`);
    }
    if (!(await this.isReady(a, name))) throw new AttemptFailure('http', `layer ${layer.name} (${this.modelName(layer.id)}) is not ready after loading`);
  }

  /** A repository load; one at a time per accelerator, a 503 (another upload in progress) waited out until `deadline`. */
  private postLoad(a: Accelerator, path: string, body: Buffer | undefined, deadline: number, contentType = 'application/json'): Promise<HttpResult> {
    const run = async (): Promise<HttpResult> => {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw new AttemptFailure('timeout', `the model load did not complete within ${this.loadTimeoutMs} ms`);
        const res = await this.send(a, 'POST', path, body, body === undefined ? {} : { 'content-type': contentType }, SMALL_REPLY, left);
        if (res.status !== 503) return res;
        const wait = retryAfterMs(res.headers['retry-after']);
        if (Date.now() + wait >= deadline) return res;
        await sleep(wait);
      }
    };
    const result = a.loads.then(run, run);
    a.loads = result.catch(() => undefined);
    return result;
  }

  private async isReady(a: Accelerator, name: string): Promise<boolean> {
    const res = await this.send(a, 'GET', `/v2/models/${name}/ready`, undefined, {}, SMALL_REPLY, this.timeoutMs);
    if (res.status !== 200) return false;
    if (res.body.length === 0) return true;
    try {
      return (JSON.parse(res.body.toString('utf8')) as { ready?: unknown })?.ready !== false;
    } catch {
      return true;
    }
  }

  requestBuffer(values: number): Uint32Array | undefined {
    return requestBodyBuffer(values, this.datatype);
  }

  async linear(req: LinearRequest): Promise<Untrusted<LinearReply>> {
    if (this.closed) throw new TransportError('the HTTP accelerator client is closed');
    const layer = this.layers.get(req.layerId);
    if (layer === undefined) throw new InvalidArgumentError(`layer ${req.layerId} was not registered with the HTTP accelerators`);
    let expected = 0;
    try {
      expected = outputDims(layer, req.dims).reduce((s, d) => s * d, 1);
    } catch {
      expected = 0; // dims the layer cannot take: the server will refuse them, with a small reply
    }
    const limit = HEADER_SLACK + expected * JSON_BYTES_PER_VALUE;
    // The same bytes for every attempt on every accelerator (x is copied here: the caller keeps its array).
    const { body, headerLength } = encodeRequest(req.requestId, req.dims, req.x, this.datatype, this.clientId, req.wire);
    const path = `/v2/models/${encodeURIComponent(this.modelName(layer.id))}/infer`;
    const deadline = Date.now() + this.timeoutMs * this.accelerators.length;
    const failed = new Set<Accelerator>();
    /** Accelerators that answered this request 5xx: how often, and when to ask again. */
    const serverErrors = new Map<Accelerator, { tries: number; retryAt: number }>();
    const failures: string[] = [];
    for (;;) {
      const now = Date.now();
      if (now >= deadline) break;
      const a = this.pick(failed, now);
      if (a === undefined) {
        // Only busy (503) accelerators, or ones to ask again after a 5xx, left: wait for the first
        // that may be asked again within the budget.
        const usable = this.accelerators.filter((x) => x.quarantined === undefined && !failed.has(x));
        const waits = usable.flatMap((x) => (x.coolUntil <= now ? [x.busyUntil] : serverErrors.has(x) ? [Math.max(x.busyUntil, serverErrors.get(x)!.retryAt)] : []));
        const until = waits.length ? Math.min(...waits) : Infinity;
        if (until >= deadline) break;
        await sleep(until - now);
        if (this.closed) break;
        continue;
      }
      try {
        const reply = await this.attempt(a, path, body, headerLength, limit, Math.min(this.timeoutMs, deadline - now));
        a.consecutiveFailures = 0;
        a.replies++;
        this.remember(req.requestId, this.accelerators.indexOf(a));
        return untrusted(reply);
      } catch (e) {
        if (!(e instanceof AttemptFailure)) throw e;
        if (e.kind === 'invalid') {
          // An answer, but no readable reply: the trusted gate refuses it like any malformed reply,
          // so the failure policy decides what follows (abort: no result), not this failover.
          a.failures++;
          this.quarantine(a, e.message);
          this.remember(req.requestId, this.accelerators.indexOf(a));
          return untrusted({ unreadable: e.message } as Partial<LinearReply> as LinearReply);
        }
        failures.push(`${a.url}: ${e.message}`);
        const tries = (serverErrors.get(a)?.tries ?? 0) + 1;
        if (e.kind === 'server' && tries < SERVER_ERROR_TRIES && !this.anyUsable(new Set([...failed, a]), Date.now())) {
          // Transient, and no one else to ask: asked again (the same bytes) after Retry-After or a doubling backoff.
          const wait = e.retryAfterMs ?? Math.min(MAX_RETRY_AFTER_MS, SERVER_ERROR_BACKOFF_MS * 2 ** (tries - 1));
          a.failures++;
          a.coolUntil = Math.max(a.coolUntil, Date.now() + wait);
          serverErrors.set(a, { tries, retryAt: a.coolUntil });
          this.onEvent?.({ kind: 'cooldown', url: a.url, message: `${e.message}; asking again in ${wait} ms` });
          continue;
        }
        this.penalize(a, e);
        if (e.kind !== 'busy') failed.add(a);
      }
    }
    if (this.fallback !== undefined && !this.closed) {
      this.onEvent?.({ kind: 'fallback', url: '(fallback)', message: `layer ${layer.name}: no healthy accelerator; computed by the ${this.fallback.name} fallback` });
      const reply = await this.fallback.linear(req);
      this.fallbackReplies++;
      this.remember(req.requestId, FALLBACK);
      return reply;
    }
    const why = failures.length ? failures.slice(-2 * this.accelerators.length).join('; ') : this.accelerators.map((a) => `${a.url}: ${a.quarantined !== undefined ? `quarantined (${a.quarantined})` : 'cooling down after a failure'}`).join('; ');
    throw new TransportError(`no healthy accelerator answered: ${why}`, { layer: layer.name });
  }

  /** One request on one accelerator; a stale keep-alive connection and a 404 (it lost the model) get one more try there. */
  private async attempt(a: Accelerator, path: string, body: Buffer, headerLength: number, limit: number, timeoutMs: number): Promise<LinearReply> {
    const headers = { 'content-type': 'application/octet-stream', [BINARY_HEADER]: String(headerLength) };
    let staleRetried = false;
    let reregistered = false;
    const start = Date.now();
    for (;;) {
      const left = timeoutMs - (Date.now() - start);
      if (left <= 0) throw new AttemptFailure('timeout', `no answer within ${timeoutMs} ms`);
      let res: HttpResult;
      try {
        res = await this.send(a, 'POST', path, body, headers, limit, left);
      } catch (e) {
        if (e instanceof AttemptFailure && e.stale && !staleRetried) {
          staleRetried = true;
          continue;
        }
        throw e;
      }
      if (res.status === 200) return decodeResponse(res, this.layerOfName);
      if (res.status === 404 && !reregistered) {
        reregistered = true;
        this.onEvent?.({ kind: 'reregister', url: a.url, message: `HTTP 404 ${errorText(res.body)}: registering the model again` });
        a.registration = undefined;
        try {
          await this.ensureRegistered(a);
        } catch (e) {
          throw e instanceof AttemptFailure ? e : new AttemptFailure('http', `registering again failed: ${(e as Error).message}`);
        }
        continue;
      }
      if (res.status === 503) {
        a.busy++;
        throw new AttemptFailure('busy', `HTTP 503 ${errorText(res.body)}`, retryAfterMs(res.headers['retry-after']));
      }
      if (res.status >= 500) {
        const header = res.headers['retry-after'];
        throw new AttemptFailure('server', `HTTP ${res.status} ${errorText(res.body)}`, header === undefined ? undefined : retryAfterMs(header));
      }
      throw new AttemptFailure('http', `HTTP ${res.status} ${errorText(res.body)}`);
    }
  }

  /** The next accelerator in round-robin order that is neither quarantined, cooling down, busy nor already failed for this request. */
  private pick(exclude: ReadonlySet<Accelerator>, now: number): Accelerator | undefined {
    const n = this.accelerators.length;
    for (let k = 0; k < n; k++) {
      const a = this.accelerators[(this.next + k) % n]!;
      if (a.quarantined === undefined && a.coolUntil <= now && a.busyUntil <= now && !exclude.has(a)) {
        this.next = (this.next + k + 1) % n;
        return a;
      }
    }
    return undefined;
  }

  /** Whether an accelerator outside `exclude` could take a request now or after a Retry-After (pick's test, without moving the round robin). */
  private anyUsable(exclude: ReadonlySet<Accelerator>, now: number): boolean {
    return this.accelerators.some((x) => x.quarantined === undefined && x.coolUntil <= now && !exclude.has(x));
  }

  private penalize(a: Accelerator, e: AttemptFailure): void {
    if (e.kind === 'busy') {
      a.busyUntil = Date.now() + (e.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS);
      this.onEvent?.({ kind: 'busy', url: a.url, message: e.message });
      return;
    }
    a.failures++;
    if (e.kind === 'invalid') {
      this.quarantine(a, e.message);
      return;
    }
    a.consecutiveFailures++;
    const ms = Math.min(MAX_COOLDOWN_MS, this.cooldownMs * 2 ** Math.min(20, a.consecutiveFailures - 1));
    a.coolUntil = Date.now() + ms;
    this.onEvent?.({ kind: 'cooldown', url: a.url, message: `${e.message}; not used for ${ms} ms` });
  }

  private quarantine(a: Accelerator, why: string): void {
    if (a.quarantined !== undefined) return;
    a.quarantined = why;
    this.onEvent?.({ kind: 'quarantine', url: a.url, message: `${why}; not used again in this run` });
  }

  private remember(requestId: string, index: number): void {
    this.answeredBy.delete(requestId);
    this.answeredBy.set(requestId, index);
    if (this.answeredBy.size > ANSWERED_MEMORY) this.answeredBy.delete(this.answeredBy.keys().next().value!);
  }

  reportFailure(requestId: string, error: Error): boolean {
    const index = this.answeredBy.get(requestId);
    this.answeredBy.delete(requestId);
    if (index === undefined || index === FALLBACK) return false;
    const code = (error as { code?: unknown }).code;
    this.quarantine(this.accelerators[index]!, `its reply was refused (${typeof code === 'string' ? code : error.name}: ${error.message})`);
    const now = Date.now();
    return this.fallback !== undefined || this.accelerators.some((a) => a.quarantined === undefined && a.coolUntil <= now);
  }

  /** False once every accelerator is quarantined and no fallback is configured (backend.ts `admitted`). */
  admitted(): boolean {
    return this.fallback !== undefined || this.accelerators.some((a) => a.quarantined === undefined);
  }

  /**
   * Ends "the rest of the run" of a quarantine (backend.ts `readmit`): a health probe (GET
   * /v2/health/ready) of each quarantined accelerator; those that answer 200 are asked again. A
   * service calls it before its canary (serve/accelerator-admission.ts), which quarantines again on a wrong answer.
   */
  async readmit(): Promise<boolean> {
    const quarantined = this.accelerators.filter((a) => a.quarantined !== undefined);
    const ready = await Promise.all(quarantined.map((a) => this.send(a, 'GET', '/v2/health/ready', undefined, {}, 4096, this.timeoutMs).then((r) => r.status === 200, () => false)));
    quarantined.forEach((a, i) => {
      if (!ready[i]) return;
      delete a.quarantined;
      a.consecutiveFailures = 0;
      a.coolUntil = 0;
      this.onEvent?.({ kind: 'readmit', url: a.url, message: 'answered its health probe: asked again' });
    });
    return this.accelerators.some((a) => a.quarantined === undefined);
  }

  private send(a: Accelerator, method: 'GET' | 'POST', path: string, body: Buffer | undefined, headers: Record<string, string>, limit: number, timeoutMs: number): Promise<HttpResult> {
    if (this.closed) return Promise.reject(new AttemptFailure('connection', 'the client is closed'));
    return exchange({ host: a.host, port: a.port, path: `${a.basePath}${path}`, agent: a.agent }, method, body, { ...this.baseHeaders, ...headers }, limit, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.accelerators) a.agent.destroy();
    await this.fallback?.close();
  }
}

/** A model id bound to the public layers themselves (op, shapes, attributes, weights). */
function defaultModelId(layers: readonly PublicLayer[]): string {
  const h = createHash('sha256');
  for (const l of layers) {
    h.update(JSON.stringify({ id: l.id, op: l.op, conv: l.conv ?? null, dims: l.w.dims }));
    const w = Float64Array.from(l.w.data);
    h.update(new Uint8Array(w.buffer));
  }
  return modelIdOf('slalom', h.digest('hex'));
}

