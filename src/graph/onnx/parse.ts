/**
 * Decodes ONNX bytes (protobuf, through onnx-buf) into a RawModel: nodes with decoded attributes and
 * initializers as Float64 tensors. Interprets nothing: that is import.ts's job. Every malformed
 * input becomes a MalformedModelError or UnsupportedModelError naming what is wrong.
 */
import { fromBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType,
  ModelProtoSchema,
  TensorProto_DataType as DataType,
  type AttributeProto,
  type ModelProto,
  type TensorProto,
} from 'onnx-buf';
import { MalformedModelError, UnsupportedModelError } from '../../errors.js';
import { sizeOf, type Tensor } from '../../tensor/tensor.js';
import type { AttrValue, DeclaredInput, RawModel, RawNode } from '../ir.js';

const utf8 = new TextDecoder();

export function parseOnnx(bytes: Uint8Array): RawModel {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (cause) {
    throw new MalformedModelError(`not a valid ONNX file (${(cause as Error).message})`, { cause });
  }
  const graph = model.graph;
  if (graph === undefined || graph.node.length === 0) throw new MalformedModelError('the ONNX file has no graph or no nodes');
  const defaultDomain = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  const opset = defaultDomain === undefined ? 13 : Number(defaultDomain.version);

  const initializers = new Map<string, Tensor>();
  for (const t of graph.initializer) {
    // Named by the node that reads it, so that a malformed weight points at its layer.
    const user = graph.node.findIndex((n) => n.input.includes(t.name));
    const of = user < 0 ? '' : ` of node '${graph.node[user]!.name || `${graph.node[user]!.opType}_${user}`}' (${graph.node[user]!.opType})`;
    initializers.set(t.name, decodeTensor(t, `initializer '${t.name}'${of}`));
  }

  const inputs: DeclaredInput[] = [];
  for (const vi of graph.input) {
    if (initializers.has(vi.name)) continue;
    const type = vi.type?.value;
    if (type?.case !== 'tensorType') throw new UnsupportedModelError(`input '${vi.name}' is not a tensor`);
    const dims = (type.value.shape?.dim ?? []).map((d, i) => {
      if (d.value.case === 'dimParam') return d.value.value;
      if (d.value.case !== 'dimValue') return `${vi.name}_dim${i}`;
      // A negative or unrepresentable size is a broken model, not a symbolic one.
      const size = Number(d.value.value);
      if (size < 0 || !Number.isSafeInteger(size)) throw new MalformedModelError(`input '${vi.name}' declares the impossible size ${d.value.value} at axis ${i}`);
      return size;
    });
    inputs.push({ name: vi.name, dims });
  }
  if (inputs.length === 0) throw new MalformedModelError('the graph has no non-constant input');
  if (graph.output.length === 0) throw new MalformedModelError('the graph declares no outputs');

  const nodes: RawNode[] = graph.node.map((n, i) => {
    const name = n.name !== '' ? n.name : `${n.opType}_${i}`;
    const attrs: Record<string, AttrValue> = {};
    for (const a of n.attribute) attrs[a.name] = decodeAttribute(a, `node '${name}' (${n.opType}) attribute '${a.name}'`);
    return { name, op: n.opType, domain: n.domain, inputs: [...n.input], outputs: [...n.output], attrs };
  });

  return { name: graph.name || 'model', opset, inputs, outputs: graph.output.map((o) => o.name), nodes, initializers };
}

function decodeAttribute(a: AttributeProto, where: string): AttrValue {
  switch (a.type) {
    case AttrType.FLOAT:
      return a.f;
    case AttrType.INT:
      return Number(a.i);
    case AttrType.STRING:
      return utf8.decode(a.s);
    case AttrType.FLOATS:
      return [...a.floats];
    case AttrType.INTS:
      return a.ints.map(Number);
    case AttrType.STRINGS:
      return a.strings.map((s) => utf8.decode(s));
    case AttrType.TENSOR:
      if (a.t === undefined) throw new MalformedModelError(`${where}: tensor attribute without a tensor`);
      return decodeTensor(a.t, where);
    default:
      throw new UnsupportedModelError(`${where}: attribute type ${AttrType[a.type] ?? a.type} is not supported`);
  }
}

/** Decodes a TensorProto into doubles (int64 values beyond 2^53 lose precision; they only appear as slice sentinels). */
export function decodeTensor(t: TensorProto, where: string): Tensor {
  const dims = t.dims.map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new MalformedModelError(`${where}: invalid dims [${dims.join(', ')}]`);
  if (t.dataLocation === 1) throw new UnsupportedModelError(`${where}: external tensor data is not supported (save the model with weights embedded)`);
  // The data present is checked against the dims before anything is sized from them (dims of 10^12
  // with no data must be a malformed model, not an allocation failure).
  const n = sizeOf(dims);
  const raw = t.rawData;
  if (raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = RAW_WIDTH[t.dataType];
    if (width === undefined) throw new UnsupportedModelError(`${where}: data type ${DataType[t.dataType] ?? t.dataType} is not supported`);
    if (raw.byteLength !== n * width) {
      throw new MalformedModelError(`${where}: raw data holds ${raw.byteLength} bytes, shape [${dims.join(', ')}] needs ${n * width}`);
    }
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = readRaw(view, t.dataType, i * width);
    return { dims, data: out };
  }
  const values: ArrayLike<number | bigint> = pickTypedField(t, where);
  if (values.length !== n) throw new MalformedModelError(`${where}: holds ${values.length} values, shape [${dims.join(', ')}] needs ${n}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(values[i]);
  return { dims, data: out };
}

const RAW_WIDTH: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.DOUBLE]: 8,
  [DataType.INT64]: 8,
  [DataType.INT32]: 4,
  [DataType.INT16]: 2,
  [DataType.UINT16]: 2,
  [DataType.INT8]: 1,
  [DataType.UINT8]: 1,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
};

function readRaw(view: DataView, type: number, offset: number): number {
  switch (type) {
    case DataType.FLOAT:
      return view.getFloat32(offset, true);
    case DataType.DOUBLE:
      return view.getFloat64(offset, true);
    case DataType.INT64:
      return Number(view.getBigInt64(offset, true));
    case DataType.INT32:
      return view.getInt32(offset, true);
    case DataType.INT16:
      return view.getInt16(offset, true);
    case DataType.UINT16:
      return view.getUint16(offset, true);
    case DataType.INT8:
      return view.getInt8(offset);
    case DataType.FLOAT16:
      return halfToFloat(view.getUint16(offset, true));
    default:
      return view.getUint8(offset);
  }
}

function pickTypedField(t: TensorProto, where: string): ArrayLike<number | bigint> {
  switch (t.dataType) {
    case DataType.FLOAT:
      return t.floatData;
    case DataType.DOUBLE:
      return t.doubleData;
    case DataType.INT64:
      return t.int64Data;
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT16:
    case DataType.UINT8:
    case DataType.BOOL:
      return t.int32Data;
    case DataType.FLOAT16:
      return t.int32Data.map(halfToFloat);
    default:
      throw new UnsupportedModelError(`${where}: data type ${DataType[t.dataType] ?? t.dataType} is not supported`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
