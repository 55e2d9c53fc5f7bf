/**
 * What each linear layer's boundary pass does (docs/design.md §7), decided from the graph once
 * (fusionPlan) and assembled per crossing from what the owners contribute (assemblePlan): quant/
 * the requantization and the next layer's grid, verify/ both sides of the checks, blind/ (through
 * the run's PadLease) u for this layer and the keystream for the next. boundary/accept.ts runs it.
 */
import type { BoundaryPlan, RequantTerm, RowLayout, Sendable } from '../boundary/pass-plan.js';
import type { Node } from '../graph/ir.js';
import { isLinear } from '../graph/ops/registry.js';
import { isPlain2x2, type PoolAttrs } from '../kernels/float/pool.js';
import { canApplyClamp, canFinishInto, canPool2x2, nextRequest, RELU, type Clamp } from '../quant/fixed-point.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import type { Region } from '../simd/arena.js';
import { sameDims } from '../tensor/tensor.js';
import { rowLayout } from '../verify/freivalds.js';
import type { Verifier } from '../verify/verifier.js';

/** Which passes a quantized graph's runs fuse; derived from the graph alone, so planned once per graph. */
export interface FusionPlan {
  /** Nodes the preceding linear layer's pass applies (activations, pools, Adds): each passes its input at this index through. */
  readonly passThrough: ReadonlyMap<string, number>;
  /** Linear node → the clamp (ReLU, Clip) its pass applies. */
  readonly clampAfter: ReadonlyMap<string, Clamp>;
  /** Linear nodes whose pass also applies the 2×2 max pool (stride 2) that follows. */
  readonly poolAfter: ReadonlySet<string>;
  /** Linear node → the residual Add's other input (computed before it) and whether a ReLU follows the Add. */
  readonly addAfter: ReadonlyMap<string, { readonly other: string; readonly relu: boolean }>;
  /** Linear node → the linear layer whose request its pass writes by a shift onto that layer's grid (its only consumer). */
  readonly feeds: ReadonlyMap<string, QuantizedLayer>;
  /** Linear node → a linear layer among several consumers whose request its pass writes from the float outputs. */
  readonly quantizesInto: ReadonlyMap<string, QuantizedLayer>;
  /** Nodes of quantizesInto whose pass also keeps its float outputs (for their other consumers: a residual skip, a non-linear layer). */
  readonly keepsFloats: ReadonlySet<string>;
}

/** Nothing fused: every pre-activation value is materialized (for observers, and the per-owner report). */
export const NO_FUSION: FusionPlan = {
  passThrough: new Map(),
  clampAfter: new Map(),
  poolAfter: new Set(),
  addAfter: new Map(),
  feeds: new Map(),
  quantizesInto: new Map(),
  keepsFloats: new Set(),
};

const plans = new WeakMap<QuantizedGraph, FusionPlan>();

export function fusionPlan(qg: QuantizedGraph): FusionPlan {
  let plan = plans.get(qg);
  if (plan === undefined) plans.set(qg, (plan = planFusion(qg)));
  return plan;
}

