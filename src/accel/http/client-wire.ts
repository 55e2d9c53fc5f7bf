/**
 * The bytes of one exchange between the accelerator client (client.ts) and a service: the request
 * body it builds once per request (JSON header + the binary residues), the decoding of an OIP infer
 * response into the reply as the server claims it (nothing validated beyond finding the bytes: that
 * is boundary/accept.ts's job), one bounded HTTP exchange, and the small readers of a server's
 * error text and Retry-After.
 * A failed attempt is an AttemptFailure, which client.ts turns into failover or a TransportError.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { InvalidArgumentError } from '../../errors.js';
import type { LinearReply } from '../backend.js';
import { BINARY_HEADER, INPUT_TENSOR, OUTPUT_TENSOR } from './protocol.js';
import { bytesPerValue, isWireDatatype, LITTLE_ENDIAN, readTensor, writeResidues, type WireDatatype } from './tensor-codec.js';

export const MAX_RETRY_AFTER_MS = 10_000;
/** Wait after a 503 without a usable Retry-After. */
export const DEFAULT_RETRY_AFTER_MS = 100;

export type FailureKind = 'timeout' | 'connection' | 'http' | 'server' | 'busy' | 'invalid';

/** One failed attempt on one accelerator (internal: linear() turns these into failover or a TransportError). */
export class AttemptFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly retryAfterMs?: number,
    /** The connection was a reused keep-alive one the server had closed: retry at once, no penalty. */
    readonly stale = false,
  ) {
    super(message);
  }
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** An accelerator's base URL: http://host:port[/prefix] only. */
export function parseUrl(text: string): { url: string; host: string; port: number; basePath: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new InvalidArgumentError(`accelerator URL '${text}' is not a URL (expected http://host:port)`);
  }
  if (u.protocol !== 'http:') throw new InvalidArgumentError(`accelerator URL '${text}': only http:// is supported`);
  if (u.username || u.password || u.search || u.hash) throw new InvalidArgumentError(`accelerator URL '${text}' must be http://host:port[/prefix] only`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { url: `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`, host, port: u.port === '' ? 80 : Number(u.port), basePath: u.pathname.replace(/\/+$/, '') };
}

/** Text a server sent, as data for a message: one line, bounded. */
export function quote(text: string, max = 200): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}

export function errorText(body: Buffer): string {
  const text = body.subarray(0, 1024).toString('utf8');
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j?.error === 'string') return quote(j.error);
  } catch {
    /* not JSON: quoted as is */
  }
  return quote(text);
}

export function retryAfterMs(value: string | string[] | undefined, fallback = DEFAULT_RETRY_AFTER_MS): number {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return fallback;
  const seconds = Number(v);
  if (v.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return Math.min(MAX_RETRY_AFTER_MS, Math.max(10, seconds * 1000));
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(10, date - Date.now())) : fallback;
}

/**
 * Bytes kept free before a request buffer's values (requestBody): the JSON header goes there, right
 * before them, so the body is one contiguous range of the buffer the boundary pass wrote.
 */
const HEADER_ROOM = 1024;

/**
 * A buffer for a request body of `values` UINT32 residues whose values the boundary pass writes in
 * place (AcceleratorBackend.requestBuffer); undefined where the wire is not little-endian UINT32.
 */
export function requestBodyBuffer(values: number, datatype: WireDatatype): Uint32Array | undefined {
  return datatype === 'UINT32' && LITTLE_ENDIAN ? new Uint32Array(new ArrayBuffer(HEADER_ROOM + 4 * values), HEADER_ROOM, values) : undefined;
}

/** The body around a request buffer already holding x, when it is one of requestBodyBuffer's and the header fits before it. */
function bodyAround(wire: Uint32Array | undefined, header: Buffer, values: number, datatype: WireDatatype): Buffer | undefined {
  if (wire === undefined || datatype !== 'UINT32' || !LITTLE_ENDIAN || !(wire.buffer instanceof ArrayBuffer)) return undefined;
  if (wire.length !== values || wire.byteOffset !== HEADER_ROOM || wire.buffer.byteLength !== HEADER_ROOM + 4 * values || header.length > HEADER_ROOM) return undefined;
  const body = Buffer.from(wire.buffer, HEADER_ROOM - header.length, header.length + 4 * values);
  header.copy(body, 0);
  return body;
}

