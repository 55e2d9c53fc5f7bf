/**
 * The trusted service's endpoints (server.ts): health, server and model metadata, inference (plain,
 * or sealed to the attested key: attest/channel.ts), the attestation document, stats and
 * `GET /metrics`. `/versions/1` may follow a model name. An encrypted request's answer — result or
 * error — is sealed under its own context once the request has opened; before, errors are plain.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { predictionsPerItem } from '../api/predictions.js';
import { attest } from '../attest/attestation.js';
import { ChannelError, openRequest, REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE, type OpenedRequest, type ReplayGuard } from '../attest/channel.js';
import type { ServiceKeys } from '../attest/keys.js';
import { splitFramedBody } from '../http/binary-framing.js';
import { readBody } from '../http/body.js';
import { busy, HttpError } from '../http/http-error.js';
import type { HttpService } from '../http/service.js';
import { SLALOM_VERSION } from '../version.js';
import { httpErrorOf } from './errors.js';
import type { ServeMetrics } from './metrics.js';
import { encodeReply, INPUT_DATATYPES, parseRequest, TOP_K_OUTPUT } from './oip.js';
import type { ResolvedTrustedOptions } from './options.js';
import { receiptFor } from './receipts.js';
import type { ServedModel } from './served-model.js';

export interface ServeContext {
  readonly options: ResolvedTrustedOptions;
  readonly service: HttpService;
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly keys: ServiceKeys;
  readonly guard: ReplayGuard;
  readonly metrics: ServeMetrics;
  /** `<random prefix>-<n>`: names a request in its receipt. */
  nextRequestId(): string;
  stats(): unknown;
}

const CLIENT_HEADER = 'x-slalom-client';
const NONCE_RE = /^[0-9a-f]{16,128}$/;

export class ServeRoutes {
  constructor(private readonly s: ServeContext) {}

