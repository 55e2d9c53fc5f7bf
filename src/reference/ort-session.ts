/**
 * The float reference: the original ONNX file run by onnxruntime-node in fp32 — what a user would
 * otherwise run inside the TEE, and the yardstick for `compare` and calibration. Intermediate values
 * (by their ONNX names, which the importer keeps) can be fetched by adding them as graph outputs.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import ort from 'onnxruntime-node';
import { MalformedModelError } from '../errors.js';
import { ortLogSeverity } from '../kernels/ort/env.js';
import { tensor, type Tensor } from '../tensor/tensor.js';

export interface ReferenceSession {
  readonly inputNames: readonly string[];
  /** Runs the model on float inputs; returns the requested values (model outputs first, then extras). */
  run(inputs: readonly Tensor[]): Promise<Map<string, Tensor>>;
  close(): Promise<void>;
}

export interface ReferenceOptions {
  /** Intermediate values to return besides the model outputs. */
  readonly extraOutputs?: readonly string[];
  /** onnxruntime intra-op threads (default 1: the TEE's core). */
  readonly threads?: number;
}

export async function createReferenceSession(onnxBytes: Uint8Array, options: ReferenceOptions = {}): Promise<ReferenceSession> {
  const bytes = options.extraOutputs?.length ? withExtraOutputs(onnxBytes, options.extraOutputs) : onnxBytes;
  const session = await openOrtSession(bytes, options.threads ?? 1);
  return {
    inputNames: session.inputNames,
    async run(inputs) {
      const feeds: Record<string, ort.Tensor> = {};
      session.inputNames.forEach((name, i) => {
        const t = inputs[i]!;
        feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data), [...t.dims]);
      });
      return outputsOf(session, await session.run(feeds));
    },
    close: () => session.release(),
  };
}

/** onnxruntime fp32 on `bytes`; a model it refuses is malformed, said in one line. */
export async function openOrtSession(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  const logSeverityLevel = ortLogSeverity(); // its own log lines stay off the user's terminal unless asked for
  try {
    return await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel });
  } catch (e) {
    // A model slalom's importer accepted but onnxruntime refuses: malformed, in one line (the message names the node).
    const why = String((e as Error)?.message ?? e).replace(/\s+/g, ' ').trim().slice(0, 400);
    throw new MalformedModelError(`onnxruntime refuses the model: ${why}`, { cause: e });
  }
}

/** A run's outputs by name, in the session's order, as float64 tensors. */
export function outputsOf(session: ort.InferenceSession, results: ort.InferenceSession.OnnxValueMapType): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const name of session.outputNames) {
    const r = results[name] as ort.Tensor;
    out.set(name, tensor(r.dims.map(Number), Float64Array.from(r.data as Float32Array)));
  }
  return out;
}

function withExtraOutputs(bytes: Uint8Array, names: readonly string[]): Uint8Array {
  const model = fromBinary(ModelProtoSchema, bytes);
  const graph = model.graph!;
  const existing = new Set(graph.output.map((o) => o.name));
  for (const name of names) {
    if (existing.has(name)) continue;
    existing.add(name);
    graph.output.push(
      create(ValueInfoProtoSchema, {
        name,
        type: create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType: 1 }) } }),
      }),
    );
  }
  return toBinary(ModelProtoSchema, model);
}
