/**
 * The trusted service's Open Inference Protocol (KServe v2) tensors (issue 15, deliverable 1):
 * requests carry each model input (by name) as FP32 — what clients send — or FP64 (exact: the
 * values `slalom infer` computes from an image), as JSON `data` (flat or nested) or binary tensors;
 * every value must be finite. Replies carry each model output as FP64 (the logits exactly as the
 * trusted runtime computed them) and, for a class distribution, `top_k`: BYTES [N, k] in Triton's
 * classification form `"score:index:label"`. The receipt, the mode that ran and what was checked
 * are in the reply's `parameters`.
 */
import { endianness } from 'node:os';
import type { Prediction } from '../api/predictions.js';
import type { RunResult } from '../api/session.js';
import type { HashedTensor, Receipt } from '../attest/receipt.js';
import { framedReply, sliceBinary, type FramedBody } from '../http/binary-framing.js';
import { HttpError } from '../http/http-error.js';
import { isObject, parseJsonBounded } from '../http/json.js';
import type { SlalomModel } from '../runtime/model.js';
import type { Tensor } from '../tensor/tensor.js';

export const INPUT_DATATYPES = ['FP32', 'FP64'] as const;
export type InputDatatype = (typeof INPUT_DATATYPES)[number];
export const TOP_K_OUTPUT = 'top_k';
const ID_MAX = 256;
const LITTLE_ENDIAN = endianness() === 'LE';

export interface ServeLimits {
  readonly maxJsonContainers: number;
  readonly maxTensorElements: number;
  /** Predictions per item (default of the model's sessions). */
  readonly top: number;
}

export interface ParsedRequest {
  readonly id?: string;
  /** Inputs by name, as the session takes them. */
  readonly inputs: Record<string, Tensor>;
  /** The same in model order, as the receipt hashes them. */
  readonly hashed: HashedTensor[];
  readonly binaryOutput: boolean;
  /** Outputs asked for (default every output and top_k). */
  readonly outputs?: readonly string[];
  /** k of top_k (Triton's `classification` parameter of an output), default limits.top. */
  readonly k?: number;
}

function values(datatype: InputDatatype, bytes: Buffer): Float64Array {
  const width = datatype === 'FP32' ? 4 : 8;
  const n = bytes.length / width;
  if (datatype === 'FP64' && LITTLE_ENDIAN) {
    const out = new Float64Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = datatype === 'FP32' ? bytes.readFloatLE(4 * i) : bytes.readDoubleLE(8 * i);
  return out;
}

function flatten(name: string, data: unknown, dims: readonly number[], size: number, datatype: InputDatatype): Float64Array {
  if (!Array.isArray(data)) throw new HttpError(400, `input '${name}': data must be an array`);
  const out = new Float64Array(size);
  let at = 0;
  const put = (v: unknown): void => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, `input '${name}': value ${at} is not a finite number`);
    if (at >= size) throw new HttpError(400, `input '${name}': data has more values than shape [${dims.join(', ')}] holds`);
    out[at++] = datatype === 'FP32' ? Math.fround(v) : v;
  };
  const walk = (a: unknown, depth: number): void => {
    if (!Array.isArray(a)) return put(a);
    if (depth >= dims.length) throw new HttpError(400, `input '${name}': data is nested deeper than shape [${dims.join(', ')}]`);
    for (const v of a) walk(v, depth + 1);
  };
  walk(data, 0);
  if (at !== size) throw new HttpError(400, `input '${name}': data has ${at} values, shape [${dims.join(', ')}] needs ${size}`);
  return out;
}

