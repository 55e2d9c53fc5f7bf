/**
 * The trusted service's endpoints (server.ts): health, server and model metadata, inference (plain,
 * or sealed to the attested key: attest/channel.ts), generation with a decoder (generate.ts:
 * `generate`, plain or sealed; `generate_stream`, server-sent events, plain — its final event's
 * signed receipt binds the whole sequence), the attestation document, stats and `GET /metrics`.
 * `/versions/1` may follow a model name. An encrypted request's answer — result or error — is sealed
 * under its own context once the request has opened; before, errors are plain.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GenerateResult, RunResult } from '../api/session.js';
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
import { generateReply, parseGenerateRequest, sseEvent, type GenerateRequest } from './generate.js';
import { encodeReply, INPUT_DATATYPES, parseRequest, TOP_K_OUTPUT } from './oip.js';
import type { ResolvedTrustedOptions } from './options.js';
import { generationReceiptFor, receiptFor } from './receipts.js';
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

/** The client closed its connection before its generation's end. */
class StreamClosed extends Error {
  constructor() {
    super('the client closed the stream');
  }
}
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
      return http.sendJson(res, 200, { name: 'slalom', version: SLALOM_VERSION, extensions: ['binary_tensor_data', 'classification', 'generate', 'slalom_attestation', 'slalom_hpke', 'slalom_receipts', 'slalom_stats'] });
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
      if (served.model.decoder !== undefined) throw new HttpError(400, `'${served.name}' is a decoder: it generates (POST /v2/models/${served.name}/generate or generate_stream), it does not infer`);
      return this.infer(req, res, served);
    }
    if (rest[0] === 'generate' || rest[0] === 'generate_stream') {
      allow(method === 'POST', 'POST');
      http.label(res, rest[0]);
      if (served.model.decoder === undefined) throw new HttpError(400, `'${served.name}' is not a decoder: it infers (POST /v2/models/${served.name}/infer), it does not generate`);
      return rest[0] === 'generate' ? this.generate(req, res, served) : this.generateStream(req, res, served);
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
        // A decoder generates (generate, generate_stream) and is not run on one input; one pad per token fed.
        ...(model.decoder !== undefined ? { generate: { vocab: model.decoder.config.vocab, max_positions: model.decoder.config.maxPositions, max_tokens: this.s.options.maxGenerateTokens, tokenizer: model.tokenizer !== undefined, pads_per: 'token' } } : {}),
      },
    };
  }

  private clientOf(req: IncomingMessage): string {
    const h = req.headers[CLIENT_HEADER];
    const v = Array.isArray(h) ? h[0] : h;
    return v !== undefined && v.length > 0 ? v.slice(0, 64) : (req.socket.remoteAddress ?? 'unknown');
  }

  /** The one-JSON-answer generation, plain or sealed to the attested key like infer; a client that goes away stops it, as for the stream. */
  private async generate(req: IncomingMessage, res: ServerResponse, served: ServedModel): Promise<void> {
    const { options: o, service: http } = this.s;
    if (http.draining) throw busy('the service is shutting down');
    const body = await readBody(req, o.maxBodyBytes);
    const channel = this.openChannel(req, served, body);
    let gone = false;
    res.on('close', () => (gone = !res.writableFinished));
    try {
      const parsed = parseGenerateRequest(channel?.message.json ?? body, served.model, { maxJsonContainers: o.maxJsonContainers, maxGenerateTokens: o.maxGenerateTokens });
      const { result, requestId } = await this.runGeneration(req, served, parsed, () => {
        if (gone) throw new StreamClosed();
      });
      const reply = Buffer.from(JSON.stringify(generateReply(served.name, result, this.generationReceipt(served, requestId, parsed, result))));
      if (channel !== undefined) http.send(res, 200, channel.sealResponse({ json: reply, binary: Buffer.alloc(0) }), { 'Content-Type': RESPONSE_CONTENT_TYPE });
      else http.send(res, 200, reply, { 'Content-Type': 'application/json' });
    } catch (e) {
      if (e instanceof StreamClosed) {
        this.s.metrics.requests.inc({ model: served.name, outcome: 'cancelled' });
        return;
      }
      const error = this.countFailure(served, e);
      if (channel === undefined) throw error;
      const sealed = channel.sealResponse({ json: Buffer.from(JSON.stringify({ error: error.message, ...(error.code !== undefined ? { code: error.code } : {}) })), binary: Buffer.alloc(0) });
      http.send(res, error.status, sealed, { ...error.headers, 'Content-Type': RESPONSE_CONTENT_TYPE });
    }
  }

  /**
   * The streamed generation: server-sent events, one per token as its step is accepted, then the
   * result with its receipt, or an error event and nothing after it. Plain (not sealed): what binds
   * the stream is the final event's signed receipt, over the prompt's and every generated token's ids.
   * A failure before the first event is an ordinary HTTP error (503 + Retry-After, 502, …). A client
   * that goes away stops the generation at its next token (no pads spent for nobody).
   */
  private async generateStream(req: IncomingMessage, res: ServerResponse, served: ServedModel): Promise<void> {
    const { options: o, service: http } = this.s;
    if (http.draining) throw busy('the service is shutting down');
    const body = await readBody(req, o.maxBodyBytes);
    if (String(req.headers['content-type'] ?? '').toLowerCase().startsWith(REQUEST_CONTENT_TYPE)) throw new HttpError(400, 'generate_stream is not encrypted: use generate for a sealed request');
    const parsed = parseGenerateRequest(body, served.model, { maxJsonContainers: o.maxJsonContainers, maxGenerateTokens: o.maxGenerateTokens });
    const tokenizer = served.model.tokenizer;
    let gone = false;
    res.on('close', () => (gone = !res.writableFinished));
    const write = (event: unknown): void => {
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
      if (!res.destroyed) res.write(sseEvent(event));
    };
    try {
      const { result, requestId } = await this.runGeneration(req, served, parsed, (token, index) => {
        // Thrown inside the step loop, this ends the generation there (generate/generation.ts emits after each accepted step).
        if (gone) throw new StreamClosed();
        write({ output_id: token, ...(tokenizer !== undefined ? { text_output: tokenizer.decode([token]) } : {}), index });
      });
      write({ final: true, ...generateReply(served.name, result, this.generationReceipt(served, requestId, parsed, result)) });
      res.end();
    } catch (e) {
      if (e instanceof StreamClosed) {
        this.s.metrics.requests.inc({ model: served.name, outcome: 'cancelled' });
        return;
      }
      const error = this.countFailure(served, e);
      if (!res.headersSent) throw error;
      write({ error: error.message, ...(error.code !== undefined ? { code: error.code } : {}) });
      res.end();
    }
  }

  /** Runs one generation on `served` for this request's client, recording it in the metrics. */
  private async runGeneration(req: IncomingMessage, served: ServedModel, parsed: GenerateRequest, onToken: (token: number, index: number) => void): Promise<{ result: GenerateResult; requestId: string }> {
    const { options: o, metrics } = this.s;
    const started = performance.now();
    const options = { maxTokens: parsed.maxTokens, temperature: parsed.temperature, seed: parsed.seed, ...(parsed.topK !== undefined ? { topK: parsed.topK } : {}), ...(parsed.stop !== undefined ? { stop: parsed.stop } : {}) };
    const { result, queueMs } = await served.generate(
      this.clientOf(req),
      parsed.inputIds,
      {
        ...options,
        onToken: (e) => {
          metrics.generatedTokens.inc({ model: served.name });
          onToken(e.token, e.index);
        },
      },
      o.requestTimeoutMs,
    );
    this.countSuccess(served, started, queueMs, result);
    return { result, requestId: this.s.nextRequestId() };
  }

  private generationReceipt(served: ServedModel, requestId: string, parsed: GenerateRequest, result: GenerateResult): ReturnType<typeof generationReceiptFor> {
    const facts = { requestId, maxTokens: parsed.maxTokens, temperature: parsed.temperature, topK: parsed.topK, seed: parsed.seed, onEmpty: served.onEmpty };
    return generationReceiptFor(this.s.keys, this.s.options.attestation.name, served.model, served.name, facts, result);
  }

  /** A request answered: its outcome, its phases (queue, run, total) and its run's timings and incidents. */
  private countSuccess(served: ServedModel, started: number, queueMs: number, result: { readonly timings: Readonly<Record<string, number>>; readonly incidents: RunResult['incidents'] }): void {
    const metrics = this.s.metrics;
    const totalMs = performance.now() - started;
    metrics.requests.inc({ model: served.name, outcome: 'ok' });
    metrics.phases.observe({ model: served.name, phase: 'queue' }, queueMs / 1000);
    metrics.phases.observe({ model: served.name, phase: 'run' }, (totalMs - queueMs) / 1000);
    metrics.phases.observe({ model: served.name, phase: 'total' }, totalMs / 1000);
    metrics.recordRun(served.name, result.timings, result.incidents);
  }

  /** The HTTP error for a failed request, counted in the metrics. */
  private countFailure(served: ServedModel, e: unknown): HttpError {
    const { error, outcome } = httpErrorOf(e);
    this.s.metrics.requests.inc({ model: served.name, outcome });
    if (outcome === 'integrity') this.s.metrics.integrityFailures.inc({ model: served.name });
    return error;
  }

  /** The opened request when the body is sealed to the attested key (else undefined); refused ones are counted and answered plainly. */
  private openChannel(req: IncomingMessage, served: ServedModel, body: Buffer): OpenedRequest | undefined {
    const metrics = this.s.metrics;
    if (!String(req.headers['content-type'] ?? '').toLowerCase().startsWith(REQUEST_CONTENT_TYPE)) return undefined;
    try {
      const channel = openRequest(this.s.keys.hpke, served.name, body, this.s.guard);
      metrics.encrypted.inc({ result: 'opened' });
      return channel;
    } catch (e) {
      if (!(e instanceof ChannelError)) throw e;
      metrics.encrypted.inc({ result: e.status === 409 ? 'replayed' : e.status === 503 ? 'busy' : 'refused' });
      throw new HttpError(e.status, e.message, e.status === 503 ? { 'Retry-After': '1' } : {});
    }
  }

  private async infer(req: IncomingMessage, res: ServerResponse, served: ServedModel): Promise<void> {
    const { options: o, service: http, metrics } = this.s;
    if (http.draining) throw busy('the service is shutting down');
    const started = performance.now();
    const body = await readBody(req, o.maxBodyBytes);
    const channel = this.openChannel(req, served, body);
    try {
      const framed = channel !== undefined ? { json: channel.message.json, ...(channel.message.binary.length > 0 ? { binary: channel.message.binary } : {}) } : splitFramedBody(req.headers, body);
      const parsed = parseRequest(framed, served.model, { maxJsonContainers: o.maxJsonContainers, maxTensorElements: o.maxTensorElements, top: o.top });
      const { result, queueMs } = await served.infer(this.clientOf(req), parsed.inputs, o.requestTimeoutMs);
      const requestId = this.s.nextRequestId();
      this.countSuccess(served, started, queueMs, result);
      const first = result.outputs[result.outputNames[0]!]!;
      const predictions = parsed.k !== undefined ? predictionsPerItem(first.dims, first.data, parsed.k, served.model.info.labels, served.model.outputKind) : result.predictions;
      const receipt = receiptFor(this.s.keys, o.attestation.name, served.model, served.name, requestId, parsed.hashed, result);
      const reply = encodeReply(served.name, parsed, result, predictions, receipt);
      if (channel !== undefined) http.send(res, 200, channel.sealResponse(reply), { 'Content-Type': RESPONSE_CONTENT_TYPE });
      else http.send(res, 200, [reply.json, reply.binary], reply.headers);
    } catch (e) {
      const error = this.countFailure(served, e);
      if (channel === undefined) throw error;
      const sealed = channel.sealResponse({ json: Buffer.from(JSON.stringify({ error: error.message, ...(error.code !== undefined ? { code: error.code } : {}) })), binary: Buffer.alloc(0) });
      http.send(res, error.status, sealed, { ...error.headers, 'Content-Type': RESPONSE_CONTENT_TYPE });
    }
  }
}