/**
 * The request body: JSON header, then x in `datatype` (little-endian). Built once per request, re-sent
 * as is. With `wire` (a requestBodyBuffer the boundary pass wrote x into) the body is that buffer, x
 * not copied again.
 */
export function encodeRequest(requestId: string, dims: readonly number[], x: Uint32Array, datatype: WireDatatype, clientId: string | undefined, wire?: Uint32Array): { body: Buffer; headerLength: number } {
  const size = x.length * bytesPerValue(datatype);
  const header = Buffer.from(
    JSON.stringify({
      id: requestId,
      ...(clientId !== undefined ? { parameters: { client_id: clientId } } : {}),
      inputs: [{ name: INPUT_TENSOR, datatype, shape: [...dims], parameters: { binary_data_size: size } }],
      outputs: [{ name: OUTPUT_TENSOR, parameters: { binary_data: true } }],
    }),
    'utf8',
  );
  const around = bodyAround(wire, header, x.length, datatype);
  if (around !== undefined) return { body: around, headerLength: header.length };
  // x is the trusted runtime's memory: its values are copied into the body here, synchronously.
  const body = Buffer.allocUnsafe(header.length + size); // every byte written below
  header.copy(body, 0);
  writeResidues(x, datatype, body, header.length);
  return { body, headerLength: header.length };
}

/** The bytes of a binary tensor as an array of their declared type; anything else as raw bytes (for the gate to refuse). */
function binaryTensor(datatype: unknown, bytes: Buffer): Uint32Array | Float64Array | Float32Array | Uint8Array {
  if (isWireDatatype(datatype)) return readTensor(datatype, bytes) ?? Uint8Array.from(bytes);
  if (datatype === 'FP32' && bytes.length % 4 === 0) {
    const out = new Float32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(4 * i);
    return out;
  }
  return Uint8Array.from(bytes);
}

/** Deepest nesting of JSON tensor data read (a layer's output has rank 2 or 4). */
const MAX_NESTED_RANK = 8;

/**
 * JSON tensor data as doubles in row-major order: flat, or nested exactly as the tensor's shape (the
 * Open Inference Protocol allows both); undefined for anything else, which the gate then refuses.
 */
