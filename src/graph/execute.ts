/**
 * Walks a Graph in order. Non-linear and layout nodes run their float semantics here; linear nodes
 * go to a caller-supplied hook (the float reference computes them directly; the trusted runtime
 * quantizes, outsources, verifies and unblinds them). Values are freed after their last use, so
 * peak memory is the live set, not the whole network; a dead value's memory goes back to the
 * tensor pool unless another live value (a Reshape's output, say) still shares it.
 *
 * A value between two linear layers may be a FieldTensor (the next layer's request, written by the
 * previous layer's boundary pass): only linear hooks and pass-through nodes ever see one, and its
 * memory belongs to the hook that made it.
 */
import { InvalidArgumentError } from '../errors.js';
import type { FieldTensor } from '../tensor/field-tensor.js';
import { giveF64 } from '../tensor/pool.js';
import { formatDims, sameDims, type Tensor } from '../tensor/tensor.js';
import type { Graph, Node } from './ir.js';
import { OPS } from './ops/registry.js';

export interface ExecuteHooks {
  /** Computes a linear node (Conv or Gemm) on its activation input. Default: float semantics. */
  linear?(node: Node, x: Tensor | FieldTensor, weights: readonly Tensor[], value: (name: string) => Tensor | FieldTensor): Tensor | FieldTensor | Promise<Tensor | FieldTensor>;
  /** Computes a product of two activations (ActivationMatMul) elsewhere than in float here (the attention offload). Default: float semantics. */
  activationProduct?(node: Node, a: Tensor, b: Tensor): Promise<Tensor>;
  /** Sees every value as it is produced (for calibration and drift reports). */
  onValue?(name: string, value: Tensor, node: Node): void;
  /** Accumulates time spent in non-linear and layout nodes. */
  onNonlinearMs?(ms: number, node: Node): void;
  /** Nodes whose effect the linear hook already applied (a fused activation, pool or Add): each passes the input at this index through. */
  readonly passThrough?: ReadonlyMap<string, number>;
}

export async function execute(graph: Graph, inputs: readonly Tensor[], hooks: ExecuteHooks = {}): Promise<Tensor[]> {
  if (inputs.length !== graph.inputs.length) {
    throw new InvalidArgumentError(`the model takes ${graph.inputs.length} input(s), got ${inputs.length}`);
  }
  const values = new Map<string, Tensor | FieldTensor>();
  graph.inputs.forEach((decl, i) => {
    const t = inputs[i]!;
    if (!sameDims(t.dims, decl.dims)) {
      throw new InvalidArgumentError(`input '${decl.name}' has shape ${formatDims(t.dims)}, the model expects ${formatDims(decl.dims)}`);
    }
    values.set(decl.name, t);
  });
  const lastUse = lastUses(graph);
  const keep = new Set(graph.outputs);
  const fetch = (name: string): Tensor | FieldTensor => values.get(name) ?? graph.constants.get(name)!;
  /** A float value (an absent optional input stays undefined, as ops expect). */
  const floats = (name: string): Tensor => {
    const t = fetch(name);
    if (t !== undefined && !(t.data instanceof Float64Array)) throw new Error(`internal: value '${name}' holds residues where a float is meant`);
    return t as Tensor;
  };
  // How many live values hold each buffer; inputs and constants are never recycled.
  const holders = new Map<Float64Array | Uint32Array, number>();
  const caller = new Set<Float64Array | Uint32Array>([...inputs, ...graph.constants.values()].map((t) => t.data));
  const hold = (t: Tensor | FieldTensor): void => {
    holders.set(t.data, (holders.get(t.data) ?? 0) + 1);
  };
  const drop = (name: string): void => {
    const t = values.get(name)!;
    values.delete(name);
    const left = holders.get(t.data)! - 1;
    if (left > 0) holders.set(t.data, left);
    else {
      holders.delete(t.data);
      if (!caller.has(t.data) && t.data instanceof Float64Array) giveF64(t.data);
    }
  };
  inputs.forEach(hold);

  for (let i = 0; i < graph.nodes.length; i++) {
    const node = graph.nodes[i]!;
    const def = OPS[node.op]!;
    let out: Tensor | FieldTensor;
    const through = hooks.passThrough?.get(node.name);
    if (through !== undefined) {
      out = fetch(node.inputs[through]!);
    } else if (def.kind === 'linear' && hooks.linear !== undefined) {
      out = await hooks.linear(node, fetch(node.inputs[0]!), node.inputs.slice(1).map(floats), fetch);
    } else if (node.op === 'ActivationMatMul' && hooks.activationProduct !== undefined) {
      out = await hooks.activationProduct(node, floats(node.inputs[0]!), floats(node.inputs[1]!));
    } else {
      const start = performance.now();
      out = def.evalFloat(node.inputs.map(floats), node.attrs)[0]!;
      if (def.kind !== 'linear') hooks.onNonlinearMs?.(performance.now() - start, node);
    }
    values.set(node.outputs[0]!, out);
    hold(out);
    if (out.data instanceof Float64Array) hooks.onValue?.(node.outputs[0]!, out as Tensor, node);
    for (const name of new Set(node.inputs)) if (lastUse.get(name) === i && !keep.has(name) && values.has(name)) drop(name);
  }
  return graph.outputs.map(floats);
}

function lastUses(graph: Graph): Map<string, number> {
  const last = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((name) => last.set(name, i)));
  return last;
}
