/**
 * The accelerator service's endpoints (server.ts): health, server and model metadata, inference, the
 * repository extension (index, load, unload), the statistics extension, `GET /v2/slalom/stats` and
 * `GET /metrics`. `/versions/1` may follow a model name. Loads and unloads need the server's token
 * when it has one (401 otherwise). Every refusal is an HttpError (4xx or 5xx);
 * the service answers it and keeps serving.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { P } from '../../field/prime.js';
import { bearerMatches } from '../../http/bearer.js';
import { readBody } from '../../http/body.js';
import { busy, HttpError } from '../../http/http-error.js';
import { isObject, parseJsonBounded } from '../../http/json.js';
import type { HttpService } from '../../http/service.js';
import { SLALOM_VERSION } from '../../version.js';
import type { Batcher } from './batcher.js';
import { inferReply, parseInfer, type ParsedInfer } from './infer-request.js';
import { parseLoadBody } from './load-request.js';
import { requestCost, type MemoryBudget } from './memory.js';
import { CLIENT_HEADER, INPUT_TENSOR, MODEL_VERSION, OUTPUT_TENSOR, PLATFORM, type ServerStats } from './protocol.js';
import { MODEL_NAME_RE, type LayerRepository, type ModelSlot, type Requester } from './repository.js';
import { MIB, type ResolvedServerOptions } from './server-options.js';
import { tritonStats, type AcceleratorMetrics } from './stats.js';
import { RESIDUE_DATATYPE, WIRE_DATATYPES } from './tensor-codec.js';

/** What the routes work with: the parts of one AcceleratorServer. */
export interface RouteContext {
  readonly options: ResolvedServerOptions;
  readonly service: HttpService;
  readonly repository: LayerRepository;
  readonly batcher: Batcher;
  readonly budget: MemoryBudget;
  readonly metrics: AcceleratorMetrics;
  stats(): ServerStats;
}

export class AcceleratorRoutes {
  /** Bytes of model uploads being received; they share one budget of maxLoadBytes. */
  private loadBytes = 0;

  constructor(private readonly s: RouteContext) {}

