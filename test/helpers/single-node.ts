/**
 * Test helper: builds a one-node ONNX model in memory (src/onnx/single-node.ts), runs it with
 * onnxruntime-node on the CPU and returns its outputs as float64 Tensors. ORT computes in float32,
 * so compare with a relative tolerance around 1e-5. Also exports float32-rounded random tensors and
 * a tolerance assertion for comparing against ORT (and re-exports the seeded PRNG of random.ts).
 */
import * as ort from 'onnxruntime-node';
import type { OnnxAttrValue } from '../../src/onnx/build.js';
import { singleNodeModel } from '../../src/onnx/single-node.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
export { rng } from './random.js';

export type NodeInputDtype = 'float' | 'int64';

/** One node input; `tensor: null` leaves an optional input out (empty name in the node). */
export interface NodeInput {
  readonly name: string;
  readonly tensor: Tensor | null;
  readonly dtype?: NodeInputDtype;
}

/** The model of `runSingleNode`: typed inputs, untyped outputs (ORT infers them: float data, or int64 for e.g. MaxPool indices). */
function nodeModel(op: string, inputs: readonly NodeInput[], attrs: Readonly<Record<string, OnnxAttrValue>>, outputCount: number, opset: number): Uint8Array {
  return singleNodeModel({
    op,
    inputs: inputs.map((i) => (i.tensor === null ? null : { name: i.name, elemType: i.dtype ?? 'float', dims: i.tensor.dims })),
    outputs: Array.from({ length: outputCount }, (_, i) => ({ name: `out${i}`, elemType: 'inferred' as const })),
    attrs,
    opset,
    producer: 'slalom-test',
  });
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
  attrs: Readonly<Record<string, OnnxAttrValue>> = {},
  outputCount = 1,
  opset = 13,
): Promise<Tensor[]> {
  const bytes = nodeModel(op, inputs, attrs, outputCount, opset);
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
