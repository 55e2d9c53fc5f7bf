/**
 * `inspect`: the per-layer table of a loaded model — op, shapes, MACs, parameters, quantization
 * scales and whether the layer is outsourced (linear) or stays in the trusted runtime — and totals.
 */
import { P } from '../field/prime.js';
import { OPS } from '../graph/ops/registry.js';
import { boundaryImplementation, type BoundaryImplementation } from '../simd/boundary.js';
import type { SlalomModel } from '../runtime/model.js';
import { sizeOf } from '../tensor/tensor.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import { DEFAULT_SOUNDNESS_BITS, log2ErrorPerInference, repetitionsFor, type CheckVariant } from '../verify/soundness.js';

export interface LayerReport {
  readonly name: string;
  readonly op: string;
  readonly placement: 'outsourced' | 'trusted';
  readonly inputDims: readonly number[];
  readonly outputDims: readonly number[];
  readonly macs: number;
  readonly params: number;
  /** Input and weight scale bits (linear layers only). */
  readonly lx?: number;
  readonly lw?: number;
  /** Σ|w̃|·(p−1) + |b̃| as a fraction of 2^53 (linear layers only): the exactness headroom. */
  readonly exactnessUse?: number;
  /** Multiplications one Freivalds check of this layer costs the trusted runtime (all repetitions). */
  readonly checkMults?: number;
}

export interface InspectReport {
  readonly model: string;
  readonly modelHash: string;
  readonly weightsHash: string;
  /** Loaded from an ONNX file (calibrated on load) or a quantized artifact. */
  readonly format: 'onnx' | 'artifact';
  readonly calibration: { readonly source: string; readonly samples: number };
  readonly margin: number;
  /** Every input's dims (inputDims is the first's). */
  readonly inputs: readonly { readonly name: string; readonly dims: readonly number[] }[];
  readonly inputDims: readonly number[];
  readonly linearLayers: number;
  readonly macs: number;
  readonly params: number;
  readonly linearInputElements: number;
  readonly linearOutputElements: number;
  readonly verification: { readonly variant: CheckVariant; readonly repetitions: number; readonly checkMults: number };
  /** log2 of the probability that a wrong result passes one whole inference with these settings. */
  readonly soundnessLog2PerInference: number;
  readonly layers: readonly LayerReport[];
  /** What runs the trusted side's boundary pass in this process: wasm, native-avx512, native-avx2 or native-portable. */
  readonly boundary: BoundaryImplementation;
}

export interface InspectOptions {
  readonly variant?: CheckVariant;
  readonly repetitions?: number;
  readonly soundnessBits?: number;
}

/**
 * Multiplications of one repetition of a check (docs/design.md §3, Table 2 of the paper), from the
 * layer's shapes alone (an artifact's weights stay undecoded).
 */
function checkCost(variant: CheckVariant, q: QuantizedLayer): number {
  const batch = q.inDims[0]!;
  const conv = q.op === 'Conv';
  const pixels = conv ? q.outDims[2]! * q.outDims[3]! : 1;
  const channels = q.inDims[1]!;
  const taps = conv ? q.w.dims[2]! * q.w.dims[3]! : 1;
  const outChannels = q.outDims[1]!;
  const inSize = sizeOf(q.inDims) / batch;
  const outSize = sizeOf(q.outDims) / batch;
  const collapsedConv = pixels * channels * taps * 2; // limb-split single-output conv (2 limbs)
  const weights = sizeOf(q.w.dims);
  if (variant === 'preprocessed') return batch * (inSize + outSize + pixels);
  if (variant === 'batched') return batch * (inSize + outSize) + weights + collapsedConv + pixels * outChannels;
  return batch * (outSize + collapsedConv) + weights;
}

export function inspect(model: SlalomModel, options: InspectOptions = {}): InspectReport {
  const variant = options.variant ?? 'preprocessed';
  const linearCount = model.quantized.layers.length;
  const k = options.repetitions ?? repetitionsFor(variant, P, linearCount, options.soundnessBits ?? DEFAULT_SOUNDNESS_BITS);
  const { graph, byNode } = model.quantized;
  const layers: LayerReport[] = graph.nodes.map((node) => {
    const inputDims = graph.dims.get(node.inputs[0]!) ?? graph.constants.get(node.inputs[0]!)?.dims ?? [];
    const outputDims = graph.dims.get(node.outputs[0]!)!;
    const q = byNode.get(node.name);
    // A linear layer's weights are the integer ones (the graph keeps no float copy); other constants are the graph's.
    const params = q !== undefined ? sizeOf(q.w.dims) + (q.bias?.length ?? 0) : node.inputs.slice(1).reduce((s, n) => s + (graph.constants.has(n) ? sizeOf(graph.constants.get(n)!.dims) : 0), 0);
    if (q === undefined || OPS[node.op]!.kind !== 'linear') {
      return { name: node.name, op: node.op, placement: 'trusted' as const, inputDims, outputDims, macs: 0, params };
    }
    const exactnessUse = (q.weightRowL1 * (P - 1) + q.maxAbsBias) / Number.MAX_SAFE_INTEGER;
    const checkMults = k * checkCost(variant, q);
    return { name: node.name, op: node.op, placement: 'outsourced' as const, inputDims, outputDims, macs: q.macs, params, lx: q.lx, lw: q.lw, exactnessUse, checkMults };
  });
  const linear = model.quantized.layers;
  return {
    model: model.name,
    modelHash: model.modelHash,
    weightsHash: model.weightsHash,
    format: model.format,
    calibration: { source: model.provenance.calibration.source, samples: model.provenance.calibration.samples },
    margin: model.provenance.margin,
    inputs: model.inputs,
    inputDims: model.inputDims,
    linearLayers: linear.length,
    macs: linear.reduce((s, l) => s + l.macs, 0),
    params: layers.reduce((s, l) => s + l.params, 0),
    linearInputElements: linear.reduce((s, l) => s + sizeOf(l.inDims), 0),
    linearOutputElements: linear.reduce((s, l) => s + sizeOf(l.outDims), 0),
    verification: { variant, repetitions: k, checkMults: layers.reduce((s, l) => s + (l.checkMults ?? 0), 0) },
    soundnessLog2PerInference: log2ErrorPerInference(variant, P, linearCount, k),
    layers,
    boundary: boundaryImplementation(),
  };
}
