/**
 * The quantized artifact (`slalom quantize`): a QuantizedGraph on disk, so a model is calibrated once
 * and then loaded by every command without onnxruntime, recalibration or a float copy of its weights
 * (docs/design.md §2: the scales come from calibration; the integer weights follow from them).
 *
 * Layout, format version 1 (all numbers little-endian):
 *
 *     0    8 bytes   magic 89 'S' 'L' 'A' 'L' 'O' 'M' 'Q'
 *     8    u32       format version
 *     12   u32       header length H
 *     16   32 bytes  SHA-256 of the header bytes followed by the blob section
 *     48   H bytes   header: UTF-8 JSON (ArtifactHeader below)
 *          padding   zeros up to a multiple of 8
 *     B    blobs     every array the header refers to, each at an offset (from B) that is a multiple
 *                    of 8; `header.blobs.bytes` long
 *          onnx      optional: the original ONNX file, `header.onnx.bytes` long, authenticated by
 *                    the model hash (its SHA-256); read only when the float reference is asked for
 *
 * Integer weights w̃ are stored in the narrowest of int8, int16, int32 holding the layer's values
 * (|w̃| ≤ Σ|w̃| ≤ MAX_WEIGHT_L1 < 2^31, field/prime.ts), biases b̃ as float64 (exact integers below
 * 2^53), other constants as float32 when every value is one, else float64. Loading reads the header
 * and the blob section in chunks (hashing as it goes), copies the small arrays out and turns each
 * layer's weights into float64 only when the layer is first used; that decoding also recomputes
 * Σ|w̃| and refuses weights that break the exactness bound the header claims.
 *
 * Node attributes and layer fields are stored as JSON; typed arrays among them go to blobs, and
 * numbers JSON cannot hold (±Infinity, NaN, −0) are tagged. Anything else cannot be stored and is
 * refused when the artifact is written, so a new op with exotic attributes fails loudly, not later.
 *
 * The checksum is unkeyed: it catches corruption, not editing (anyone can recompute it). The header
 * states no identity for the model; the runtime computes one from what it loaded (content-hash.ts),
 * so an edited artifact is another model to pads, pins and receipts.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hasErrorCode, InvalidArgumentError, isSlalomError, MalformedModelError, UnsupportedModelError } from '../errors.js';
import { linearIsExact } from '../field/prime.js';
import type { Graph, Node } from '../graph/ir.js';
import { OPS } from '../graph/ops/registry.js';
import { sizeOf, type Tensor } from '../tensor/tensor.js';
import type { IntegerBacked, StoredIntegers } from './content-hash.js';
import { rowL1, type QuantizedGraph, type QuantizedLayer } from './quantize-graph.js';

export const ARTIFACT_MAGIC: readonly number[] = [0x89, 0x53, 0x4c, 0x41, 0x4c, 0x4f, 0x4d, 0x51];
export const ARTIFACT_VERSION = 1;
const PREAMBLE_BYTES = 48;
const CHUNK_BYTES = 16 * 2 ** 20;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where the scales came from: enough to tell two artifacts of one model apart and to redo one. */
export interface Provenance {
  readonly calibration: {
    /** What the samples were: a path or dataset spec, `seeded-normal`, `held-out …`, `tensors`. */
    readonly source: string;
    readonly samples: number;
    /** SHA-256 of the calibration samples as float64, in order. */
    readonly sha256: string;
  };
  readonly margin: number;
  readonly slalomVersion: string;
  /** ISO time the quantization was made. */
  readonly createdAt: string;
}

/** What the runtime stores beside the quantized graph (its own JSON: labels, preprocessing). */
export interface ArtifactMeta {
  readonly name: string;
  /** SHA-256 of the ONNX file the artifact was made from (as the file states it; checked when the embedded ONNX file is read). */
  readonly modelHash: string;
  readonly provenance: Provenance;
  readonly info: unknown;
}

export interface LoadedArtifact {
  readonly quantized: QuantizedGraph;
  readonly meta: ArtifactMeta;
  /** Reads the embedded ONNX file (checked against the model hash by the caller), if the artifact has one. */
  readonly onnx?: () => Uint8Array;
  /** Bytes of the file (or buffer) it was read from. */
  readonly bytes: number;
}

export interface ReadProgress {
  readonly done: number;
  readonly total: number;
}

