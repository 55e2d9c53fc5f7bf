/**
 * The ONNX model builder, below every layer that writes ONNX (kernels' single-node sessions, the
 * model zoo, the model-repository exporter, tests): declare inputs, outputs, initializers, nodes and
 * metadata, get ModelProto bytes (ir_version 8, default opset 13). single-node.ts is the one-node
 * shorthand. Reading ONNX is graph/onnx/'s job.
 *
 * Initializers are stored as little-endian `raw_data`. `toBytes()` writes the protobuf itself around the
 * initializer payloads (one allocation of the final size, one copy of each weight array), because the
 * generic encoder would copy a 500 MB model several times; the small parts (nodes, value infos, tensor
 * headers) still go through `@bufbuild/protobuf`. Protobuf allows fields in any order, so the result
 * decodes like any other ModelProto.
 */

import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { InvalidArgumentError } from '../errors.js';
import { joinArrays } from '../tensor/join.js';

/** Element types the builder can declare on inputs and outputs. */
export type OnnxElemType = 'float' | 'double' | 'int64' | 'uint8' | 'int8' | 'int32';

/** An output's declared type: an element type, or `'inferred'` (no type: onnxruntime infers it, e.g. MaxPool's int64 indices). */
export type OnnxOutputType = OnnxElemType | 'inferred';

/** Typed arrays accepted as tensor data; the ONNX data type follows from the array type. */
export type OnnxTensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/**
 * An attribute value. Plain numbers: an integer becomes INT, anything else FLOAT; a number[] of
 * integers becomes INTS, otherwise FLOATS. The wrapped forms force a kind (`{ float: 1 }` is FLOAT 1.0).
 * A typed array is a 1-D tensor attribute; `{ tensor, dims }` a tensor of any shape (Constant's `value`).
 */
export type OnnxAttrValue =
  | number
  | readonly number[]
  | string
  | OnnxTensorData
  | { readonly tensor: OnnxTensorData; readonly dims: readonly number[] }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly float: number }
  | { readonly int: number };

export interface OnnxBuilderOptions {
  /** Default-domain opset version (default 13). */
  opset?: number;
  /** `producer_name` (default "slalom"). */
  producer?: string;
}

const ELEM_TYPES: Record<OnnxElemType, TensorProto_DataType> = {
  float: TensorProto_DataType.FLOAT,
  double: TensorProto_DataType.DOUBLE,
  int64: TensorProto_DataType.INT64,
  uint8: TensorProto_DataType.UINT8,
  int8: TensorProto_DataType.INT8,
  int32: TensorProto_DataType.INT32,
};

const IR_VERSION = 8n;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();

function dataTypeOf(data: OnnxTensorData): TensorProto_DataType {
  if (data instanceof Float32Array) return TensorProto_DataType.FLOAT;
  if (data instanceof Float64Array) return TensorProto_DataType.DOUBLE;
  if (data instanceof BigInt64Array) return TensorProto_DataType.INT64;
  if (data instanceof Int32Array) return TensorProto_DataType.INT32;
  if (data instanceof Uint8Array) return TensorProto_DataType.UINT8;
  if (data instanceof Int8Array) return TensorProto_DataType.INT8;
  throw new InvalidArgumentError('tensor data must be a Float32/Float64/BigInt64/Int32/Uint8/Int8 array');
}

/** The little-endian bytes of `data`: a view on it where the platform is little-endian, else a copy. */
function littleEndianBytes(data: OnnxTensorData): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(data.byteLength);
  const w = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < out.length; i += w) for (let j = 0; j < w; j++) out[i + j] = view[i + w - 1 - j]!;
  return out;
}

function checkDims(dims: readonly number[], what: string): void {
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new InvalidArgumentError(`${what}: bad dimension ${d}`);
  }
}

function checkTensor(name: string, dims: readonly number[], data: OnnxTensorData): void {
  checkDims(dims, name);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new InvalidArgumentError(`${name}: dims [${dims.join(', ')}] hold ${size} values, data has ${data.length}`);
  }
}

