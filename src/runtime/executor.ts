/**
 * The trusted runtime's inference loop: the graph executor with every linear layer replaced by
 * quantize → LinearProtocol → bias, overflow check, dequantize, where the protocol is the mode's
 * (protocols/trusted.ts for baseline, protocols/accelerated.ts for outsourced, verified, private and
 * private+verified: modes.ts). Without an observer of values, the fusion plan folds a following
 * clamp (ReLU), a plain 2×2 max-pool or a residual Add into the layer's requantization, and a layer
 * feeding the next linear layer directly hands it its input already quantized. Non-linear layers
 * run here in float on exactly dequantized values.
 */
import { execute } from '../graph/execute.js';
import type { Node } from '../graph/ir.js';
import { isLinear } from '../graph/ops/registry.js';
import { isPlain2x2, type PoolAttrs } from '../kernels/float/pool.js';
import { canApplyClamp, canFinishInto, canPool2x2, finishLinear, finishLinearInto, quantizeInput, RELU, type Clamp, type QuantizedInput } from '../quant/fixed-point.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import { giveBytes, giveF64 } from '../tensor/pool.js';
import { sameDims, tensor, type Tensor } from '../tensor/tensor.js';
import type { LinearProtocol } from './linear-protocol.js';
import { PhaseTimer } from './timings.js';

export interface LayerTiming {
  readonly name: string;
  /** Wall-clock milliseconds for the whole layer. */
  readonly ms: number;
  /** Milliseconds by phase within this layer (quantize, accelerator, validate, verify, requantize…). */
  readonly phases: Record<string, number>;
}

export interface QuantizedRun {
  readonly outputs: Tensor[];
  /** Milliseconds by phase (quantize, linear/accelerator/verify…, requantize, nonlinear). */
  readonly timings: Record<string, number>;
  /** Wall-clock milliseconds each linear layer took, in order. */
  readonly layers: LayerTiming[];
}

export async function runQuantized(
  qg: QuantizedGraph,
  inputs: readonly Tensor[],
  protocol: LinearProtocol,
  onValue?: (name: string, value: Tensor) => void,
): Promise<QuantizedRun> {
  // Without an observer, fusion passes apply (see planFusion); an observer sees every pre-activation
  // float value, so then nothing is fused.
  const plan = onValue === undefined ? fusionPlan(qg) : NO_FUSION;
  /** Values already quantized for the layer that consumes them, by their buffer. */
  const prequantized = new WeakMap<Float64Array, QuantizedInput & { readonly layer: string }>();
  const timer = new PhaseTimer();
  const layers: LayerTiming[] = [];
  if (protocol.begin) await timer.timeAsync('pad', () => protocol.begin!());
  const outputs = await execute(qg.graph, inputs, {
    onValue,
    passThrough: plan.passThrough,
    onNonlinearMs: (ms) => timer.add('nonlinear', ms),
    async linear(node, x, _weights, value) {
      const start = performance.now();
      const before = { ...timer.ms };
      const layer = qg.byNode.get(node.name)!;
      const pre = prequantized.get(x.data);
      // Residues quantized for another layer are not floats: quantizing them again would be silently wrong.
      if (pre !== undefined && pre.layer !== node.name) throw new Error(`internal: '${node.name}' got the input quantized for '${pre.layer}'`);
      // Consumed once: the buffer goes back to the tensor pool after this layer, to hold other values.
      prequantized.delete(x.data);
      // A prequantized input belongs to the graph (it frees it after its last use); our own is ours to free.
      const xq = pre ?? timer.time('quantize', () => quantizeInput(layer, x.data));
      const { value: fx, minus } = await protocol.compute(layer, xq.residues, timer);
      if (xq !== pre) giveF64(xq.residues); // the protocol is done with it (backends send copies)
      const residual = plan.addAfter.get(node.name);
      const add = residual === undefined ? undefined : { other: value(residual.other).data, relu: residual.relu };
      const fused = { minus, clamp: plan.clampAfter.get(node.name), pool2x2: plan.poolAfter.has(node.name), add };
      const next = plan.feeds.get(node.name);
      let y: Float64Array;
      if (next === undefined) {
        y = timer.time('requantize', () => finishLinear(layer, fx, xq.maxAbs, fused));
      } else {
        const q = timer.time('requantize', () => finishLinearInto(layer, fx, xq.maxAbs, next, fused));
        prequantized.set(q.residues, { ...q, layer: next.name });
        y = q.residues;
      }
      if (minus !== undefined) giveBytes(minus);
      if (y !== fx) giveF64(fx); // pooled into a smaller array: the reply's memory is free
      const phases: Record<string, number> = {};
      for (const [phase, ms] of Object.entries(timer.ms)) if (ms !== (before[phase] ?? 0)) phases[phase] = ms - (before[phase] ?? 0);
      layers.push({ name: layer.name, ms: performance.now() - start, phases });
      const [n, c, h, w] = layer.outDims;
      return tensor(fused.pool2x2 ? [n!, c!, h! / 2, w! / 2] : layer.outDims, y);
    },
  });
  return { outputs, timings: timer.ms, layers };
}

