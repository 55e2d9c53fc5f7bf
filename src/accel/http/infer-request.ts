/**
 * One inference request to the accelerator service, parsed and checked (server.ts): JSON tensors or
 * the binary tensor data extension, the one input `x` of a wire datatype (UINT32, INT32 or FP64:
 * tensor-codec.ts) whose shape fits the layer, every value an integer in [0, p); and the reply, JSON
 * or binary as the request asked, in the request's datatype.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { P } from '../../field/prime.js';
import { firstNonResidue, isResidue, type Residues } from '../../field/residues.js';
import { outputDims } from '../../kernels/output-dims.js';
import { BINARY_HEADER, framedReply, splitFramedBody } from '../../http/binary-framing.js';
import { HttpError } from '../../http/http-error.js';
import { describeValue, isObject, parseJsonBounded } from '../../http/json.js';
import { sizeOf } from '../../tensor/tensor.js';
import type { LayerDescription } from './export.js';
import { INPUT_TENSOR, MODEL_VERSION, OUTPUT_TENSOR } from './protocol.js';
import { bytesPerValue, isWireDatatype, readTensor, residueBytes, WIRE_DATATYPES, type WireDatatype } from './tensor-codec.js';

const ID_MAX = 256;

export interface ParsedInfer {
  readonly id?: string;
  readonly clientId?: string;
  readonly dims: number[];
  readonly outDims: number[];
  /** Residues, whatever the wire's datatype: the layer's kernels take and give u32. */
  readonly x: Residues;
  readonly binaryOutput: boolean;
  /** The request's datatype: the reply answers in it. */
  readonly datatype: WireDatatype;
}

/** What parsing needs of the loaded layer. */
export interface InferTarget {
  readonly description: LayerDescription;
  /** Per-item input dims (−1: free). */
  readonly input: readonly number[];
}

export interface InferLimits {
  readonly maxJsonContainers: number;
  readonly maxTensorElements: number;
}

/** What a batch run gives one request. */
export interface Outcome {
  readonly y: Residues;
  readonly computeMs: number;
  readonly batchItems: number;
  readonly batchRequests: number;
}

export function parseInfer(headers: IncomingHttpHeaders, body: Buffer, model: InferTarget, o: InferLimits): ParsedInfer {
  const { json, binary } = splitFramedBody(headers, body);
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
  const datatype = input['datatype'];
  if (!isWireDatatype(datatype)) throw new HttpError(400, `input '${INPUT_TENSOR}' must have datatype ${WIRE_DATATYPES.join(', ')}, got ${JSON.stringify(datatype)?.slice(0, 32)}`);
  const width = bytesPerValue(datatype);
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
  try {
    outDims = outputDims(model.description, dims);
  } catch (e) {
    throw new HttpError(400, `input '${INPUT_TENSOR}' shape [${dims.join(', ')}]: ${(e as Error).message}`);
  }
  const outSize = sizeOf(outDims);
  if (outSize > o.maxTensorElements) throw new HttpError(413, `output of ${outSize} elements exceeds the limit of ${o.maxTensorElements}`);
  const ip = input['parameters'];
  if (ip !== undefined && !isObject(ip)) throw new HttpError(400, 'input parameters must be an object');
  const binarySize = isObject(ip) ? ip['binary_data_size'] : undefined;
  let x: Residues;
  if (binarySize !== undefined) {
    if (binary === undefined) throw new HttpError(400, `binary_data_size given without the ${BINARY_HEADER} header`);
    if (!Number.isSafeInteger(binarySize) || binarySize !== width * size) throw new HttpError(400, `binary_data_size must be ${width * size} (${width} bytes × ${size} values of ${datatype}), got ${JSON.stringify(binarySize)?.slice(0, 32)}`);
    if (binary.length !== binarySize) throw new HttpError(400, `binary data is ${binary.length} bytes, binary_data_size says ${binarySize}`);
    if (input['data'] !== undefined) throw new HttpError(400, 'an input has both data and binary_data_size');
    x = residuesOfBinary(datatype, binary); // the length is width · size, checked above
  } else {
    if (binary !== undefined && binary.length > 0) throw new HttpError(400, `${binary.length} bytes of binary data follow the header but no input has binary_data_size`);
    x = flattenData(input['data'], dims, size);
  }
  const clientId = isObject(params) && typeof params['client_id'] === 'string' ? params['client_id'] : undefined;
  return { ...(typeof id === 'string' ? { id } : {}), ...(clientId !== undefined ? { clientId } : {}), dims, outDims, x, binaryOutput, datatype };
}

/** Flattens JSON tensor data (flat, or nested to match `shape`) into residues; every value must be one. */
function flattenData(data: unknown, shape: readonly number[], size: number): Residues {
  if (!Array.isArray(data)) throw new HttpError(400, `input '${INPUT_TENSOR}': data must be an array`);
  const out = new Uint32Array(size);
  let at = 0;
  const put = (v: unknown): void => {
    if (!isResidue(v)) throw new HttpError(400, `input '${INPUT_TENSOR}': value ${at} is ${describeValue(v)}, not an integer in [0, ${P})`);
    out[at++] = v;
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

/** A binary input's residues, each checked to be one (UINT32/INT32 as they are; FP64 converted once, −0 as 0). */
function residuesOfBinary(datatype: WireDatatype, bytes: Uint8Array): Residues {
  const values = readTensor(datatype, bytes)!;
  const bad = firstNonResidue(values);
  if (bad >= 0) throw new HttpError(400, `input '${INPUT_TENSOR}': value ${bad} is ${values[bad]}, not an integer in [0, ${P})`);
  return values instanceof Uint32Array ? values : Uint32Array.from(values);
}

/** The reply body and headers: binary when the request asked for it, JSON otherwise. */
export function inferReply(name: string, req: ParsedInfer, o: Outcome): { body: string | Buffer[]; headers: Record<string, string | number> } {
  const head = `{"model_name":${JSON.stringify(name)},"model_version":"${MODEL_VERSION}"${req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : ''},"parameters":{"slalom_batch_items":${o.batchItems},"slalom_batch_requests":${o.batchRequests},"slalom_compute_ms":${Number(o.computeMs.toFixed(3))}},"outputs":[{"name":"${OUTPUT_TENSOR}","datatype":"${req.datatype}","shape":[${req.outDims.join(',')}]`;
  if (req.binaryOutput) {
    const bytes = residueBytes(o.y, req.datatype);
    const { parts, headers } = framedReply(`${head},"parameters":{"binary_data_size":${bytes.length}}}]}`, [bytes]);
    return { body: parts, headers };
  }
  return { body: `${head},"data":[${o.y.join(',')}]}]}`, headers: {} };
}