  async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const http = this.s.service;
    const request = await http.routeRequest(req, res);
    if (request === undefined) return;
    const { raw, parts, method, get, allow } = request;
    if (parts[0] !== 'v2') throw new HttpError(404, `no such endpoint: ${raw.slice(0, 200)}`);
    const [, a, b] = parts;
    if (parts.length === 1) {
      allow(get, 'GET');
      return http.sendJson(res, 200, { name: 'slalom', version: SLALOM_VERSION, extensions: ['binary_tensor_data', 'classification', 'slalom_attestation', 'slalom_hpke', 'slalom_receipts', 'slalom_stats'] });
    }
    if (a === 'health' && parts.length === 3 && (b === 'live' || b === 'ready')) {
      allow(get, 'GET');
      if (b === 'ready' && http.draining) return http.sendJson(res, 503, { error: 'shutting down' });
      return http.sendJson(res, 200, b === 'live' ? { live: true } : { ready: true });
    }
    if (a === 'slalom' && parts.length === 3 && b === 'attestation') {
      allow(get, 'GET');
      http.label(res, 'attestation');
      const nonce = new URL(raw, 'http://x').searchParams.get('nonce');
      if (nonce !== null && !NONCE_RE.test(nonce)) throw new HttpError(400, 'nonce must be 16 to 128 lower-case hex digits');
      const models = [...this.s.models.values()].map((m) => ({ name: m.name, modelHash: m.model.modelHash, weightsHash: m.model.weightsHash }));
      return http.sendJson(res, 200, await attest(this.s.options.attestation, this.s.keys.publicKeys, models, nonce));
    }
    if (a === 'slalom' && parts.length === 3 && b === 'stats') {
      allow(get, 'GET');
      return http.sendJson(res, 200, this.s.stats());
    }
    if (a !== 'models' || b === undefined) throw new HttpError(404, `no such endpoint: ${raw.slice(0, 200)}`);
    let rest = parts.slice(3);
    if (rest[0] === 'versions') {
      if (rest[1] !== '1') throw new HttpError(404, `model '${b.slice(0, 200)}' has no version '${String(rest[1]).slice(0, 20)}' (only 1)`);
      rest = rest.slice(2);
    }
    if (rest.length > 1) throw new HttpError(404, 'no such endpoint');
    const served = this.s.models.get(b);
    if (served === undefined) throw new HttpError(404, `unknown model '${b.slice(0, 200)}' (served: ${[...this.s.models.keys()].join(', ')})`);
    if (rest[0] === 'infer') {
      allow(method === 'POST', 'POST');
      http.label(res, 'infer');
      return this.infer(req, res, served);
    }
    allow(get, 'GET');
    if (rest[0] === 'ready') return http.sendJson(res, 200, { name: b, ready: !http.draining });
    if (rest[0] !== undefined) throw new HttpError(404, 'no such endpoint');
    return http.sendJson(res, 200, this.metadata(served));
  }

  private metadata(m: ServedModel): unknown {
    const model = m.model;
    const outputs = model.outputNames.map((name) => ({ name, datatype: 'FP64', shape: model.graph.dims.get(name) ?? [] }));
    return {
      name: m.name,
      versions: ['1'],
      platform: 'slalom',
      inputs: model.inputs.map((i) => ({ name: i.name, datatype: 'FP32', shape: i.dims })),
      outputs: [...outputs, { name: TOP_K_OUTPUT, datatype: 'BYTES', shape: [-1, this.s.options.top] }],
      parameters: {
        slalom_mode: m.mode,
        input_datatypes: [...INPUT_DATATYPES],
        model_hash: model.modelHash,
        weights_hash: model.weightsHash,
        ...(model.info.labels !== undefined ? { labels: model.info.labels } : {}),
        preprocess: model.info.preprocess,
        ...(m.onEmpty !== undefined ? { pads_on_empty: m.onEmpty } : {}),
      },
    };
  }

  private clientOf(req: IncomingMessage): string {
    const h = req.headers[CLIENT_HEADER];
    const v = Array.isArray(h) ? h[0] : h;
    return v !== undefined && v.length > 0 ? v.slice(0, 64) : (req.socket.remoteAddress ?? 'unknown');
  }

  private async infer(req: IncomingMessage, res: ServerResponse, served: ServedModel): Promise<void> {
    const { options: o, service: http, metrics } = this.s;
    if (http.draining) throw busy('the service is shutting down');
    const started = performance.now();
    const body = await readBody(req, o.maxBodyBytes);
    const encrypted = String(req.headers['content-type'] ?? '').toLowerCase().startsWith(REQUEST_CONTENT_TYPE);
    let channel: OpenedRequest | undefined;
    if (encrypted) {
      try {
        channel = openRequest(this.s.keys.hpke, served.name, body, this.s.guard);
        metrics.encrypted.inc({ result: 'opened' });
      } catch (e) {
        if (!(e instanceof ChannelError)) throw e;
        metrics.encrypted.inc({ result: e.status === 409 ? 'replayed' : e.status === 503 ? 'busy' : 'refused' });
        throw new HttpError(e.status, e.message, e.status === 503 ? { 'Retry-After': '1' } : {});
      }
    }
    try {
      const framed = channel !== undefined ? { json: channel.message.json, ...(channel.message.binary.length > 0 ? { binary: channel.message.binary } : {}) } : splitFramedBody(req.headers, body);
      const parsed = parseRequest(framed, served.model, { maxJsonContainers: o.maxJsonContainers, maxTensorElements: o.maxTensorElements, top: o.top });
      const { result, queueMs } = await served.infer(this.clientOf(req), parsed.inputs, o.requestTimeoutMs);
      const requestId = this.s.nextRequestId();
      const totalMs = performance.now() - started;
      metrics.requests.inc({ model: served.name, outcome: 'ok' });
      metrics.phases.observe({ model: served.name, phase: 'queue' }, queueMs / 1000);
      metrics.phases.observe({ model: served.name, phase: 'run' }, (totalMs - queueMs) / 1000);
      metrics.phases.observe({ model: served.name, phase: 'total' }, totalMs / 1000);
      metrics.recordRun(served.name, result.timings, result.incidents);
      const first = result.outputs[result.outputNames[0]!]!;
      const predictions = parsed.k !== undefined ? predictionsPerItem(first.dims, first.data, parsed.k, served.model.info.labels, served.model.outputKind) : result.predictions;
      const receipt = receiptFor(this.s.keys, o.attestation.name, served.model, served.name, requestId, parsed.hashed, result);
      const reply = encodeReply(served.name, parsed, result, predictions, receipt);
      if (channel !== undefined) http.send(res, 200, channel.sealResponse(reply), { 'Content-Type': RESPONSE_CONTENT_TYPE });
      else http.send(res, 200, [reply.json, reply.binary], reply.headers);
    } catch (e) {
      const { error, outcome } = httpErrorOf(e);
      metrics.requests.inc({ model: served.name, outcome });
      if (outcome === 'integrity') metrics.integrityFailures.inc({ model: served.name });
      if (channel === undefined) throw error;
      const sealed = channel.sealResponse({ json: Buffer.from(JSON.stringify({ error: error.message, ...(error.code !== undefined ? { code: error.code } : {}) })), binary: Buffer.alloc(0) });
      http.send(res, error.status, sealed, { ...error.headers, 'Content-Type': RESPONSE_CONTENT_TYPE });
    }
  }
}