/** A TensorProto header (no data) for `name`, `dims`, and the data type of `data`. */
function tensorHeader(name: string, dims: readonly number[], data: OnnxTensorData): TensorProto {
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: dataTypeOf(data) });
}

function valueInfo(name: string, dims: readonly (number | string)[] | undefined, elemType: OnnxOutputType): ValueInfoProto {
  if (elemType === 'inferred') return create(ValueInfoProtoSchema, { name });
  const shape =
    dims === undefined
      ? undefined
      : create(TensorShapeProtoSchema, {
          dim: dims.map((d) =>
            create(TensorShapeProto_DimensionSchema, {
              value: typeof d === 'string' ? { case: 'dimParam', value: d } : { case: 'dimValue', value: BigInt(d) },
            }),
          ),
        });
  const tensorType = create(TypeProto_TensorSchema, { elemType: ELEM_TYPES[elemType], ...(shape ? { shape } : {}) });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

function isNumberList(v: unknown): v is readonly number[] {
  return Array.isArray(v);
}

function isTensorData(v: unknown): v is OnnxTensorData {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function attribute(name: string, v: OnnxAttrValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  const make = (fields: MessageInitShape<typeof AttributeProtoSchema>): AttributeProto => create(AttributeProtoSchema, { name, ...fields });
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidArgumentError(`attribute ${name}: ${v} is not finite`);
    return Number.isInteger(v) ? make({ type: T.INT, i: BigInt(v) }) : make({ type: T.FLOAT, f: v });
  }
  if (typeof v === 'string') return make({ type: T.STRING, s: utf8.encode(v) });
  if (isNumberList(v)) {
    return v.every(Number.isInteger)
      ? make({ type: T.INTS, ints: v.map(BigInt) })
      : make({ type: T.FLOATS, floats: v.slice() });
  }
  if (isTensorData(v)) return attribute(name, { tensor: v, dims: [v.length] });
  if ('tensor' in v) {
    checkTensor(`attribute ${name}`, v.dims, v.tensor);
    const t = tensorHeader('', v.dims, v.tensor);
    t.rawData = littleEndianBytes(v.tensor).slice();
    return make({ type: T.TENSOR, t });
  }
  if ('ints' in v) {
    if (!v.ints.every(Number.isSafeInteger)) throw new InvalidArgumentError(`attribute ${name}: ints must be integers`);
    return make({ type: T.INTS, ints: v.ints.map(BigInt) });
  }
  if ('floats' in v) return make({ type: T.FLOATS, floats: v.floats.slice() });
  if ('float' in v) return make({ type: T.FLOAT, f: v.float });
  if ('int' in v) {
    if (!Number.isSafeInteger(v.int)) throw new InvalidArgumentError(`attribute ${name}: ${v.int} is not an integer`);
    return make({ type: T.INT, i: BigInt(v.int) });
  }
  throw new InvalidArgumentError(`attribute ${name}: unsupported value`);
}

/** Appends the protobuf varint encoding of a non-negative safe integer. */
function pushVarint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/** Tag + length prefix of a length-delimited field. */
function lenPrefix(field: number, length: number): Uint8Array {
  const out: number[] = [];
  pushVarint(out, (field << 3) | 2);
  pushVarint(out, length);
  return Uint8Array.from(out);
}

const GRAPH_FIELD_INITIALIZER = 5;
const MODEL_FIELD_GRAPH = 7;
const TENSOR_FIELD_RAW_DATA = 9;

interface Initializer {
  header: Uint8Array;
  raw: Uint8Array;
}

/** Builds one ONNX model; every method but `toBytes` and `uniqueName` returns `this` for chaining. */
export class OnnxBuilder {
  readonly graphName: string;
  readonly opset: number;
  readonly producer: string;
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly inits: Initializer[] = [];
  private readonly initNames = new Set<string>();
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly metadataProps: { key: string; value: string }[] = [];

  constructor(graphName: string, opts: OnnxBuilderOptions = {}) {
    this.graphName = graphName;
    this.opset = opts.opset ?? 13;
    this.producer = opts.producer ?? 'slalom';
    if (!Number.isSafeInteger(this.opset) || this.opset < 1) throw new InvalidArgumentError(`bad opset ${this.opset}`);
  }

  /** Declares a graph input; a string dimension is a symbolic `dim_param`. */
  input(name: string, dims: readonly (number | string)[], elemType: OnnxElemType = 'float'): this {
    checkDims(dims.filter((d): d is number => typeof d === 'number'), name);
    this.inputs.push(valueInfo(name, dims, elemType));
    this.used.add(name);
    return this;
  }

  /** Declares a graph output; without `dims` the output has a type but no shape ('inferred': no type either). */
  output(name: string, dims?: readonly (number | string)[], elemType: OnnxOutputType = 'float'): this {
    if (dims) checkDims(dims.filter((d): d is number => typeof d === 'number'), name);
    this.outputs.push(valueInfo(name, dims, elemType));
    return this;
  }

  /** Adds a constant weight tensor; `data` is kept by reference until `toBytes()`. */
  initializer(name: string, dims: readonly number[], data: OnnxTensorData): this {
    checkTensor(name, dims, data);
    if (this.initNames.has(name)) throw new InvalidArgumentError(`initializer ${name} declared twice`);
    this.initNames.add(name);
    this.used.add(name);
    this.inits.push({ header: toBinary(TensorProtoSchema, tensorHeader(name, dims, data)), raw: littleEndianBytes(data) });
    return this;
  }

  /** Adds a node of the default domain; `name` defaults to a fresh `<op>_<n>`. An empty input name skips an optional input. */
  node(op: string, inputs: readonly string[], outputs: readonly string[], attrs: Readonly<Record<string, OnnxAttrValue>> = {}, name?: string): this {
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    for (const o of outputs) this.used.add(o);
    const nodeName = name ?? this.uniqueName(op);
    this.used.add(nodeName);
    this.nodes.push(create(NodeProtoSchema, { opType: op, name: nodeName, input: [...inputs], output: [...outputs], attribute: attribute_ }));
    return this;
  }

  /** A `Constant` node producing `name` from `data` with shape `dims`. */
  constant(name: string, dims: readonly number[], data: OnnxTensorData): this {
    return this.node('Constant', [], [name], { value: { tensor: data, dims } });
  }

  /** `<prefix>_<n>` with the smallest n ≥ 0 not yet used by any input, initializer, node or node output. */
  uniqueName(prefix: string): string {
    let n = this.counters.get(prefix) ?? 0;
    let name = `${prefix}_${n}`;
    while (this.used.has(name)) name = `${prefix}_${++n}`;
    this.counters.set(prefix, n + 1);
    this.used.add(name);
    return name;
  }

  /** Adds a `metadata_props` entry (e.g. the exporter's layer description). */
  metadata(key: string, value: string): this {
    this.metadataProps.push({ key, value });
    return this;
  }

  /** The ModelProto bytes (metadata last). */
  toBytes(): Uint8Array {
    const graphHead = toBinary(
      GraphProtoSchema,
      create(GraphProtoSchema, { name: this.graphName, node: this.nodes, input: this.inputs, output: this.outputs }),
    );
    const modelHead = toBinary(
      ModelProtoSchema,
      create(ModelProtoSchema, {
        irVersion: IR_VERSION,
        producerName: this.producer,
        opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(this.opset) })],
      }),
    );
    const parts: Uint8Array[] = [graphHead];
    for (const { header, raw } of this.inits) {
      const rawPrefix = lenPrefix(TENSOR_FIELD_RAW_DATA, raw.length);
      parts.push(lenPrefix(GRAPH_FIELD_INITIALIZER, header.length + rawPrefix.length + raw.length), header, rawPrefix, raw);
    }
    const graphLength = parts.reduce((a, p) => a + p.length, 0);
    parts.unshift(modelHead, lenPrefix(MODEL_FIELD_GRAPH, graphLength));
    if (this.metadataProps.length > 0) {
      // A repeated field after the graph: protobuf merges it wherever it stands.
      parts.push(toBinary(ModelProtoSchema, create(ModelProtoSchema, { metadataProps: this.metadataProps.map((e) => create(StringStringEntryProtoSchema, e)) })));
    }
    return joinArrays(parts);
  }
}
