/**
 * The binary tensor data extension of the Open Inference Protocol (KServe v2), shared by both servers
 * (issue 15, deliverable 7): a body is a JSON header of `Inference-Header-Content-Length` bytes
 * followed by the raw tensors, each `parameters.binary_data_size` bytes, in the order the header
 * lists them. This module only splits and assembles the framing; what the bytes mean is each
 * server's tensor codec.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './http-error.js';

/** The header naming the JSON part's length (lower case, as node reports headers). */
export const BINARY_HEADER = 'inference-header-content-length';

export interface FramedBody {
  readonly json: Buffer;
  /** The bytes after the JSON header; undefined when the request has no binary part. */
  readonly binary?: Buffer;
}

/** Splits a request body into its JSON header and binary part (400 when the header is not a byte count within the body). */
export function splitFramedBody(headers: IncomingHttpHeaders, body: Buffer): FramedBody {
  const headerValue = headers[BINARY_HEADER];
  if (headerValue === undefined) return { json: body };
  const h = Array.isArray(headerValue) ? headerValue[0]! : headerValue;
  if (!/^\d{1,12}$/.test(h)) throw new HttpError(400, `${BINARY_HEADER} must be a decimal byte count`);
  const n = Number(h);
  if (n > body.length) throw new HttpError(400, `${BINARY_HEADER} (${n}) exceeds the body length (${body.length})`);
  return { json: body.subarray(0, n), binary: body.subarray(n) };
}

/** Cuts a binary part into consecutive tensors of the given byte sizes (400 when they do not add up to the part). */
export function sliceBinary(binary: Buffer, sizes: readonly number[]): Buffer[] {
  const total = sizes.reduce((a, n) => a + n, 0);
  if (total !== binary.length) throw new HttpError(400, `binary data is ${binary.length} bytes, binary_data_size says ${total}`);
  const out: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(binary.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** A framed reply: the JSON header, then the tensors' bytes, with the headers that announce it. */
export function framedReply(header: string, tensors: readonly Buffer[]): { parts: Buffer[]; headers: Record<string, string | number> } {
  const json = Buffer.from(header);
  return { parts: [json, ...tensors], headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': json.length } };
}
