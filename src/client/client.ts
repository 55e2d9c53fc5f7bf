/**
 * The TypeScript client of the trusted inference service (issue 15, deliverable 5), what
 * `slalom client infer` runs and `slalom/client` exports: it fetches the service's attestation
 * document with a fresh nonce and checks it against the caller's policy before it sends anything
 * (attest/attestation.ts: the `none` provider only with `allowDevelopment`), seals each request to the
 * attested HPKE key (attest/channel.ts; plain OIP when `encrypt: false`), and accepts an answer only
 * if its receipt is signed by the attested key and names the model, input and outputs it got
 * (verifyReceipt). Every read is bounded and every request has a timeout.
 *
 *     const client = await SlalomClient.connect('http://127.0.0.1:8080', { policy: { allowDevelopment: true } });
 *     const r = await client.infer('fashion-mnist', { dims: [1, 1, 28, 28], data });
 *     r.topK?.[0]?.[0]; r.outputs; r.receipt; r.mode;
 *
 * A served decoder generates (`generate`): the tokens stream in as server-sent events and the
 * generation is returned only once its final receipt (attest/generation-receipt.ts) verified against
 * the attestation, the prompt's ids and every token received.
 *
 *     const g = await client.generate('gpt-tiny', [1, 2, 3], { maxTokens: 32, onToken: (t) => … });
 *     g.outputIds; g.finish; g.receipt;
 */
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { checkAttestation, type AcceptedAttestation, type AttestationDocument, type AttestationPolicy } from '../attest/attestation.js';
import { REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE, sealRequest, type FramedMessage } from '../attest/channel.js';
import { fromBase64url } from '../attest/canonical.js';
import { signerKeyHash, tensorsHash, type HashedTensor, type Receipt, type ReceiptBody } from '../attest/receipt.js';
import { trainingSignerKeyHash, type TrainingReceipt, type TrainingReceiptBody } from '../attest/training-receipt.js';
import { generationSignerKeyHash, tokenIdsHash, type GenerationReceipt, type GenerationReceiptBody } from '../attest/generation-receipt.js';
import {
  AttestationError,
  hasErrorCode,
  IntegrityError,
  InvalidArgumentError,
  MalformedResponseError,
  OverflowError,
  PadAuthError,
  PadsExhaustedError,
  TransportError,
  type SlalomError,
  type SlalomErrorOptions,
} from '../errors.js';

export interface ClientOptions {
  /** What attestation to accept (checked before anything is sent). */
  readonly policy: AttestationPolicy;
  /** Per request (default 60 s). */
  readonly timeoutMs?: number;
  /** Largest answer read (default 256 MiB). */
  readonly maxResponseBytes?: number;
  /** Sent as X-Slalom-Client, the service's fair-share key (default: none, the service uses the address). */
  readonly clientId?: string;
}

export interface ClientTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array;
}

export interface InferOptions {
  /** Seal the request to the attested key (default true). */
  readonly encrypt?: boolean;
  /** FP64 (default: exact, the values `slalom infer` computes) or FP32 (half the bytes). */
  readonly datatype?: 'FP32' | 'FP64';
  /** Predictions per item (default the service's). */
  readonly top?: number;
}

export interface ClientOutput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

export interface ClientPrediction {
  readonly index: number;
  readonly label?: string;
  readonly score: number;
}

export interface ClientResult {
  readonly model: string;
  /** The mode that ran, as the signed receipt says. */
  readonly mode: string;
  readonly integrity: ReceiptBody['integrity'];
  readonly soundnessLog2: number | null;
  /** Per item, each linear layer: where it was computed and under which check, as the signed receipt says. */
  readonly execution: ReceiptBody['execution'];
  /** Failures the service recovered from during this request, as the signed receipt says. */
  readonly incidents: ReceiptBody['incidents'];
  readonly outputNames: readonly string[];
  readonly outputs: Readonly<Record<string, ClientOutput>>;
  readonly topK?: readonly (readonly ClientPrediction[])[];
  readonly receipt: Receipt;
  readonly encrypted: boolean;
}

