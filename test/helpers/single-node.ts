/**
 * Test helper: builds a one-node ONNX model in memory (ir_version 8, default opset 13), runs it
 * with onnxruntime-node on the CPU and returns its outputs as float64 Tensors. ORT computes in
 * float32, so compare with a relative tolerance around 1e-5.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';

export type NodeInputDtype = 'float' | 'int64';

/** One node input; `tensor: null` leaves an optional input out (empty name in the node). */
export interface NodeInput {
  readonly name: string;
  readonly tensor: Tensor | null;
  readonly dtype?: NodeInputDtype;
}

/** Forces a FLOAT attribute even for an integral value (plain integral numbers become INT). */
export interface FloatAttr {
  readonly f: number;
}

/**
 * Attribute values: integral number → INT, non-integral number or {f} → FLOAT, string → STRING,
 * number[] → INTS (or FLOATS when any element is non-integral), {floats} → FLOATS.
 */
export type AttrValue = number | string | readonly number[] | FloatAttr | { readonly floats: readonly number[] };

function attribute(name: string, value: AttrValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(value) });
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(value) })
      : create(AttributeProtoSchema, { name, type: T.FLOAT, f: value });
  }
  if (Array.isArray(value)) {
    const list = value as readonly number[];
    return list.every(Number.isInteger)
      ? create(AttributeProtoSchema, { name, type: T.INTS, ints: list.map((v) => BigInt(v)) })
      : create(AttributeProtoSchema, { name, type: T.FLOATS, floats: [...list] });
  }
  if ('f' in value) return create(AttributeProtoSchema, { name, type: T.FLOAT, f: value.f });
  return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: [...value.floats] });
}

function valueInfo(name: string, elemType: TensorProto_DataType, dims?: readonly number[]): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, {
    elemType,
    ...(dims !== undefined ? { shape: { dim: dims.map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } })) } } : {}),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

/** Serializes a single-node model; exported for tests that want to inspect or reuse it. */
export function singleNodeModel(
  op: string,
  inputs: readonly NodeInput[],
  attrs: Readonly<Record<string, AttrValue>>,
  outputCount = 1,
  opset = 13,
): Uint8Array {
  const outputs = Array.from({ length: outputCount }, (_, i) => `out${i}`);
  const present = inputs.filter((i) => i.tensor !== null);
  const node = create(NodeProtoSchema, {
    opType: op,
    name: `${op}_0`,
    input: inputs.map((i) => (i.tensor === null ? '' : i.name)),
    output: outputs,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  });
  const graph = create(GraphProtoSchema, {
    name: `single_${op}`,
    node: [node],
    input: present.map((i) =>
      valueInfo(i.name, i.dtype === 'int64' ? TensorProto_DataType.INT64 : TensorProto_DataType.FLOAT, i.tensor!.dims),
    ),
    // Outputs are left untyped: ORT infers them (float data, or int64 for e.g. MaxPool indices).
    output: outputs.map((name) => create(ValueInfoProtoSchema, { name })),
  });
  const model = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'slalom-test',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    graph,
  });
  return toBinary(ModelProtoSchema, model);
}

function toOrt(input: NodeInput): ort.Tensor {
  const t = input.tensor!;
  const dims = [...t.dims];
  if (input.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), dims);
  return new ort.Tensor('float32', Float32Array.from(t.data), dims);
}

/** The float32 rounding of a tensor: what ORT actually sees as input. */
export function roundToFloat32(t: Tensor): Tensor {
  return tensor(t.dims, Float64Array.from(Float32Array.from(t.data)));
}

/**
 * Runs `op` once on the given inputs with onnxruntime-node and returns its outputs (float or int64
 * outputs, converted to float64 Tensors). Rejects with ORT's error when the model is invalid.
 */
export async function runSingleNode(
  op: string,
  inputs: readonly NodeInput[],
  attrs: Readonly<Record<string, AttrValue>> = {},
  outputCount = 1,
  opset = 13,
): Promise<Tensor[]> {
  const bytes = singleNodeModel(op, inputs, attrs, outputCount, opset);
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of inputs) if (i.tensor !== null) feeds[i.name] = toOrt(i);
    const result = await session.run(feeds);
    return session.outputNames.map((name) => {
      const out = result[name]!;
      const dims = out.dims.map(Number);
      const data = out.data;
      if (data instanceof BigInt64Array) return tensor(dims, Float64Array.from(data, (v) => Number(v)));
      if (data instanceof Float32Array || data instanceof Float64Array) return tensor(dims, Float64Array.from(data));
      throw new Error(`unexpected ORT output type ${out.type}`);
    });
  } finally {
    await session.release();
  }
}