type Dtype = 'i8' | 'i16' | 'i32' | 'u8' | 'u32' | 'f32' | 'f64';
type AnyArray = Int8Array | Int16Array | Int32Array | Uint8Array | Uint32Array | Float32Array | Float64Array;
const ARRAYS: Readonly<Record<Dtype, { new (buffer: ArrayBufferLike, offset: number, length: number): AnyArray; BYTES_PER_ELEMENT: number }>> = {
  i8: Int8Array,
  i16: Int16Array,
  i32: Int32Array,
  u8: Uint8Array,
  u32: Uint32Array,
  f32: Float32Array,
  f64: Float64Array,
};

interface BlobRef {
  readonly dtype: Dtype;
  /** Byte offset from the start of the blob section (a multiple of 8). */
  readonly offset: number;
  /** Elements. */
  readonly length: number;
}

type Json = number | string | boolean | null | Json[] | { [key: string]: Json };

interface ArtifactHeader {
  readonly format: 'slalom-quantized';
  readonly version: number;
  readonly meta: ArtifactMeta;
  readonly margin: number;
  readonly graph: {
    readonly name: string;
    readonly inputs: readonly { readonly name: string; readonly dims: readonly number[] }[];
    readonly outputs: readonly string[];
    readonly nodes: readonly { readonly name: string; readonly op: string; readonly inputs: readonly string[]; readonly outputs: readonly string[]; readonly attrs: Json }[];
    readonly dims: readonly (readonly [string, readonly number[]])[];
    readonly constants: readonly { readonly name: string; readonly dims: readonly number[]; readonly blob: BlobRef }[];
  };
  readonly layers: readonly { readonly node: string; readonly fields: Json; readonly w: { readonly dims: readonly number[]; readonly blob: BlobRef }; readonly bias?: BlobRef }[];
  readonly blobs: { readonly bytes: number };
  readonly onnx?: { readonly bytes: number };
}

// ---- writing ------------------------------------------------------------------------------------

class BlobWriter {
  readonly parts: Uint8Array[] = [];
  bytes = 0;

  add(values: AnyArray): BlobRef {
    const dtype = dtypeOf(values);
    const ref = { dtype, offset: this.bytes, length: values.length };
    const part = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.parts.push(part);
    this.bytes += part.byteLength;
    const pad = (8 - (this.bytes % 8)) % 8;
    if (pad > 0) {
      this.parts.push(new Uint8Array(pad));
      this.bytes += pad;
    }
    return ref;
  }
}

function dtypeOf(values: AnyArray): Dtype {
  for (const [dtype, ctor] of Object.entries(ARRAYS)) if (values instanceof ctor) return dtype as Dtype;
  throw new UnsupportedModelError(`cannot store a ${values.constructor.name} in an artifact`);
}

/** The narrowest signed integer array holding w̃ exactly. */
function integerWeights(w: Tensor, layer: string): Int8Array | Int16Array | Int32Array {
  let max = 0;
  for (const v of w.data) {
    if (!Number.isInteger(v)) throw new InvalidArgumentError(`weight ${v} is not an integer`, { layer });
    max = Math.max(max, v < 0 ? -v - 1 : v);
  }
  if (max <= 127) return Int8Array.from(w.data);
  if (max <= 32767) return Int16Array.from(w.data);
  if (max <= 2 ** 31 - 1) return Int32Array.from(w.data);
  throw new InvalidArgumentError(`weight magnitude ${max} does not fit 32 bits`, { layer });
}

/** float32 when every value survives the round trip, else float64. */
function floatConstant(data: Float64Array): Float32Array | Float64Array {
  const f32 = Float32Array.from(data);
  for (let i = 0; i < data.length; i++) if (!Object.is(f32[i], data[i])) return data;
  return f32;
}

function encodeValue(v: unknown, blobs: BlobWriter, where: string): Json {
  if (v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { $num: String(Object.is(v, -0) ? '-0' : v) };
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'object') {
    if (ArrayBuffer.isView(v)) return { $array: blobs.add(v as AnyArray) as unknown as Json };
    if (Array.isArray(v)) return v.map((e, i) => encodeValue(e, blobs, `${where}[${i}]`));
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, Json> = {};
      for (const [k, e] of Object.entries(v)) {
        if (k.startsWith('$')) throw new UnsupportedModelError(`${where}: key '${k}' cannot be stored in an artifact`);
        if (e !== undefined) out[k] = encodeValue(e, blobs, `${where}.${k}`);
      }
      return out;
    }
  }
  throw new UnsupportedModelError(`${where}: a ${typeof v === 'object' ? (v as object).constructor?.name : typeof v} cannot be stored in an artifact`);
}