export interface ModelMetadata {
  readonly name: string;
  readonly inputs: readonly { readonly name: string; readonly datatype: string; readonly shape: readonly number[] }[];
  readonly outputs: readonly { readonly name: string; readonly datatype: string; readonly shape: readonly number[] }[];
  readonly parameters: Readonly<Record<string, unknown>>;
}

export interface GenerateOptions {
  /** New tokens at most (default the service's, 16). */
  readonly maxTokens?: number;
  /** 0 (default): greedy. */
  readonly temperature?: number;
  readonly topK?: number;
  readonly seed?: number;
  /** Token ids that end the generation. */
  readonly stop?: readonly number[];
  /**
   * Seal the request to the attested key and take the answer in one sealed piece (the `generate`
   * endpoint; attest/channel.ts), so the network sees neither prompt nor tokens; then onToken is
   * called for each token once the receipt verified. Default false: the plain `generate_stream`.
   */
  readonly encrypt?: boolean;
  /** Each token as it arrives (streamed: before the receipt, the generation is accepted only once it verified). */
  readonly onToken?: (token: { readonly id: number; readonly index: number; readonly text?: string }) => void;
}

export interface ClientGeneration {
  readonly model: string;
  /** The prompt's token ids, as the service ran them and the receipt binds them. */
  readonly inputIds: readonly number[];
  readonly outputIds: readonly number[];
  readonly text?: string;
  readonly finish: string;
  /** The rest as the signed receipt says. */
  readonly mode: string;
  readonly integrity: GenerationReceiptBody['integrity'];
  readonly soundnessLog2: number | null;
  readonly incidents: GenerationReceiptBody['incidents'];
  readonly receipt: GenerationReceipt;
  readonly encrypted: boolean;
}

const LITTLE_ENDIAN = endianness() === 'LE';
const BINARY_HEADER = 'inference-header-content-length';

const ERRORS: Record<string, new (message: string, options?: SlalomErrorOptions) => SlalomError> = {
  SLALOM_ERR_INVALID_ARG: InvalidArgumentError,
  SLALOM_ERR_OVERFLOW: OverflowError,
  SLALOM_ERR_MALFORMED: MalformedResponseError,
  SLALOM_ERR_INTEGRITY: IntegrityError,
  SLALOM_ERR_PAD_AUTH: PadAuthError,
  SLALOM_ERR_PADS_EXHAUSTED: PadsExhaustedError,
};

/** Text a server sent, as data for a message: one line, bounded. */
const quote = (text: string): string => JSON.stringify(text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300));

/** The service's error answer as a typed error: its code's class (an IntegrityError stays one), else TransportError. */
function remoteError(status: number, json: Buffer): SlalomError {
  let body: { error?: unknown; code?: unknown } = {};
  try {
    body = JSON.parse(json.toString('utf8')) as typeof body;
  } catch {
    // not JSON: reported by status only
  }
  const message = `the service answered ${status}: ${typeof body.error === 'string' ? quote(body.error) : 'no error message'}`;
  const Class = typeof body.code === 'string' ? ERRORS[body.code] : undefined;
  return Class !== undefined ? new Class(message) : new TransportError(message);
}

function tensorBytes(data: Float32Array | Float64Array, datatype: 'FP32' | 'FP64'): Buffer {
  const width = datatype === 'FP32' ? 4 : 8;
  const out = Buffer.allocUnsafe(data.length * width);
  if (LITTLE_ENDIAN && ((datatype === 'FP32' && data instanceof Float32Array) || (datatype === 'FP64' && data instanceof Float64Array))) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return out;
  }
  for (let i = 0; i < data.length; i++) {
    if (datatype === 'FP32') out.writeFloatLE(data[i]!, 4 * i);
    else out.writeDoubleLE(data[i]!, 8 * i);
  }
  return out;
}

export class SlalomClient {
  private readonly metadataCache = new Map<string, ModelMetadata>();

  private constructor(
    readonly url: string,
    readonly attestation: AcceptedAttestation,
    private readonly options: ClientOptions,
  ) {}

