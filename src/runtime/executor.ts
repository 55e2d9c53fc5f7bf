/**
 * The trusted runtime's inference loop: the graph executor with every linear layer replaced by
 * quantize → LinearProtocol (mode-specific: local, outsourced, verified, blinded) → bias, overflow
 * check, dequantize. Non-linear layers run here in float on exactly dequantized values.
 */
import { execute } from '../graph/execute.js';
import type { Graph, Node } from '../graph/ir.js';
import { isLinear } from '../graph/ops/registry.js';
import { canApplyClamp, canFinishInto, finishLinear, finishLinearInto, quantizeInput, RELU, type Clamp, type QuantizedInput } from '../quant/fixed-point.js';
import type { QuantizedGraph } from '../quant/quantize-graph.js';
import { giveF64 } from '../tensor/pool.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
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
  // Without an observer, a ReLU or Clip right after a linear layer is applied while requantizing,
  // and a linear layer whose output (after such an activation) feeds only another linear layer
  // hands that layer its quantized input directly: fewer passes over the activations. An observer
  // sees every pre-activation float value, so then nothing is fused.
  const fused = onValue === undefined ? fusableActivations(qg) : new Map<string, FusedActivation>();
  const clampAfter = new Map([...fused.values()].map((f) => [f.linear, f.clamp]));
  const feeds = onValue === undefined ? linearChains(qg.graph, fused) : new Map<string, string>();
  /** Values already quantized for the layer that consumes them, by their buffer. */
  const prequantized = new WeakMap<Float64Array, QuantizedInput & { readonly layer: string }>();
  const timer = new PhaseTimer();
  const layers: LayerTiming[] = [];
  if (protocol.begin) await timer.timeAsync('pad', () => protocol.begin!());
  const outputs = await execute(qg.graph, inputs, {
    onValue,
    passThrough: new Set(fused.keys()),
    onNonlinearMs: (ms) => timer.add('nonlinear', ms),
    async linear(node, x) {
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
      const clamp = clampAfter.get(node.name);
      const nextName = feeds.get(node.name);
      const next = nextName === undefined ? undefined : qg.byNode.get(nextName)!;
      let y: Float64Array;
      if (next === undefined || !canFinishInto(layer, next)) {
        y = timer.time('requantize', () => finishLinear(layer, fx, xq.maxAbs, clamp, minus));
      } else {
        const q = timer.time('requantize', () => finishLinearInto(layer, fx, xq.maxAbs, clamp, next, minus));
        prequantized.set(q.residues, { ...q, layer: nextName! });
        y = q.residues;
      }
      if (minus !== undefined) giveF64(minus);
      const phases: Record<string, number> = {};
      for (const [phase, ms] of Object.entries(timer.ms)) if (ms !== (before[phase] ?? 0)) phases[phase] = ms - (before[phase] ?? 0);
      layers.push({ name: layer.name, ms: performance.now() - start, phases });
      return tensor(layer.outDims, y);
    },
  });
  return { outputs, timings: timer.ms, layers };
}

/**
 * Linear node → the linear node that is the only consumer of its output (directly, or through a
 * fused activation that is itself consumed only there), for outputs that are not graph outputs.
 */
function linearChains(graph: Graph, fused: ReadonlyMap<string, FusedActivation>): Map<string, string> {
  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of new Set(n.inputs)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const outputs = new Set(graph.outputs);
  const only = (value: string): Node | undefined => {
    const c = consumers.get(value);
    return c?.length === 1 && !outputs.has(value) ? c[0] : undefined;
  };
  const chains = new Map<string, string>();
  for (const n of graph.nodes) {
    if (!isLinear(n.op)) continue;
    let value = n.outputs[0]!;
    let next = only(value);
    if (next !== undefined && fused.get(next.name)?.linear === n.name) {
      value = next.outputs[0]!;
      next = only(value);
    }
    if (next !== undefined && isLinear(next.op) && next.inputs[0] === value) chains.set(n.name, next.name);
  }
  return chains;
}

interface FusedActivation {
  /** The linear node whose requantization applies it. */
  readonly linear: string;
  readonly clamp: Clamp;
}

/**
 * Relu and Clip nodes (by name) that directly follow a linear node whose only consumer they are, and
 * whose clamp is exact at that layer's output scale.
 */
function fusableActivations(qg: QuantizedGraph): Map<string, FusedActivation> {
  const { graph } = qg;
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  for (const o of graph.outputs) consumers.set(o, (consumers.get(o) ?? 0) + 1);
  const producer = new Map(graph.nodes.map((n) => [n.outputs[0]!, n]));
  const fused = new Map<string, FusedActivation>();
  for (const n of graph.nodes) {
    const clamp = n.op === 'Relu' ? RELU : n.op === 'Clip' ? clipBounds(n.attrs as { min: number; max: number }) : undefined;
    if (clamp === undefined) continue;
    const source = producer.get(n.inputs[0]!);
    if (source === undefined || !isLinear(source.op) || consumers.get(n.inputs[0]!) !== 1) continue;
    if (canApplyClamp(qg.byNode.get(source.name)!, clamp)) fused.set(n.name, { linear: source.name, clamp });
  }
  return fused;
}

function clipBounds({ min, max }: { min: number; max: number }): Clamp {
  return { lo: min, hi: max };
}