/** Parses an inference request for `model` (400 naming what is wrong; 413 past the element limit). */
export function parseRequest(framed: FramedBody, model: SlalomModel, limits: ServeLimits): ParsedRequest {
  const req = parseJsonBounded(framed.json, limits.maxJsonContainers, 'the inference request');
  if (!isObject(req)) throw new HttpError(400, 'the inference request must be a JSON object');
  const id = req['id'];
  if (id !== undefined && (typeof id !== 'string' || id.length > ID_MAX)) throw new HttpError(400, `id must be a string of at most ${ID_MAX} characters`);
  const params = req['parameters'];
  if (params !== undefined && !isObject(params)) throw new HttpError(400, 'parameters must be an object');
  let binaryOutput = isObject(params) && params['binary_data_output'] === true;
  const list = req['inputs'];
  const names = model.inputs.map((i) => i.name);
  if (!Array.isArray(list) || list.length !== names.length) throw new HttpError(400, `inputs must list the model's ${names.length} input(s): ${names.join(', ')}`);
  const parsed = new Map<string, { dims: number[]; datatype: InputDatatype; binarySize?: number; data?: unknown }>();
  for (const t of list) {
    if (!isObject(t)) throw new HttpError(400, 'an input must be an object');
    const name = t['name'];
    if (typeof name !== 'string' || !names.includes(name)) throw new HttpError(400, `unknown input '${String(name).slice(0, 64)}' (the model's inputs: ${names.join(', ')})`);
    if (parsed.has(name)) throw new HttpError(400, `input '${name}' is given twice`);
    const datatype = t['datatype'];
    if (datatype !== 'FP32' && datatype !== 'FP64') throw new HttpError(400, `input '${name}' must have datatype FP32 or FP64, got ${JSON.stringify(datatype)?.slice(0, 32)}`);
    const shape = t['shape'];
    if (!Array.isArray(shape) || shape.length === 0 || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= limits.maxTensorElements)) {
      throw new HttpError(400, `input '${name}' shape must be positive integers, got ${JSON.stringify(shape)?.slice(0, 64)}`);
    }
    const size = (shape as number[]).reduce((a, v) => a * v, 1);
    if (size > limits.maxTensorElements) throw new HttpError(413, `input '${name}' of ${size} elements exceeds the limit of ${limits.maxTensorElements}`);
    const ip = t['parameters'];
    if (ip !== undefined && !isObject(ip)) throw new HttpError(400, 'input parameters must be an object');
    const binarySize = isObject(ip) ? ip['binary_data_size'] : undefined;
    const width = datatype === 'FP32' ? 4 : 8;
    if (binarySize !== undefined) {
      if (framed.binary === undefined) throw new HttpError(400, 'binary_data_size given without the Inference-Header-Content-Length header');
      if (binarySize !== width * size) throw new HttpError(400, `input '${name}': binary_data_size must be ${width * size} (${width} bytes × ${size} values), got ${JSON.stringify(binarySize)?.slice(0, 32)}`);
      if (t['data'] !== undefined) throw new HttpError(400, `input '${name}' has both data and binary_data_size`);
    }
    parsed.set(name, { dims: shape as number[], datatype, ...(binarySize !== undefined ? { binarySize: binarySize as number } : { data: t['data'] }) });
  }
  // Binary tensors follow in the order the header lists them.
  const order = [...parsed.entries()].filter(([, p]) => p.binarySize !== undefined);
  const blobs = order.length > 0 ? sliceBinary(framed.binary!, order.map(([, p]) => p.binarySize!)) : [];
  if (order.length === 0 && framed.binary !== undefined && framed.binary.length > 0) throw new HttpError(400, `${framed.binary.length} bytes of binary data follow the header but no input has binary_data_size`);
  const inputs: Record<string, Tensor> = {};
  const hashed: HashedTensor[] = [];
  for (const name of names) {
    const p = parsed.get(name)!;
    const size = p.dims.reduce((a, v) => a * v, 1);
    const k = order.findIndex(([n]) => n === name);
    const data = k >= 0 ? values(p.datatype, blobs[k]!) : flatten(name, p.data, p.dims, size, p.datatype);
    if (k >= 0) for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) throw new HttpError(400, `input '${name}': value ${i} is not a finite number`);
    inputs[name] = { dims: p.dims, data };
    hashed.push({ name, dims: p.dims, data });
  }
  let outputs: string[] | undefined;
  let k: number | undefined;
  const wanted = req['outputs'];
  if (wanted !== undefined) {
    const known = [...model.outputNames, TOP_K_OUTPUT];
    if (!Array.isArray(wanted) || wanted.length === 0 || wanted.length > known.length) throw new HttpError(400, `outputs must name some of: ${known.join(', ')}`);
    outputs = [];
    for (const o of wanted) {
      if (!isObject(o) || typeof o['name'] !== 'string' || !known.includes(o['name'])) throw new HttpError(400, `unknown output (the outputs: ${known.join(', ')})`);
      const op = o['parameters'];
      if (op !== undefined && !isObject(op)) throw new HttpError(400, 'output parameters must be an object');
      if (isObject(op) && op['binary_data'] !== undefined) {
        if (typeof op['binary_data'] !== 'boolean') throw new HttpError(400, 'binary_data must be a boolean');
        binaryOutput = op['binary_data'];
      }
      if (isObject(op) && op['classification'] !== undefined) {
        const c = op['classification'];
        if (!Number.isSafeInteger(c) || (c as number) < 1 || (c as number) > 1000) throw new HttpError(400, 'classification must be an integer in [1, 1000]');
        k = c as number;
        if (!outputs.includes(TOP_K_OUTPUT)) outputs.push(TOP_K_OUTPUT);
      }
      if (o['name'] !== TOP_K_OUTPUT || !outputs.includes(TOP_K_OUTPUT)) outputs.push(o['name']);
    }
  }
  return { ...(typeof id === 'string' ? { id } : {}), inputs, hashed, binaryOutput, ...(outputs !== undefined ? { outputs } : {}), ...(k !== undefined ? { k } : {}) };
}

