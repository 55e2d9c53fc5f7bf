/**
 * Test helper: builds a one-node ONNX model in memory (ir_version 8, default opset 13), runs it
 * with onnxruntime-node on the CPU and returns its outputs as float64 Tensors. ORT computes in
 * float32, so compare with a relative tolerance around 1e-5. Also exports a seeded PRNG,
 * float32-rounded random tensors and a tolerance assertion for comparing against ORT.
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
  if ('f' in value) return create(AttributeProtoSchema, { name, type: T.FLOAT, f: value.f });
  if ('floats' in value) return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: [...value.floats] });
  const list: readonly number[] = value;
  return list.every((v) => Number.isInteger(v))
    ? create(AttributeProtoSchema, { name, type: T.INTS, ints: list.map((v) => BigInt(v)) })
    : create(AttributeProtoSchema, { name, type: T.FLOATS, floats: [...list] });
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

/** Node input names: '' for an omitted optional input, trailing omitted ones dropped altogether. */
function nodeInputNames(inputs: readonly NodeInput[]): string[] {
  const names = inputs.map((i) => (i.tensor === null ? '' : i.name));
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  return names;
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
    input: nodeInputNames(inputs),
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

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** An integral double as int64, saturating so that ±2^63 stand for INT64 max/min sentinels. */
function toInt64(v: number): bigint {
  if (!Number.isInteger(v)) throw new Error(`int64 input value ${v} is not an integer`);
  if (v >= 2 ** 63) return INT64_MAX;
  if (v <= -(2 ** 63)) return INT64_MIN;
  return BigInt(v);
}

function toOrt(input: NodeInput): ort.Tensor {
  const t = input.tensor!;
  const dims = [...t.dims];
  if (input.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data, toInt64), dims);
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
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 4, // expected failures and shape-inference warnings stay quiet
  });
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

/** A small deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tensor of uniform values in [lo, hi), already rounded to float32 so that the float64 kernel and
 * ORT see the same inputs.
 */
export function randomTensor(dims: readonly number[], random: () => number, lo = -3, hi = 3): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * random();
  return tensor(dims, Float64Array.from(data));
}

/** Asserts equal dims and |actual − expected| ≤ atol + rtol·|expected| element-wise. */
export function assertClose(actual: Tensor, expected: Tensor, rtol = 1e-5, atol = 1e-6, label = ''): void {
  const where = label === '' ? '' : `${label}: `;
  if (actual.dims.length !== expected.dims.length || actual.dims.some((d, i) => d !== expected.dims[i])) {
    throw new Error(`${where}dims [${actual.dims.join(', ')}] ≠ expected [${expected.dims.join(', ')}]`);
  }
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${where}element ${i}: got ${a}, expected ${e} (dims [${expected.dims.join(', ')}])`);
    }
  }
}
