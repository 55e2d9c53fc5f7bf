/**
 * Calibration (docs/design.md §2): runs the float reference on calibration inputs and records, for every
 * linear layer, the largest |input| and |output| it saw. quantize-graph.ts turns these into
 * per-layer scales with a safety margin. The reference is the caller's (the runtime passes
 * onnxruntime fp32, reference/ort-session.ts), so quantization itself never loads a float engine.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { zeroInsertSource } from '../graph/ops/conv-transpose.js';
import { isTokenRowLayer, onnxSourceOf, onnxValueOf } from '../graph/onnx-values.js';
import { isLinear } from '../graph/ops/registry.js';
import type { Tensor } from '../tensor/tensor.js';

export interface LayerStats {
  readonly maxAbsIn: number;
  readonly maxAbsOut: number;
  /** A linear layer over token rows: the largest |output| of each output feature (for per-channel weight scales). */
  readonly maxAbsOutPerChannel?: Float64Array;
}

export type CalibrationStats = ReadonlyMap<string, LayerStats>;

/** A float session returning, besides the model outputs, the values named by `extraOutputs` (by their ONNX names). */
export interface FloatReference {
  run(inputs: readonly Tensor[]): Promise<ReadonlyMap<string, Tensor>>;
  close(): Promise<void>;
}

/** Opens the float reference of the model being calibrated, asked for the given intermediate values. */
export type OpenFloatReference = (extraOutputs: readonly string[]) => Promise<FloatReference>;

export interface CalibrateOptions {
  /** Called after each sample. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * @param openReference the float model `graph` was imported from
 * @param samples one entry per calibration sample: a tensor for each graph input, in graph order
 */
export async function calibrate(openReference: OpenFloatReference, graph: Graph, samples: readonly (readonly Tensor[])[], options: CalibrateOptions = {}): Promise<CalibrationStats> {
  if (samples.length === 0) throw new InvalidArgumentError('calibration needs at least one input');
  const linear = graph.nodes.filter((n) => isLinear(n.op));
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  // A ConvTranspose's Conv reads a zero-inserted tensor the ONNX model does not have: observe its
  // source. A Gemm over token rows reads and writes reshaped views of the ONNX MatMul's input and
  // output (the same values): observe those.
  const observed = new Map(linear.map((n) => [n.name, zeroInsertSource(graph, onnxSourceOf(graph, n.inputs[0]!))]));
  const observedOut = new Map(linear.map((n) => [n.name, onnxValueOf(graph, n.outputs[0]!)]));
  const wanted = [...new Set(linear.flatMap((n) => [observed.get(n.name)!, observedOut.get(n.name)!]))].filter((n) => !inputNames.has(n));
  const session = await openReference(wanted);
  const maxAbs = new Map<string, number>();
  // Per output feature (the last axis) for the layers that get per-channel weight scales.
  const perChannel = new Map<string, Float64Array>();
  for (const n of linear) if (isTokenRowLayer(graph, n)) perChannel.set(observedOut.get(n.name)!, new Float64Array(graph.dims.get(n.outputs[0]!)!.at(-1)!));
  const recordChannels = (name: string, t: Tensor): void => {
    const m = perChannel.get(name);
    if (m === undefined) return;
    const n = m.length;
    for (let i = 0; i < t.data.length; i++) {
      const v = Math.abs(t.data[i]!);
      if (v > m[i % n]!) m[i % n] = v;
    }
  };
  const record = (name: string, t: Tensor): void => {
    let m = maxAbs.get(name) ?? 0;
    for (let i = 0; i < t.data.length; i++) {
      const v = Math.abs(t.data[i]!);
      if (v > m) m = v;
    }
    maxAbs.set(name, m);
  };
  try {
    for (let k = 0; k < samples.length; k++) {
      const sample = samples[k]!;
      if (sample.length !== graph.inputs.length) throw new InvalidArgumentError(`calibration sample ${k} has ${sample.length} input(s), the model takes ${graph.inputs.length}`);
      const values = await session.run(sample);
      graph.inputs.forEach((input, i) => record(input.name, sample[i]!));
      for (const name of wanted) {
        record(name, values.get(name)!);
        recordChannels(name, values.get(name)!);
      }
      options.onProgress?.(k + 1, samples.length);
    }
  } finally {
    await session.close();
  }
  for (const [name, m] of maxAbs) {
    if (!Number.isFinite(m)) throw new InvalidArgumentError(`calibration produced a non-finite value at '${name}'`);
  }
  return new Map(
    linear.map((n) => {
      const channels = perChannel.get(observedOut.get(n.name)!);
      return [n.name, { maxAbsIn: maxAbs.get(observed.get(n.name)!)!, maxAbsOut: maxAbs.get(observedOut.get(n.name)!)!, ...(channels !== undefined ? { maxAbsOutPerChannel: channels } : {}) }];
    }),
  );
}