/** Which passes a quantized graph's runs fuse; derived from the graph alone, so planned once per graph. */
export interface FusionPlan {
  /** Nodes the preceding linear layer's requantization applies (activations, pools, Adds): each passes its input at this index through. */
  readonly passThrough: ReadonlyMap<string, number>;
  /** Linear node → the clamp (ReLU, Clip) its requantization applies. */
  readonly clampAfter: ReadonlyMap<string, Clamp>;
  /** Linear nodes whose requantization also applies the 2×2 max pool (stride 2) that follows. */
  readonly poolAfter: ReadonlySet<string>;
  /** Linear node → the residual Add's other input (computed before it) and whether a ReLU follows the Add. */
  readonly addAfter: ReadonlyMap<string, { readonly other: string; readonly relu: boolean }>;
  /** Linear node → the linear layer whose quantized input its requantization writes directly. */
  readonly feeds: ReadonlyMap<string, QuantizedLayer>;
}

const NO_FUSION: FusionPlan = { passThrough: new Map(), clampAfter: new Map(), poolAfter: new Set(), addAfter: new Map(), feeds: new Map() };
const plans = new WeakMap<QuantizedGraph, FusionPlan>();

export function fusionPlan(qg: QuantizedGraph): FusionPlan {
  let plan = plans.get(qg);
  if (plan === undefined) plans.set(qg, (plan = planFusion(qg)));
  return plan;
}

/**
 * For each linear node: a Relu or Clip that is the only consumer of its output (not a graph output)
 * is applied while requantizing, where that is exact (canApplyClamp); then a 2×2 MaxPool with stride
 * 2 that is the only consumer of the result, where every value lies in one window (canPool2x2); and
 * if the result feeds only another linear layer, on a grid that a right shift reaches
 * (canFinishInto), requantization writes that layer's quantized input directly. A linear output
 * that only a residual Add consumes, whose other operand (same shape) is computed earlier, is added
 * (and a ReLU that alone consumes the sum is applied) in the requantization pass too. Fewer passes
 * over the activations, bit-identical results.
 */
function planFusion(qg: QuantizedGraph): FusionPlan {
  const { graph } = qg;
  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of new Set(n.inputs)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const outputs = new Set(graph.outputs);
  const only = (value: string): Node | undefined => {
    const c = consumers.get(value);
    return c?.length === 1 && !outputs.has(value) ? c[0] : undefined;
  };
  const passThrough = new Map<string, number>();
  const clampAfter = new Map<string, Clamp>();
  const poolAfter = new Set<string>();
  const addAfter = new Map<string, { other: string; relu: boolean }>();
  // Where each value is produced (graph inputs and constants: before every node).
  const producedAt = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => producedAt.set(o, i)));
  const feeds = new Map<string, QuantizedLayer>();
  graph.nodes.forEach((n, index) => {
    if (!isLinear(n.op)) return;
    const layer = qg.byNode.get(n.name)!;
    let value = n.outputs[0]!;
    let next = only(value);
    if (next?.op === 'Add' && next.inputs.length === 2) {
      const mine = next.inputs.indexOf(value);
      const other = next.inputs[1 - mine]!;
      const dims = graph.dims.get(other);
      if (mine >= 0 && other !== value && (producedAt.get(other) ?? -1) < index && dims !== undefined && sameDims(dims, layer.outDims)) {
        passThrough.set(next.name, mine);
        const after = only(next.outputs[0]!);
        const relu = after?.op === 'Relu';
        if (relu) passThrough.set(after!.name, 0);
        addAfter.set(n.name, { other, relu });
      }
      return;
    }
    const clamp = next === undefined ? undefined : activationClamp(next);
    if (next !== undefined && clamp !== undefined && canApplyClamp(layer, clamp)) {
      passThrough.set(next.name, 0);
      clampAfter.set(n.name, clamp);
      value = next.outputs[0]!;
      next = only(value);
    }
    if (next?.op === 'MaxPool' && isPlain2x2(next.attrs as PoolAttrs) && canPool2x2(layer)) {
      passThrough.set(next.name, 0);
      poolAfter.add(n.name);
      value = next.outputs[0]!;
      next = only(value);
    }
    if (next === undefined || !isLinear(next.op) || next.inputs[0] !== value) return;
    const nextLayer = qg.byNode.get(next.name)!;
    if (canFinishInto(layer, nextLayer)) feeds.set(n.name, nextLayer);
  });
  return { passThrough, clampAfter, poolAfter, addAfter, feeds };
}

/** The clamp a Relu or Clip node applies, or undefined for any other node. */
function activationClamp(node: Node): Clamp | undefined {
  if (node.op === 'Relu') return RELU;
  if (node.op !== 'Clip') return undefined;
  const { min, max } = node.attrs as { min: number; max: number };
  return { lo: min, hi: max };
}