  /** Fetches the attestation with a fresh nonce and checks it against `options.policy`; AttestationError when it does not pass. */
  static async connect(url: string, options: ClientOptions): Promise<SlalomClient> {
    const base = url.replace(/\/+$/, '');
    if (!/^https?:\/\//i.test(base)) throw new InvalidArgumentError(`--url must be an http(s) URL, got '${url}'`);
    const nonce = randomBytes(32).toString('hex');
    const probe = new SlalomClient(base, undefined as unknown as AcceptedAttestation, options);
    const { status, json } = await probe.request('GET', `/v2/slalom/attestation?nonce=${nonce}`);
    if (status !== 200) throw remoteError(status, json);
    let doc: unknown;
    try {
      doc = JSON.parse(json.toString('utf8'));
    } catch {
      throw new AttestationError('the attestation document is not JSON');
    }
    try {
      return new SlalomClient(base, await checkAttestation(doc, options.policy, nonce), options);
    } catch (e) {
      if (e instanceof AttestationError) throw new AttestationError(`refusing to send: ${e.message}`, { cause: e });
      throw e;
    }
  }

  get document(): AttestationDocument {
    return this.attestation.document;
  }

  async metadata(model: string): Promise<ModelMetadata> {
    const cached = this.metadataCache.get(model);
    if (cached !== undefined) return cached;
    const { status, json } = await this.request('GET', `/v2/models/${encodeURIComponent(model)}`);
    if (status !== 200) throw remoteError(status, json);
    const m = JSON.parse(json.toString('utf8')) as ModelMetadata;
    if (!Array.isArray(m.inputs) || !Array.isArray(m.outputs)) throw new MalformedResponseError(`the metadata of '${model}' has no inputs or outputs`);
    this.metadataCache.set(model, m);
    return m;
  }

  /**
   * Runs `model` on `inputs` (one tensor for a one-input model, else by input name). The answer is
   * returned only after its receipt verified against the attestation and what was sent and received.
   */
  async infer(model: string, inputs: ClientTensor | Readonly<Record<string, ClientTensor>>, options: InferOptions = {}): Promise<ClientResult> {
    const meta = await this.metadata(model);
    const attested = this.document.models.find((m) => m.name === model);
    if (attested === undefined) throw new AttestationError(`the attested service does not serve '${model}'`);
    const named: Record<string, ClientTensor> = 'dims' in inputs && 'data' in inputs ? { [meta.inputs[0]!.name]: inputs as ClientTensor } : (inputs as Record<string, ClientTensor>);
    const datatype = options.datatype ?? 'FP64';
    const hashed: HashedTensor[] = [];
    const blobs: Buffer[] = [];
    const header: unknown[] = [];
    for (const input of meta.inputs) {
      const t = named[input.name];
      if (t === undefined) throw new InvalidArgumentError(`no tensor for input '${input.name}' of ${model}`);
      const bytes = tensorBytes(t.data, datatype);
      blobs.push(bytes);
      header.push({ name: input.name, datatype, shape: [...t.dims], parameters: { binary_data_size: bytes.length } });
      // What the service runs on: the values as sent, widened to doubles exactly.
      hashed.push({ name: input.name, dims: t.dims, data: datatype === 'FP32' ? Float64Array.from(Float32Array.from(t.data)) : Float64Array.from(t.data) });
    }
    const outputs = [...meta.outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.datatype !== 'BYTES', ...(o.datatype === 'BYTES' && options.top !== undefined ? { classification: options.top } : {}) } }))];
    const message: FramedMessage = { json: Buffer.from(JSON.stringify({ inputs: header, outputs })), binary: Buffer.concat(blobs) };
    const encrypt = options.encrypt ?? true;
    const path = `/v2/models/${encodeURIComponent(model)}/infer`;
    let reply: FramedMessage;
    let status: number;
    if (encrypt) {
      const sealed = sealRequest(fromBase64url(this.document.keys.hpke.publicKey, 'the attested HPKE key', 32), model, message);
      const res = await this.request('POST', path, sealed.body, { 'Content-Type': REQUEST_CONTENT_TYPE });
      status = res.status;
      if (res.contentType !== RESPONSE_CONTENT_TYPE) throw remoteError(status, res.json); // refused before the request opened
      reply = sealed.openResponse(res.json);
    } else {
      const res = await this.request('POST', path, Buffer.concat([message.json, message.binary]), { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(message.json.length) });
      status = res.status;
      reply = res.binaryHeader !== undefined ? { json: res.json.subarray(0, res.binaryHeader), binary: res.json.subarray(res.binaryHeader) } : { json: res.json, binary: Buffer.alloc(0) };
    }
    if (status !== 200) throw remoteError(status, reply.json);
    return this.decode(model, reply, hashed, encrypt);
  }

  /**
   * Generates with a served decoder from `prompt` (text, encoded by the service's tokenizer, or token
   * ids), streaming: each token goes to `options.onToken` as it arrives; the result is returned only
   * after the final event's receipt verified (verifyGeneratedAnswer) — an error event, a stream that
   * ends without one, or tokens the receipt does not cover throw. The stream is not encrypted; with
   * `encrypt` the request and the answer are sealed and nothing streams (see GenerateOptions).
   */
  async generate(model: string, prompt: string | readonly number[], options: GenerateOptions = {}): Promise<ClientGeneration> {
    if (!this.document.models.some((m) => m.name === model)) throw new AttestationError(`the attested service does not serve '${model}'`);
    const parameters = {
      ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {}),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.topK !== undefined ? { top_k: options.topK } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.stop !== undefined ? { stop: [...options.stop] } : {}),
    };
    const body = JSON.stringify({ ...(typeof prompt === 'string' ? { text_input: prompt } : { input_ids: [...prompt] }), parameters });
    const received: number[] = [];
    let final: Record<string, unknown> | undefined;
    if (options.encrypt === true) {
      const sealed = sealRequest(fromBase64url(this.document.keys.hpke.publicKey, 'the attested HPKE key', 32), model, { json: Buffer.from(body), binary: Buffer.alloc(0) });
      const res = await this.request('POST', `/v2/models/${encodeURIComponent(model)}/generate`, sealed.body, { 'Content-Type': REQUEST_CONTENT_TYPE });
      if (res.contentType !== RESPONSE_CONTENT_TYPE) throw remoteError(res.status, res.json); // refused before the request opened
      const reply = sealed.openResponse(res.json).json;
      if (res.status !== 200) throw remoteError(res.status, reply);
      try {
        final = JSON.parse(reply.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new MalformedResponseError('the service answered with a body that is not JSON');
      }
      if (!Array.isArray(final['output_ids']) || !final['output_ids'].every((t) => Number.isSafeInteger(t))) throw new MalformedResponseError('the answer has no output_ids (token ids)');
      received.push(...(final['output_ids'] as number[]));
      const g = this.acceptGeneration(model, prompt, received, final, true);
      g.outputIds.forEach((id, index) => options.onToken?.({ id, index }));
      return g;
    }
    await this.stream(`/v2/models/${encodeURIComponent(model)}/generate_stream`, body, (event) => {
      if (final !== undefined) throw new MalformedResponseError('the service sent an event after the final one');
      if (typeof event['error'] === 'string') throw remoteError(502, Buffer.from(JSON.stringify(event)));
      if (event['final'] === true) {
        final = event;
        return;
      }
      const id = event['output_id'];
      if (!Number.isSafeInteger(id) || event['index'] !== received.length) throw new MalformedResponseError(`token event ${received.length} is malformed`);
      received.push(id as number);
      options.onToken?.({ id: id as number, index: received.length - 1, ...(typeof event['text_output'] === 'string' ? { text: event['text_output'] } : {}) });
    });
    if (final === undefined) throw new MalformedResponseError('the stream ended without its final event (no receipt)');
    return this.acceptGeneration(model, prompt, received, final, false);
  }

  /** The generation once its answer matches the tokens received and its receipt verified against them. */
  private acceptGeneration(model: string, prompt: string | readonly number[], received: readonly number[], final: Record<string, unknown>, encrypted: boolean): ClientGeneration {
    const f = final as { input_ids?: unknown; output_ids?: unknown; text_output?: unknown; finish?: unknown; receipt?: unknown };
    const inputIds = Array.isArray(f.input_ids) ? (f.input_ids as number[]) : [];
    if (typeof prompt !== 'string' && (inputIds.length !== prompt.length || inputIds.some((t, i) => t !== prompt[i]))) throw new AttestationError('the service ran another prompt than the one sent');
    if (!Array.isArray(f.output_ids) || f.output_ids.length !== received.length || f.output_ids.some((t, i) => t !== received[i])) throw new MalformedResponseError('the final event lists other tokens than the ones streamed');
    const b = verifyGeneratedAnswer(f.receipt, this.document, model, inputIds, received);
    if (f.finish !== b.finish) throw new AttestationError(`the answer says finish '${String(f.finish).slice(0, 20)}', its receipt '${b.finish}'`);
    return {
      model,
      inputIds,
      outputIds: received,
      ...(typeof f.text_output === 'string' ? { text: f.text_output } : {}),
      finish: b.finish,
      mode: b.mode,
      integrity: b.integrity,
      soundnessLog2: b.soundnessLog2,
      incidents: b.incidents,
      receipt: f.receipt as GenerationReceipt,
      encrypted,
    };
  }

  /** POSTs `body` and hands each server-sent event's JSON to `onEvent` as it arrives; bounded in time and size like request(). */
  private async stream(path: string, body: string, onEvent: (event: Record<string, unknown>) => void): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const max = this.options.maxResponseBytes ?? 256 * 2 ** 20;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...(this.options.clientId !== undefined ? { 'X-Slalom-Client': this.options.clientId } : {}) },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new TransportError(`cannot reach ${this.url}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status !== 200 || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const text = Buffer.from(await res.arrayBuffer().catch(() => new ArrayBuffer(0)));
      throw remoteError(res.status, text.subarray(0, 64 * 1024));
    }
    let total = 0;
    let pending = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body ?? []) {
        total += (chunk as Uint8Array).length;
        if (total > max) throw new TransportError(`the answer of ${this.url} exceeds ${max} bytes`);
        pending += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          if (data.length === 0) continue;
          let event: unknown;
          try {
            event = JSON.parse(data);
          } catch {
            throw new MalformedResponseError('the service sent an event that is not JSON');
          }
          if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new MalformedResponseError('the service sent an event that is not a JSON object');
          onEvent(event as Record<string, unknown>);
        }
      }
    } catch (e) {
      if (typeof (e as { code?: unknown }).code === 'string' && String((e as { code: string }).code).startsWith('SLALOM_ERR_')) throw e;
      throw new TransportError(`reading the stream of ${this.url} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  private decode(model: string, reply: FramedMessage, hashed: readonly HashedTensor[], encrypted: boolean): ClientResult {
    let head: { outputs?: unknown; parameters?: { slalom_receipt?: unknown } };
    try {
      head = JSON.parse(reply.json.toString('utf8')) as typeof head;
    } catch {
      throw new MalformedResponseError('the service answered with a header that is not JSON');
    }
    if (!Array.isArray(head.outputs)) throw new MalformedResponseError('the answer has no outputs');
    const outputs: Record<string, ClientOutput> = {};
    const outputNames: string[] = [];
    let topK: ClientPrediction[][] | undefined;
    let at = 0;
    for (const o of head.outputs as { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[]) {
      const size = Array.isArray(o.shape) ? o.shape.reduce((a, v) => a * v, 1) : NaN;
      if (o.datatype === 'BYTES') {
        const k = o.shape[1]!;
        const cells = (o.data ?? []).map((s) => {
          const [score, index, ...label] = String(s).split(':');
          return { index: Number(index), score: Number(score), ...(label.length > 0 ? { label: label.join(':') } : {}) };
        });
        topK = Array.from({ length: o.shape[0]! }, (_, i) => cells.slice(i * k, (i + 1) * k));
        continue;
      }
      let data: Float64Array;
      const n = o.parameters?.binary_data_size;
      if (n !== undefined) {
        if (n !== 8 * size || at + n > reply.binary.length) throw new MalformedResponseError(`output '${o.name}' has binary_data_size ${n}, expected ${8 * size}`);
        data = new Float64Array(size);
        for (let i = 0; i < size; i++) data[i] = reply.binary.readDoubleLE(at + 8 * i);
        at += n;
      } else {
        if (!Array.isArray(o.data) || o.data.length !== size) throw new MalformedResponseError(`output '${o.name}' has ${o.data?.length ?? 0} values, shape [${o.shape}] needs ${size}`);
        data = Float64Array.from(o.data as number[]);
      }
      outputs[o.name] = { name: o.name, dims: o.shape, data };
      outputNames.push(o.name);
    }
    const body = verifyAnswer(head.parameters?.slalom_receipt, this.document, model, hashed, outputNames.map((n) => outputs[n]!));
    return {
      model,
      mode: body.mode,
      integrity: body.integrity,
      soundnessLog2: body.soundnessLog2,
      execution: body.execution,
      incidents: body.incidents,
      outputNames,
      outputs,
      ...(topK !== undefined ? { topK } : {}),
      receipt: head.parameters!.slalom_receipt as Receipt,
      encrypted,
    };
  }

  /** One HTTP exchange, bounded in time and size. */
  private async request(method: 'GET' | 'POST', path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: Buffer; contentType: string; binaryHeader?: number }> {
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const max = this.options.maxResponseBytes ?? 256 * 2 ** 20;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { ...headers, ...(this.options.clientId !== undefined ? { 'X-Slalom-Client': this.options.clientId } : {}) },
        ...(body !== undefined ? { body: Uint8Array.from(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new TransportError(`cannot reach ${this.url}: ${(e as Error).message}`, { cause: e });
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body ?? []) {
        total += (chunk as Uint8Array).length;
        if (total > max) throw new TransportError(`the answer of ${this.url} exceeds ${max} bytes`);
        chunks.push(Buffer.from(chunk as Uint8Array));
      }
    } catch (e) {
      if (hasErrorCode(e, 'SLALOM_ERR_TRANSPORT')) throw e;
      throw new TransportError(`reading the answer of ${this.url} failed: ${(e as Error).message}`, { cause: e });
    }
    const h = res.headers.get(BINARY_HEADER);
    const bytes = Buffer.concat(chunks, total);
    const binaryHeader = h !== null && /^\d{1,12}$/.test(h) && Number(h) <= bytes.length ? Number(h) : undefined;
    return { status: res.status, json: bytes, contentType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(), ...(binaryHeader !== undefined ? { binaryHeader } : {}) };
  }
}

/**
 * Checks a receipt against what the client knows: signed by the attested key, for the attested
 * model, over the very input sent and the outputs received. AttestationError naming the first thing
 * that fails.
 */
export function verifyAnswer(receipt: unknown, doc: AttestationDocument, model: string, inputs: readonly HashedTensor[], outputs: readonly HashedTensor[]): ReceiptBody {
  const body = verifyReceipt(receipt, { attestation: doc });
  if (body.model.name !== model) throw new AttestationError(`the receipt is for model '${String(body.model.name).slice(0, 64)}', not the attested '${model}'`);
  if (body.inputHash !== tensorsHash('inputs', inputs)) throw new AttestationError('the receipt is for another input than the one sent');
  if (body.outputsHash !== tensorsHash('outputs', outputs)) throw new AttestationError('the receipt is for other outputs than the ones received');
  return body;
}

/** What vouches for the key that signed a receipt: at least one must be given. */
export interface ReceiptTrust {
  /** An attestation document the caller has checked (checkAttestation): it vouches for its key hash and names the models served. */
  readonly attestation?: AttestationDocument;
  /** A key hash (64 hex digits) the caller already trusts, e.g. noted from an attestation it checked earlier. */
  readonly keyHash?: string;
}

/** The one-line advice when nothing vouches for a receipt's key. */
export const UNVOUCHED_RECEIPT =
  "nothing vouches for the key that signed this receipt (anyone can sign one with a fresh key): give the service's attestation document (--attestation <file>, or the bundle `slalom client infer --receipt-out` saves) or pin the service's key hash (--key-hash <hex>)";

/**
 * A receipt's signature, and that the key which made it is vouched for: the key hash is derived
 * from the keys the signature verifies under (attest/receipt.ts, signerKeyHash), then compared with
 * the pin and with the attestation document's, never read from the body. With a document, the
 * receipt's provider and model must also be the ones it attests.
 */
export function verifyReceipt(receipt: unknown, trust: ReceiptTrust): ReceiptBody {
  const signer = signerKeyHash(receipt);
  if (signer === null) throw new AttestationError('the receipt does not verify: malformed, altered, or not signed by the keys it carries');
  const body = (receipt as Receipt).body;
  vouchForSigner('receipt', signer, body.service.provider, trust);
  const doc = trust.attestation;
  if (doc !== undefined) {
    const m = body.model;
    if (!doc.models.some((a) => a.name === m.name && a.modelHash === m.modelHash && a.weightsHash === m.weightsHash)) throw new AttestationError(`the receipt is for model '${String(m.name).slice(0, 64)}' with weights ${String(m.weightsHash).slice(0, 12)}…, which the attestation document does not name`);
  }
  return body;
}

/** Refuses unless the pin or the attestation document vouches for the derived signer key hash (and the document for the provider named). */
function vouchForSigner(what: string, signer: string, provider: unknown, trust: ReceiptTrust): void {
  const { attestation: doc, keyHash: pin } = trust;
  if (doc === undefined && pin === undefined) throw new AttestationError(UNVOUCHED_RECEIPT);
  if (pin !== undefined && signer !== pin.toLowerCase()) throw new AttestationError(`the ${what} is signed by key hash ${signer.slice(0, 16)}…, not the pinned ${pin.slice(0, 16)}…`);
  if (doc !== undefined) {
    if (signer !== doc.keyHash) throw new AttestationError(`the ${what} is signed by key hash ${signer.slice(0, 16)}…, which the attestation document (key hash ${doc.keyHash.slice(0, 16)}…) does not attest`);
    if (provider !== doc.provider) throw new AttestationError(`the ${what} names provider '${String(provider).slice(0, 40)}', the document '${doc.provider}'`);
  }
}

/** A training receipt (attest/training-receipt.ts) under the same rule as an inference receipt: its signer's key hash derived, then vouched for by a pin or an attestation document. */
export function verifyTrainingReceipt(receipt: unknown, trust: ReceiptTrust): TrainingReceiptBody {
  const signer = trainingSignerKeyHash(receipt);
  if (signer === null) throw new AttestationError('the training receipt does not verify: malformed, altered, or not signed by the keys it carries');
  const body = (receipt as TrainingReceipt).body;
  vouchForSigner('training receipt', signer, body.service.provider, trust);
  return body;
}

/**
 * Checks a generation receipt against what the client knows: signed by the attested key, for the
 * attested model, over the prompt's ids and exactly the tokens received (hash and count).
 * AttestationError naming the first thing that fails.
 */
export function verifyGeneratedAnswer(receipt: unknown, doc: AttestationDocument, model: string, promptIds: readonly number[], outputIds: readonly number[]): GenerationReceiptBody {
  const body = verifyGenerationReceipt(receipt, { attestation: doc });
  if (body.model.name !== model) throw new AttestationError(`the receipt is for model '${String(body.model.name).slice(0, 64)}', not the attested '${model}'`);
  if (body.prompt.idsHash !== tokenIdsHash(promptIds) || body.prompt.count !== promptIds.length) throw new AttestationError('the receipt is for another prompt than the one the service answered');
  if (body.generated.idsHash !== tokenIdsHash(outputIds) || body.generated.count !== outputIds.length) throw new AttestationError('the receipt is for other tokens than the ones received');
  return body;
}

/** A generation receipt (attest/generation-receipt.ts) under the same rule as an inference receipt: its signer's key hash derived, then vouched for by a pin or an attestation document (which must also name its model). */
export function verifyGenerationReceipt(receipt: unknown, trust: ReceiptTrust): GenerationReceiptBody {
  const signer = generationSignerKeyHash(receipt);
  if (signer === null) throw new AttestationError('the generation receipt does not verify: malformed, altered, or not signed by the keys it carries');
  const body = (receipt as GenerationReceipt).body;
  vouchForSigner('generation receipt', signer, body.service.provider, trust);
  const doc = trust.attestation;
  if (doc !== undefined) {
    const m = body.model;
    if (!doc.models.some((a) => a.name === m.name && a.modelHash === m.modelHash && a.weightsHash === m.weightsHash)) throw new AttestationError(`the generation receipt is for model '${String(m.name).slice(0, 64)}' with weights ${String(m.weightsHash).slice(0, 12)}…, which the attestation document does not name`);
  }
  return body;
}