function jsonTensor(data: unknown, shape: unknown): Float64Array | undefined {
  if (!Array.isArray(data)) return undefined;
  if (data.every((v) => typeof v === 'number')) return Float64Array.from(data as number[]);
  if (!Array.isArray(shape) || shape.length < 2 || shape.length > MAX_NESTED_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return undefined;
  const dims = shape as number[];
  // Grown as the data is read, never sized from the claimed shape.
  const out: number[] = [];
  const walk = (level: unknown, depth: number): boolean => {
    if (!Array.isArray(level) || level.length !== dims[depth]) return false;
    if (depth === dims.length - 1) {
      for (const v of level) {
        if (typeof v !== 'number') return false;
        out.push(v);
      }
      return true;
    }
    return level.every((inner) => walk(inner, depth + 1));
  };
  return walk(data, 0) ? Float64Array.from(out) : undefined;
}

/**
 * An OIP infer response → the reply as the server claims it. Only what is needed to find the bytes is
 * required here (a JSON object header, consistent binary sizes); ids, shape, dtype and values go to
 * the trusted gate as they came. Throws AttemptFailure('invalid') for a body that is no OIP response.
 */
export function decodeResponse(res: HttpResult, layerOfName: ReadonlyMap<string, number>): LinearReply {
  const invalid = (why: string): never => {
    throw new AttemptFailure('invalid', `not an OIP infer response: ${why}`);
  };
  const declared = res.headers[BINARY_HEADER];
  let headerLength = res.body.length;
  if (declared !== undefined) {
    const n = Number(Array.isArray(declared) ? declared[0] : declared);
    if (!Number.isSafeInteger(n) || n < 2 || n > res.body.length) invalid(`${BINARY_HEADER} ${quote(String(declared), 40)} does not fit a body of ${res.body.length} bytes`);
    headerLength = n;
  }
  let header: unknown;
  try {
    header = JSON.parse(res.body.subarray(0, headerLength).toString('utf8'));
  } catch {
    invalid('the header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) invalid('the header is not a JSON object');
  const h = header as Record<string, unknown>;
  const outputs = h['outputs'];
  if (!Array.isArray(outputs)) invalid('no outputs array');
  // Binary data of the outputs, in order, fills the rest of the body exactly.
  const binaries = new Map<unknown, Buffer>();
  let offset = headerLength;
  for (const o of outputs as unknown[]) {
    const size = (o as { parameters?: { binary_data_size?: unknown } } | null)?.parameters?.binary_data_size;
    if (size === undefined) continue;
    if (!Number.isSafeInteger(size) || (size as number) < 0 || offset + (size as number) > res.body.length) invalid('binary_data_size runs past the body');
    binaries.set(o, res.body.subarray(offset, offset + (size as number)));
    offset += size as number;
  }
  if (offset !== res.body.length) invalid(`${res.body.length - offset} bytes after the declared tensors`);

  const y = (outputs as unknown[]).find((o) => (o as { name?: unknown } | null)?.name === OUTPUT_TENSOR) as Record<string, unknown> | undefined;
  let data: unknown;
  if (y !== undefined) {
    const bytes = binaries.get(y);
    if (bytes !== undefined) data = binaryTensor(y['datatype'], bytes);
    else if (isWireDatatype(y['datatype'])) data = jsonTensor(y['data'], y['shape']) ?? y['data'];
    else data = y['data'];
  }
  const requestId = h['id'];
  const name = h['model_name'];
  const layerId = typeof name === 'string' ? (layerOfName.get(name) ?? name) : name;
  const params = h['parameters'] as Record<string, unknown> | undefined;
  const reported = params?.['slalom_compute_ms'];
  const computeMs = typeof reported === 'number' && Number.isFinite(reported) ? reported : undefined;
  return { requestId, layerId, dims: y?.['shape'], data, ...(computeMs !== undefined ? { computeMs } : {}) } as unknown as LinearReply;
}

/**
 * One HTTP exchange with a bounded reply: at most `limit` body bytes (a larger Content-Length is
 * refused before reading), the whole exchange within `timeoutMs`. Failures are AttemptFailures:
 * 'invalid' for an answer that breaks the framing (not HTTP, past the limit), which is the
 * accelerator's doing; 'timeout' and 'connection' for what the network may have done.
 */
export function exchange(
  target: { readonly host: string; readonly port: number; readonly path: string; readonly agent: Agent },
  method: 'GET' | 'POST',
  body: Buffer | undefined,
  headers: Record<string, string>,
  limit: number,
  timeoutMs: number,
): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    let settled = false;
    const finish = (err: AttemptFailure | undefined, result?: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else resolve(result!);
    };
    const req = httpRequest({
      ...target,
      method,
      headers: { ...headers, 'content-length': String(body?.length ?? 0) },
    });
    const timer = setTimeout(() => finish(new AttemptFailure('timeout', `no complete answer within ${Math.round(timeoutMs)} ms`)), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Bytes that are not HTTP (llhttp's HPE_* codes) are a malformed answer, not a lost connection.
      if (err.code?.startsWith('HPE_') === true) return finish(new AttemptFailure('invalid', `the reply is not HTTP: ${err.code}`));
      const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      finish(new AttemptFailure('connection', `connection failed: ${err.code ?? err.message}`, undefined, stale));
    });
    req.on('response', (res) => {
      const cl = res.headers['content-length'];
      if (cl !== undefined && !(Number(cl) <= limit)) {
        finish(new AttemptFailure('invalid', `a reply of ${quote(cl, 24)} bytes announced, at most ${limit} expected`));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > limit) {
          finish(new AttemptFailure('invalid', `the reply exceeds ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, total) }));
      res.on('error', (err: NodeJS.ErrnoException) => finish(new AttemptFailure('connection', `the reply was cut short: ${err.code ?? err.message}`)));
      res.on('close', () => {
        if (!res.complete) finish(new AttemptFailure('connection', 'the reply was cut short'));
      });
    });
    req.end(body);
  });
}
