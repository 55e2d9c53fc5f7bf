/**
 * A repository-load request to the accelerator service (server.ts): the layer's ONNX graph as raw
 * bytes (`application/octet-stream`) or, Triton's form, base64 in `parameters["file:1/model.onnx"]`
 * of a JSON body. A model's base64 can pass V8's string limit, so big string literals are kept out of
 * JSON.parse and decoded in chunks straight from the body.
 */
import { HttpError } from '../../http/http-error.js';
import { isObject } from '../../http/json.js';
import { LOAD_FILE_PARAMETER } from './protocol.js';
import { MIB } from './server-options.js';

/** The ONNX bytes a load body carries; undefined for an empty JSON body (load from the repository). */
export function parseLoadBody(contentType: string, body: Buffer): Uint8Array | undefined {
  let bytes: Uint8Array | undefined;
  const type = contentType.toLowerCase();
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
  return bytes;
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