/** Triton's classification string of one prediction. */
export const classification = (p: Prediction): string => `${p.score}:${p.index}${p.label !== undefined ? `:${p.label}` : ''}`;

/** The reply: the outputs asked for (FP64, JSON or binary), top_k (JSON), the run's account and its receipt in `parameters`. */
export function encodeReply(name: string, req: ParsedRequest, result: RunResult, predictions: readonly (readonly Prediction[])[] | undefined, receipt: Receipt): { json: Buffer; binary: Buffer; headers: Record<string, string | number> } {
  const wanted = req.outputs ?? [...result.outputNames, TOP_K_OUTPUT];
  const outputs: unknown[] = [];
  const blobs: Buffer[] = [];
  for (const out of wanted) {
    if (out === TOP_K_OUTPUT) {
      if (predictions === undefined) continue; // not a class distribution
      const k = Math.max(...predictions.map((p) => p.length));
      outputs.push({ name: TOP_K_OUTPUT, datatype: 'BYTES', shape: [predictions.length, k], data: predictions.flatMap((p) => p.map(classification)) });
      continue;
    }
    const o = result.outputs[out]!;
    if (req.binaryOutput) {
      const bytes = Buffer.allocUnsafe(o.data.byteLength);
      for (let i = 0; i < o.data.length; i++) bytes.writeDoubleLE(o.data[i]!, 8 * i);
      blobs.push(bytes);
      outputs.push({ name: out, datatype: 'FP64', shape: o.dims, parameters: { binary_data_size: bytes.length } });
    } else outputs.push({ name: out, datatype: 'FP64', shape: o.dims, data: Array.from(o.data) });
  }
  const verified = receipt.body.integrity !== 'unchecked';
  const header = JSON.stringify({
    model_name: name,
    model_version: '1',
    ...(req.id !== undefined ? { id: req.id } : {}),
    parameters: {
      slalom_mode: result.mode,
      slalom_verified: verified,
      slalom_integrity: receipt.body.integrity,
      slalom_soundness_log2: receipt.body.soundnessLog2,
      slalom_execution: receipt.body.execution,
      slalom_incidents: receipt.body.incidents,
      slalom_request_id: receipt.body.requestId,
      slalom_receipt: receipt,
    },
    outputs,
  });
  if (blobs.length === 0) return { json: Buffer.from(header), binary: Buffer.alloc(0), headers: {} };
  const { parts, headers } = framedReply(header, blobs);
  return { json: parts[0]!, binary: Buffer.concat(parts.slice(1)), headers };
}
