/**
 * `inspect`: the per-layer table of a loaded model — op, shapes, MACs, parameters, quantization
 * scales and whether the layer is outsourced (linear) or stays in the trusted runtime — and totals.
 */
import { P } from '../field/prime.js';
import { OPS } from '../graph/ops/registry.js';
import type { SlalomModel } from '../runtime/model.js';
import { sizeOf } from '../tensor/tensor.js';
import { linearMap, type LinearMap } from '../verify/linear-map.js';
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
}

export interface InspectOptions {
  readonly variant?: CheckVariant;
  readonly repetitions?: number;
  readonly soundnessBits?: number;
}

/** Multiplications of one repetition of a check (DESIGN.md §3, Table 2 of the paper). */
function checkCost(variant: CheckVariant, map: LinearMap, batch: number): number {
  const { g } = map;
  const pixels = g.oh * g.ow;
  const collapsedConv = pixels * g.c * g.kH * g.kW * 2; // limb-split single-output conv (2 limbs)
  const weights = sizeOf(map.w.dims);
  if (variant === 'preprocessed') return batch * (map.inSize + map.outSize + pixels);
  if (variant === 'batched') return batch * (map.inSize + map.outSize) + weights + collapsedConv + pixels * g.m;
  return batch * (map.outSize + collapsedConv) + weights;
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
    const params = node.inputs.slice(1).reduce((s, n) => s + (graph.constants.has(n) ? sizeOf(graph.constants.get(n)!.dims) : 0), 0);
    if (q === undefined || OPS[node.op]!.kind !== 'linear') {
      return { name: node.name, op: node.op, placement: 'trusted' as const, inputDims, outputDims, macs: 0, params };
    }
    const exactnessUse = (q.weightRowL1 * (P - 1) + q.maxAbsBias) / Number.MAX_SAFE_INTEGER;
    const checkMults = k * checkCost(variant, linearMap(q), q.inDims[0]!);
    return { name: node.name, op: node.op, placement: 'outsourced' as const, inputDims, outputDims, macs: q.macs, params, lx: q.lx, lw: q.lw, exactnessUse, checkMults };
  });
  const linear = model.quantized.layers;
  return {
    model: model.name,
    modelHash: model.modelHash,
    inputDims: model.inputDims,
    linearLayers: linear.length,
    macs: linear.reduce((s, l) => s + l.macs, 0),
    params: layers.reduce((s, l) => s + l.params, 0),
    linearInputElements: linear.reduce((s, l) => s + sizeOf(l.inDims), 0),
    linearOutputElements: linear.reduce((s, l) => s + sizeOf(l.outDims), 0),
    verification: { variant, repetitions: k, checkMults: layers.reduce((s, l) => s + (l.checkMults ?? 0), 0) },
    soundnessLog2PerInference: log2ErrorPerInference(variant, P, linearCount, k),
    layers,
  };
}