/**
 * For each linear node: a Relu or Clip that is the only consumer of its output (not a graph output)
 * is applied in its pass, where that is exact (canApplyClamp); then a 2×2 MaxPool with stride 2
 * that is the only consumer of the result, where every value lies in one window (canPool2x2); and
 * if the result feeds only another linear layer, on a grid that a right shift reaches
 * (canFinishInto), the pass writes that layer's request. A linear output that only a residual Add
 * consumes, whose other operand (same shape) is computed earlier, is added (and a ReLU that alone
 * consumes the sum is applied) in the pass too. Where the result (or the sum) has other consumers
 * as well, the pass keeps its floats for them and rounds them onto the grid of the first linear
 * consumer, writing its request (one pass writes a residual block's skip value and its next conv's
 * input). Fewer passes over the activations, bit-identical results.
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
  const firstLinear = (value: string): QuantizedLayer | undefined => {
    const node = consumers.get(value)?.find((c) => isLinear(c.op) && c.inputs[0] === value);
    return node === undefined ? undefined : qg.byNode.get(node.name);
  };
  const passThrough = new Map<string, number>();
  const clampAfter = new Map<string, Clamp>();
  const poolAfter = new Set<string>();
  const addAfter = new Map<string, { other: string; relu: boolean }>();
  const feeds = new Map<string, QuantizedLayer>();
  const quantizesInto = new Map<string, QuantizedLayer>();
  const keepsFloats = new Set<string>();
  // Where each value is produced (graph inputs and constants: before every node).
  const producedAt = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => producedAt.set(o, i)));
  /** The chain's result `value` leaves as floats; a linear consumer among others gets its request from them. */
  const leaveAsFloats = (name: string, value: string, pooled: boolean): void => {
    const linear = pooled ? undefined : firstLinear(value);
    if (linear !== undefined) quantizesInto.set(name, linear);
    if (linear === undefined || only(value)?.name !== linear.name) keepsFloats.add(name);
  };
  graph.nodes.forEach((n, index) => {
    if (!isLinear(n.op)) return;
    const layer = qg.byNode.get(n.name)!;
    // Per-channel scales finish after the pass (scaleColumns): its floats are not yet final, so nothing is fused.
    if (layer.channelBits !== undefined) return;
    let value = n.outputs[0]!;
    let next = only(value);
    if (next?.op === 'Add' && next.inputs.length === 2) {
      const mine = next.inputs.indexOf(value);
      const other = next.inputs[1 - mine]!;
      const dims = graph.dims.get(other);
      if (mine >= 0 && other !== value && (producedAt.get(other) ?? -1) < index && dims !== undefined && sameDims(dims, layer.outDims)) {
        passThrough.set(next.name, mine);
        value = next.outputs[0]!;
        const after = only(value);
        const relu = after?.op === 'Relu';
        if (relu) {
          passThrough.set(after!.name, 0);
          value = after!.outputs[0]!;
        }
        addAfter.set(n.name, { other, relu });
        leaveAsFloats(n.name, value, false);
        return;
      }
    }
    const clamp = next === undefined ? undefined : activationClamp(next);
    if (next !== undefined && clamp !== undefined && canApplyClamp(layer, clamp)) {
      passThrough.set(next.name, 0);
      clampAfter.set(n.name, clamp);
      value = next.outputs[0]!;
      next = only(value);
    }
    let pooled = false;
    if (next?.op === 'MaxPool' && isPlain2x2(next.attrs as PoolAttrs) && canPool2x2(layer)) {
      passThrough.set(next.name, 0);
      poolAfter.add(n.name);
      pooled = true;
      value = next.outputs[0]!;
      next = only(value);
    }
    const nextLayer = next !== undefined && isLinear(next.op) && next.inputs[0] === value ? qg.byNode.get(next.name)! : undefined;
    if (nextLayer !== undefined && canFinishInto(layer, nextLayer)) feeds.set(n.name, nextLayer);
    else leaveAsFloats(n.name, value, pooled);
  });
  return { passThrough, clampAfter, poolAfter, addAfter, feeds, quantizesInto, keepsFloats };
}

/** The clamp a Relu or Clip node applies, or undefined for any other node. */
function activationClamp(node: Node): Clamp | undefined {
  if (node.op === 'Relu') return RELU;
  if (node.op !== 'Clip') return undefined;
  const { min, max } = node.attrs as { min: number; max: number };
  return { lo: min, hi: max };
}

/** What the executor knows of one linear layer's boundary in one inference. */
export interface LayerStep {
  readonly layer: QuantizedLayer;
  readonly layout: RowLayout;
  readonly requant: RequantTerm;
  /** The layer whose request the pass writes, and whether from the float outputs (else by a shift). */
  readonly next?: { readonly layer: QuantizedLayer; readonly fromFloats: boolean };
  readonly fuse: boolean;
}

export function layoutOf(layer: QuantizedLayer): RowLayout {
  return rowLayout(layer);
}

/** The pads this crossing uses: u of its layer, the keystream of the next layer's request (each once per inference). */
export interface CrossingPads {
  readonly unblind?: Region;
  readonly nextPad?: Region;
}

/**
 * The layer's plan for the reply to `request`: asked per attempt, since a failed check re-draws the
 * verifier's secrets. `verifier` is undefined for a result the trusted runtime computed itself.
 */
export function assemblePlan(
  step: LayerStep,
  request: Sendable,
  parts: {
    readonly requestId: BoundaryPlan['reply']['requestId'];
    readonly pads: CrossingPads;
    readonly verifier?: Verifier;
    readonly checking: boolean;
    /** The accelerator's buffer for the next layer's request (NextRequest.wire). */
    readonly wire?: Uint32Array;
  },
): BoundaryPlan {
  const { layer, next } = step;
  const { pads, verifier, checking } = parts;
  return {
    reply: { requestId: parts.requestId, layerId: layer.index, layerName: layer.name, dims: layer.outDims },
    layout: step.layout,
    ...(pads.unblind !== undefined ? { unblind: pads.unblind } : {}),
    ...(checking && verifier !== undefined ? { check: verifier.outputSide(layer, request) } : {}),
    requant: step.requant,
    ...(next !== undefined
      ? { next: { ...nextRequest(next.layer, { fromFloats: next.fromFloats, check: verifier?.inputSide(next.layer), pad: pads.nextPad }), ...(parts.wire !== undefined ? { wire: parts.wire } : {}) } }
      : {}),
    fuse: step.fuse,
  };
}