/** Constants the graph still needs once its linear layers are quantized (weights and biases are stored as integers). */
function nonlinearConstants(graph: Graph, q: QuantizedGraph): [string, Tensor][] {
  const used = new Set<string>();
  for (const n of graph.nodes) {
    const inputs = q.byNode.has(n.name) ? n.inputs.slice(0, 1) : n.inputs;
    for (const i of inputs) used.add(i);
  }
  return [...graph.constants].filter(([name]) => used.has(name));
}

/**
 * Writes `q` to `path` atomically (a temporary file, fsync, rename). `onnx`, when given, is stored
 * after the blobs so that `compare` and `inferFloat` can work from the artifact alone.
 */
export function writeArtifact(path: string, q: QuantizedGraph, meta: ArtifactMeta, onnx?: Uint8Array): number {
  if (!LITTLE_ENDIAN) throw new UnsupportedModelError('artifacts are little-endian; this platform is not');
  const blobs = new BlobWriter();
  const { graph } = q;
  const nodes = graph.nodes.map((n) => ({ name: n.name, op: n.op, inputs: [...n.inputs], outputs: [...n.outputs], attrs: encodeValue(n.attrs, blobs, `node '${n.name}' attributes`) }));
  const constants = nonlinearConstants(graph, q).map(([name, t]) => ({ name, dims: [...t.dims], blob: blobs.add(floatConstant(t.data)) }));
  const layers = q.layers.map((l) => {
    const { node, w, bias, ...fields } = l;
    return {
      node: node.name,
      fields: encodeValue(fields, blobs, `layer '${l.name}'`),
      w: { dims: [...w.dims], blob: blobs.add(integerWeights(w, l.name)) },
      ...(bias !== undefined ? { bias: blobs.add(bias) } : {}),
    };
  });
  const header: ArtifactHeader = {
    format: 'slalom-quantized',
    version: ARTIFACT_VERSION,
    meta,
    margin: q.margin,
    graph: { name: graph.name, inputs: graph.inputs, outputs: graph.outputs, nodes, dims: [...graph.dims], constants },
    layers,
    blobs: { bytes: blobs.bytes },
    ...(onnx !== undefined ? { onnx: { bytes: onnx.byteLength } } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const hash = createHash('sha256').update(json);
  for (const p of blobs.parts) hash.update(p);
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  preamble.set(ARTIFACT_MAGIC);
  preamble.writeUInt32LE(ARTIFACT_VERSION, 8);
  preamble.writeUInt32LE(json.byteLength, 12);
  preamble.set(hash.digest(), 16);
  const pad = new Uint8Array((8 - ((PREAMBLE_BYTES + json.byteLength) % 8)) % 8);
  const parts = [preamble, json, pad, ...blobs.parts, ...(onnx !== undefined ? [onnx] : [])];
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', 0o644);
    for (const p of parts) {
      for (let done = 0; done < p.byteLength; ) done += writeSync(fd, p, done, Math.min(p.byteLength - done, CHUNK_BYTES));
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new InvalidArgumentError(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parts.reduce((s, p) => s + p.byteLength, 0);
}

// ---- reading ------------------------------------------------------------------------------------

/** True when `bytes` start like an artifact (the first 8 bytes suffice). */
export function isArtifact(bytes: Uint8Array): boolean {
  return bytes.length >= ARTIFACT_MAGIC.length && ARTIFACT_MAGIC.every((b, i) => bytes[i] === b);
}

/** Reads an artifact from a file (in chunks) or from bytes. Any defect is a MalformedModelError naming the source. */
export function readArtifact(source: string | Uint8Array, onProgress?: (p: ReadProgress) => void): LoadedArtifact {
  const where = typeof source === 'string' ? source : 'artifact';
  try {
    return typeof source === 'string' ? readFromFile(source, onProgress) : readFromBytes(source);
  } catch (e) {
    if (hasErrorCode(e, 'SLALOM_ERR_UNSUPPORTED')) throw new UnsupportedModelError(`${where}: ${e.message}`, { cause: e });
    if (isSlalomError(e) && e.code !== 'SLALOM_ERR_MALFORMED_MODEL') throw e;
    const reason = (e as Error).message;
    throw new MalformedModelError(`${where}: malformed slalom artifact: ${reason}`, { cause: e });
  }
}

function malformed(reason: string): never {
  throw new MalformedModelError(reason);
}

function parsePreamble(pre: Uint8Array, size: number): { version: number; headerBytes: number; sha256: string } {
  if (pre.byteLength < PREAMBLE_BYTES || !isArtifact(pre)) malformed(`truncated before the end of its ${PREAMBLE_BYTES}-byte preamble, or not an artifact`);
  const view = new DataView(pre.buffer, pre.byteOffset, PREAMBLE_BYTES);
  const version = view.getUint32(8, true);
  if (version !== ARTIFACT_VERSION) {
    if (version > ARTIFACT_VERSION) throw new UnsupportedModelError(`artifact format version ${version} is newer than this slalom reads (${ARTIFACT_VERSION}): upgrade slalom or quantize the model again`);
    malformed(`unknown format version ${version}`);
  }
  const headerBytes = view.getUint32(12, true);
  if (PREAMBLE_BYTES + headerBytes > size) malformed(`truncated: the header claims ${headerBytes} bytes, the file has ${size - PREAMBLE_BYTES} after the preamble`);
  return { version, headerBytes, sha256: Buffer.from(pre.buffer, pre.byteOffset + 16, 32).toString('hex') };
}

function blobStart(headerBytes: number): number {
  const end = PREAMBLE_BYTES + headerBytes;
  return end + ((8 - (end % 8)) % 8);
}

function parseHeader(json: Uint8Array, size: number, start: number): ArtifactHeader {
  let h: ArtifactHeader;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    malformed(`its header is not JSON (${(e as Error).message})`);
  }
  if (h?.format !== 'slalom-quantized' || typeof h.meta !== 'object' || h.graph === undefined || !Array.isArray(h.layers)) malformed('its header lacks format, meta, graph or layers');
  const blobBytes = h.blobs?.bytes;
  if (!Number.isSafeInteger(blobBytes) || blobBytes < 0) malformed('its header has no valid blob section');
  const onnxBytes = h.onnx?.bytes ?? 0;
  if (!Number.isSafeInteger(onnxBytes) || onnxBytes < 0) malformed('its header has an invalid ONNX length');
  const expected = start + blobBytes + onnxBytes;
  if (size < expected) malformed(`truncated: ${size} bytes, the header describes ${expected}`);
  if (size > expected) malformed(`${size - expected} unexpected bytes after the end`);
  return h;
}

/** Opens a model file for reading, or a one-line error naming it. */
function openModel(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw new InvalidArgumentError(`cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads exactly `length` bytes at `position` into `into` at `at`; a short file is "truncated". */
function readFully(fd: number, position: number, length: number, into: Buffer = Buffer.allocUnsafeSlow(length), at = 0): Buffer {
  for (let done = 0; done < length; ) {
    const n = readSync(fd, into, at + done, length - done, position + done);
    if (n === 0) malformed(`truncated at byte ${position + done}`);
    done += n;
  }
  return into;
}

/** Whether the file at `path` is an artifact, by its first bytes. */
export function isArtifactFile(path: string): boolean {
  const fd = openModel(path);
  try {
    const head = Buffer.alloc(ARTIFACT_MAGIC.length);
    return isArtifact(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } catch (e) {
    throw new InvalidArgumentError(`cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

function readFromFile(path: string, onProgress?: (p: ReadProgress) => void): LoadedArtifact {
  const fd = openModel(path);
  try {
    const size = fstatSync(fd).size;
    const { headerBytes, sha256 } = parsePreamble(readFully(fd, 0, Math.min(PREAMBLE_BYTES, size)), size);
    const start = blobStart(headerBytes);
    const json = readFully(fd, PREAMBLE_BYTES, headerBytes);
    const hash = createHash('sha256').update(json);
    const header = parseHeader(json, size, start);
    // Its own ArrayBuffer (allocUnsafeSlow): offset 0, so every 8-aligned blob is a valid typed-array view.
    const blobs = Buffer.allocUnsafeSlow(header.blobs.bytes);
    for (let done = 0; done < blobs.byteLength; ) {
      const n = Math.min(CHUNK_BYTES, blobs.byteLength - done);
      readFully(fd, start + done, n, blobs, done);
      hash.update(blobs.subarray(done, done + n));
      done += n;
      onProgress?.({ done, total: blobs.byteLength });
    }
    checkHash(hash.digest('hex'), sha256);
    const onnxAt = start + header.blobs.bytes;
    const onnx = header.onnx === undefined ? undefined : () => readOnnxFromFile(path, onnxAt, header.onnx!.bytes);
    return { ...build(header, blobs), ...(onnx ? { onnx } : {}), bytes: size };
  } finally {
    closeSync(fd);
  }
}

function readOnnxFromFile(path: string, position: number, length: number): Uint8Array {
  const fd = openModel(path);
  try {
    return readFully(fd, position, length);
  } catch (e) {
    throw new MalformedModelError(`${path}: the embedded ONNX file cannot be read: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

function readFromBytes(bytes: Uint8Array): LoadedArtifact {
  const { headerBytes, sha256 } = parsePreamble(bytes.subarray(0, PREAMBLE_BYTES), bytes.byteLength);
  const start = blobStart(headerBytes);
  const json = bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerBytes);
  const header = parseHeader(json, bytes.byteLength, start);
  let blobs = bytes.subarray(start, start + header.blobs.bytes);
  if (blobs.byteOffset % 8 !== 0) blobs = blobs.slice(); // typed-array views need aligned offsets
  checkHash(createHash('sha256').update(json).update(blobs).digest('hex'), sha256);
  const onnxAt = start + header.blobs.bytes;
  const onnx = header.onnx === undefined ? undefined : () => bytes.subarray(onnxAt, onnxAt + header.onnx!.bytes);
  return { ...build(header, blobs), ...(onnx ? { onnx } : {}), bytes: bytes.byteLength };
}

function checkHash(actual: string, expected: string): void {
  if (actual !== expected) malformed('its header, weights and constants do not match its checksum (corrupted or modified)');
}

/** A view of one blob (no copy). */
function blobView(blobs: Uint8Array, ref: BlobRef, what: string): AnyArray {
  const ctor = ARRAYS[ref?.dtype];
  if (ctor === undefined || !Number.isSafeInteger(ref.offset) || !Number.isSafeInteger(ref.length) || ref.offset < 0 || ref.length < 0 || ref.offset % 8 !== 0) {
    malformed(`${what}: invalid blob reference ${JSON.stringify(ref)}`);
  }
  if (ref.offset + ref.length * ctor.BYTES_PER_ELEMENT > blobs.byteLength) malformed(`${what}: blob past the end of the blob section`);
  return new ctor(blobs.buffer, blobs.byteOffset + ref.offset, ref.length);
}

function floats(blobs: Uint8Array, ref: BlobRef, what: string): Float64Array {
  return Float64Array.from(blobView(blobs, ref, what));
}

function decodeValue(v: Json, blobs: Uint8Array, where: string): unknown {
  if (Array.isArray(v)) return v.map((e, i) => decodeValue(e, blobs, `${where}[${i}]`));
  if (v === null || typeof v !== 'object') return v;
  if ('$num' in v) return Number(v['$num']);
  if ('$array' in v) {
    const view = blobView(blobs, v['$array'] as unknown as BlobRef, where);
    return view.slice(); // a copy: nothing may keep the blob section alive
  }
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) out[k] = decodeValue(e, blobs, `${where}.${k}`);
  return out;
}

function dimsOk(dims: unknown): dims is number[] {
  return Array.isArray(dims) && dims.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function build(h: ArtifactHeader, blobs: Uint8Array): Pick<LoadedArtifact, 'quantized' | 'meta'> {
  const g = h.graph;
  const nodes: Node[] = g.nodes.map((n) => {
    if (OPS[n.op] === undefined) throw new UnsupportedModelError(`node '${n.name}': op '${n.op}' is not supported by this slalom (the artifact was made by a newer one?)`);
    return { name: n.name, op: n.op, inputs: [...n.inputs], outputs: [...n.outputs], attrs: decodeValue(n.attrs, blobs, `node '${n.name}'`) };
  });
  const constants = new Map<string, Tensor>();
  for (const c of g.constants) {
    if (!dimsOk(c.dims)) malformed(`constant '${c.name}': invalid dims`);
    const data = floats(blobs, c.blob, `constant '${c.name}'`);
    if (data.length !== sizeOf(c.dims)) malformed(`constant '${c.name}': ${data.length} values for [${c.dims.join(', ')}]`);
    constants.set(c.name, { dims: [...c.dims], data });
  }
  const dims = new Map<string, readonly number[]>();
  for (const [name, d] of g.dims) {
    if (!dimsOk(d)) malformed(`value '${name}': invalid dims`);
    dims.set(name, [...d]);
  }
  for (const i of g.inputs) if (!dimsOk(i.dims)) malformed(`input '${i.name}': invalid dims`);
  const graph: Graph = { name: g.name, inputs: g.inputs.map((i) => ({ name: i.name, dims: [...i.dims] })), outputs: [...g.outputs], nodes, constants, dims };

  const byName = new Map(nodes.map((n) => [n.name, n]));
  const layers: QuantizedLayer[] = h.layers.map((entry, index) => {
    const node = byName.get(entry.node);
    if (node === undefined) malformed(`layer ${index} names node '${entry.node}', which the graph lacks`);
    const fields = decodeValue(entry.fields, blobs, `layer '${entry.node}'`) as Omit<QuantizedLayer, 'node' | 'w' | 'bias'>;
    if (fields.index !== index || fields.name !== node.name) malformed(`layer ${index} ('${entry.node}') is out of order`);
    if (!linearIsExact(fields.weightRowL1, fields.maxAbsBias)) malformed(`layer '${node.name}': Σ|w̃| = ${fields.weightRowL1} with |b̃| ≤ ${fields.maxAbsBias} exceeds the 2^53 exactness bound`);
    if (!dimsOk(entry.w?.dims)) malformed(`layer '${node.name}': invalid weight dims`);
    const wView = blobView(blobs, entry.w.blob, `layer '${node.name}' weights`);
    if (!(wView instanceof Int8Array || wView instanceof Int16Array || wView instanceof Int32Array) || wView.length !== sizeOf(entry.w.dims)) {
      malformed(`layer '${node.name}': weights must be ${sizeOf(entry.w.dims)} integers`);
    }
    const bits = fields.channelBits as unknown;
    if (bits !== undefined && (!(bits instanceof Uint8Array) || bits.length !== entry.w.dims.at(-1) || fields.op !== 'Gemm' || bits.some((e) => e > 30))) {
      malformed(`layer '${node.name}': per-channel scale bits must be one small integer per output feature of a Gemm`);
    }
    const bias = entry.bias === undefined ? undefined : floats(blobs, entry.bias, `layer '${node.name}' bias`);
    if (bias !== undefined && !bias.every((b) => Number.isSafeInteger(b) && Math.abs(b) <= fields.maxAbsBias)) malformed(`layer '${node.name}': bias is not integers within |b̃| ≤ ${fields.maxAbsBias}`);
    // The weight dims of the LinearSpec are the stored weights' (artifacts of version 1 written before it had them included).
    const layer = { ...fields, wDims: [...entry.w.dims], node, w: lazyWeights(entry.w.dims, wView, fields, node.name) } as QuantizedLayer;
    return bias === undefined ? layer : { ...layer, bias };
  });
  if (!Number.isFinite(h.margin) || h.margin <= 0) malformed('invalid margin');
  return { quantized: { graph, layers, byNode: new Map(layers.map((l) => [l.name, l])), margin: h.margin }, meta: h.meta };
}

/**
 * A weight tensor whose float64 values are made from the stored integers on first use, checked
 * against the header's Σ|w̃| (the exactness bound relies on it); until then only the compact
 * integers are held (and hashed into the model identity without decoding).
 */
function lazyWeights(dims: readonly number[], stored: StoredIntegers, layer: Pick<QuantizedLayer, 'op' | 'weightRowL1'>, name: string): Tensor & IntegerBacked {
  let source: StoredIntegers | undefined = stored;
  let data: Float64Array | undefined;
  return {
    dims: [...dims],
    // What the model identity hashes (content-hash.ts): the integers exactly as decoding will read them.
    storedIntegers: () => source,
    get data(): Float64Array {
      if (data === undefined) {
        const values = new Float64Array(source!); // converting constructor: a native loop, not an iterator
        const l1 = rowL1({ dims, data: values }, layer.op);
        if (l1 !== layer.weightRowL1) throw new MalformedModelError(`the artifact's weights have Σ|w̃| = ${l1}, its header claims ${layer.weightRowL1}`, { layer: name });
        data = values;
        source = undefined; // the blob section can be freed once every layer is decoded
      }
      return data;
    },
  };
}
