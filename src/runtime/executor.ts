/**
 * The trusted runtime's inference loop: the graph executor with every linear layer replaced by
 * quantize → LinearProtocol (mode-specific: local, outsourced, verified, blinded) → bias, overflow
 * check, dequantize. Non-linear layers run here in float on exactly dequantized values.
 */
import { execute } from '../graph/execute.js';
import type { Graph } from '../graph/ir.js';
import { isLinear } from '../graph/ops/registry.js';
import { finishLinear, quantizeInput } from '../quant/fixed-point.js';
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
  // Without an observer, a ReLU right after a linear layer is applied while requantizing (one pass
  // fewer over the activations); an observer sees every pre-activation value, so nothing is fused.
  const fused = onValue === undefined ? fusableRelus(qg.graph) : new Map<string, string>();
  const reluAfter = new Set(fused.values());
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
      const xq = timer.time('quantize', () => quantizeInput(layer, x.data));
      const fx = await protocol.compute(layer, xq.residues, timer);
      giveF64(xq.residues); // the protocol is done with it (backends send copies)
      const y = timer.time('requantize', () => finishLinear(layer, fx, xq.maxAbs, reluAfter.has(node.name)));
      const phases: Record<string, number> = {};
      for (const [phase, ms] of Object.entries(timer.ms)) if (ms !== (before[phase] ?? 0)) phases[phase] = ms - (before[phase] ?? 0);
      layers.push({ name: layer.name, ms: performance.now() - start, phases });
      return tensor(layer.outDims, y);
    },
  });
  return { outputs, timings: timer.ms, layers };
}

/** Relu nodes (by name) that directly follow a linear node whose only consumer they are → that linear node. */
function fusableRelus(graph: Graph): Map<string, string> {
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  for (const o of graph.outputs) consumers.set(o, (consumers.get(o) ?? 0) + 1);
  const producer = new Map(graph.nodes.map((n) => [n.outputs[0]!, n]));
  const fused = new Map<string, string>();
  for (const n of graph.nodes) {
    if (n.op !== 'Relu') continue;
    const source = producer.get(n.inputs[0]!);
    if (source !== undefined && isLinear(source.op) && consumers.get(n.inputs[0]!) === 1) fused.set(n.name, source.name);
  }
  return fused;
}