  async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const http = this.s.service;
    const request = await http.routeRequest(req, res);
    if (request === undefined) return;
    const { raw, parts, method, get, allow } = request;
    if (parts[0] !== 'v2') throw new HttpError(404, `no such endpoint: ${raw.slice(0, 200)}`);
    const [, a, b, c, d] = parts;
    if (parts.length === 1) {
      allow(get, 'GET');
      return http.sendJson(res, 200, { name: 'slalom-accelerator', version: SLALOM_VERSION, extensions: ['binary_tensor_data', 'model_repository', 'statistics', 'slalom_stats'] });
    }
    if (a === 'health' && parts.length === 3 && (b === 'live' || b === 'ready')) {
      allow(get, 'GET');
      if (b === 'ready' && http.draining) return http.sendJson(res, 503, { error: 'shutting down' });
      return http.sendJson(res, 200, b === 'live' ? { live: true } : { ready: true });
    }
    if (a === 'slalom' && b === 'stats' && parts.length === 3) {
      allow(get, 'GET');
      return http.sendJson(res, 200, this.s.stats());
    }
    if (a === 'repository') {
      allow(method === 'POST', 'POST');
      http.label(res, 'repository');
      if (b === 'index' && parts.length === 3) return this.handleIndex(req, res);
      if (b === 'models' && parts.length === 5 && (d === 'load' || d === 'unload')) {
        if (!MODEL_NAME_RE.test(c!)) throw new HttpError(400, 'bad model name');
        // Before a byte of the body is read: an upload without the token is not received at all.
        const by = this.requester(req);
        return d === 'load' ? this.handleLoad(req, res, c!, by) : this.handleUnload(req, res, c!, by);
      }
      throw new HttpError(404, 'no such repository endpoint');
    }
    if (a === 'models') {
      if (b === 'stats' && parts.length === 3) {
        allow(get, 'GET');
        return http.sendJson(res, 200, { model_stats: [...this.s.repository.slots.values()].map((s) => tritonStats(s)) });
      }
      if (b === undefined) throw new HttpError(404, 'no such endpoint');
      let rest = parts.slice(3);
      if (rest[0] === 'versions') {
        if (rest[1] !== MODEL_VERSION) throw new HttpError(404, `model '${b.slice(0, 200)}' has no version '${String(rest[1]).slice(0, 20)}' (only ${MODEL_VERSION})`);
        rest = rest.slice(2);
      }
      const action = rest[0];
      if (rest.length > 1) throw new HttpError(404, 'no such endpoint');
      const slot = this.s.repository.slots.get(b);
      if (action === 'infer') {
        allow(method === 'POST', 'POST');
        http.label(res, 'infer');
        return this.handleInfer(req, res, b, slot);
      }
      allow(get, 'GET');
      if (action === 'stats') {
        if (slot === undefined) throw new HttpError(404, `unknown model '${b.slice(0, 200)}'`);
        return http.sendJson(res, 200, { model_stats: [tritonStats(slot)] });
      }
      const model = slot?.model;
      if (model === undefined) throw new HttpError(404, `unknown model '${b.slice(0, 200)}' (not loaded)`);
      if (action === 'ready') return http.sendJson(res, 200, { name: b, ready: true });
      if (action !== undefined) throw new HttpError(404, 'no such endpoint');
      return http.sendJson(res, 200, {
        name: b,
        versions: [MODEL_VERSION],
        platform: PLATFORM,
        inputs: [{ name: INPUT_TENSOR, datatype: RESIDUE_DATATYPE, shape: [-1, ...model.input] }],
        outputs: [{ name: OUTPUT_TENSOR, datatype: RESIDUE_DATATYPE, shape: [-1, ...model.output] }],
        // Any of the wire datatypes is accepted, and a reply answers in its request's.
        parameters: { slalom_layer: model.description.name, slalom_op: model.description.op, slalom_index: model.description.index, modulus: P, datatypes: [...WIRE_DATATYPES] },
      });
    }
    throw new HttpError(404, `no such endpoint: ${raw.slice(0, 200)}`);
  }

  private async handleIndex(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, 64 * 1024);
    let readyOnly = false;
    if (body.length > 0) {
      const v = parseJsonBounded(body, 64, 'the index request');
      if (!isObject(v)) throw new HttpError(400, 'the index request must be a JSON object');
      readyOnly = v['ready'] === true;
    }
    const names = new Set([...this.s.repository.names(), ...this.s.repository.slots.keys()]);
    const out: unknown[] = [];
    for (const name of [...names].sort()) {
      const ready = this.s.repository.slots.get(name)?.model !== undefined;
      if (readyOnly && !ready) continue;
      out.push({ name, version: MODEL_VERSION, state: ready ? 'READY' : 'UNAVAILABLE', ...(ready ? {} : { reason: 'unloaded' }) });
    }
    this.s.service.sendJson(res, 200, out);
  }

  /** Who asks for a load or unload; 401 when the server has a token and the request does not carry it. */
  private requester(req: IncomingMessage): Requester {
    const token = this.s.options.token;
    const authorized = token !== undefined && bearerMatches(req.headers, token);
    if (token !== undefined && !authorized) throw new HttpError(401, 'loading and unloading layers needs the server\'s token (Authorization: Bearer …)', { 'WWW-Authenticate': 'Bearer realm="slalom-accelerator"' });
    return { client: this.clientOf(req, undefined), authorized };
  }

  private async handleLoad(req: IncomingMessage, res: ServerResponse, name: string, by: Requester): Promise<void> {
    if (this.s.service.draining) throw busy('the accelerator is shutting down');
    // Uploads received at once share one budget of maxLoadBytes.
    let held = 0;
    let body: Buffer;
    try {
      body = await readBody(req, this.s.options.maxLoadBytes, (n) => {
        if (this.loadBytes + n > this.s.options.maxLoadBytes) throw busy('other model uploads are being received; retry later');
        this.loadBytes += n;
        held += n;
      });
    } finally {
      this.loadBytes -= held;
    }
    await this.s.repository.load(name, parseLoadBody(String(req.headers['content-type'] ?? ''), body), by.client);
    this.s.service.sendJson(res, 200, {});
  }

  private async handleUnload(req: IncomingMessage, res: ServerResponse, name: string, by: Requester): Promise<void> {
    const body = await readBody(req, 64 * 1024);
    if (body.length > 0) {
      const v = parseJsonBounded(body, 64, 'the unload request');
      if (!isObject(v)) throw new HttpError(400, 'the unload request must be a JSON object');
    }
    await this.s.repository.unload(name, by);
    this.s.service.sendJson(res, 200, {});
  }

  /** The client's id for fair share, statistics and layer ownership: the X-Slalom-Client header, else `parameters.client_id`, else the remote address. */
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
    if (this.s.service.draining) throw busy('the accelerator is shutting down');
    model.lastUsed = performance.now();
    const o = this.s.options;
    if (slot.queue.size >= o.maxQueue) {
      this.s.metrics.recordRejection(slot, 'queue_full');
      throw busy(`the queue of '${name}' is full (${o.maxQueue} requests)`);
    }
    let held = 0;
    const hold = (n: number): void => {
      this.s.budget.reserve(n);
      held += n;
    };
    try {
      let parsed: ParsedInfer;
      try {
        const body = await readBody(req, o.maxBodyBytes, hold);
        parsed = parseInfer(req.headers, body, model, o);
      } catch (e) {
        if (e instanceof HttpError && e.status >= 400 && e.status < 500) this.s.metrics.recordRejection(slot, 'invalid');
        throw e;
      }
      // The body is decoded: hold what the request will use until it is answered instead.
      this.s.budget.release(held);
      held = 0;
      // One run may use at most half the budget, so a big request runs in pieces rather than never.
      const cost = requestCost(model.description, parsed.dims, parsed.outDims, parsed.binaryOutput, Math.min(o.maxWorkBytes, o.maxInflightBytes / 2));
      if (cost.bytes > o.maxInflightBytes) {
        throw new HttpError(413, `a request of ${parsed.dims[0]} items needs ${Math.ceil(cost.bytes / MIB)} MiB (input, output, working memory), more than this server's budget of ${Math.floor(o.maxInflightBytes / MIB)} MiB; send fewer items per request`);
      }
      hold(cost.bytes);
      if (slot.model === undefined) throw new HttpError(404, `model '${name}' was unloaded`);
      if (slot.queue.size >= o.maxQueue) {
        this.s.metrics.recordRejection(slot, 'queue_full');
        throw busy(`the queue of '${name}' is full (${o.maxQueue} requests)`);
      }
      const outcome = await this.s.batcher.enqueue(
        slot,
        {
          client: this.clientOf(req, parsed.clientId),
          dims: parsed.dims,
          outDims: parsed.outDims,
          x: parsed.x,
          items: parsed.dims[0]!,
          itemsPerRun: cost.itemsPerRun,
          shapeKey: parsed.dims.slice(1).join(','),
        },
        res,
      );
      const reply = inferReply(name, parsed, outcome);
      this.s.service.send(res, 200, reply.body, reply.headers);
    } finally {
      this.s.budget.release(held);
    }
  }
}
