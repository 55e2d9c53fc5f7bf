/**
 * Folds BatchNormalization into the Conv or Gemm that feeds it (docs/design.md §2): with
 * y = scale·(W·x + b) + shift per output channel, the folded layer has W' = scale·W and
 * b' = scale·b + shift, so quantization sees the weights the network really applies and the BN costs
 * nothing at run time. A BN whose input is not a linear layer used only by it stays a trusted op.
 */
import { tensor, type Tensor } from '../../tensor/tensor.js';
import type { Graph, Node } from '../ir.js';
import type { BatchNormAttrs } from '../ops/nonlinear.js';

export function foldBatchNorm(graph: Graph): Graph {
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  for (const o of graph.outputs) consumers.set(o, (consumers.get(o) ?? 0) + 1);

  const producer = new Map<string, number>();
  const nodes: (Node | undefined)[] = [...graph.nodes];
  nodes.forEach((n, i) => producer.set(n!.outputs[0]!, i));
  const constants = new Map(graph.constants);
  const dims = new Map(graph.dims);

  nodes.forEach((bn, i) => {
    if (bn?.op !== 'BatchNormalization') return;
    const source = bn.inputs[0]!;
    const j = producer.get(source);
    const linear = j === undefined ? undefined : nodes[j];
    if (linear === undefined || (linear.op !== 'Conv' && linear.op !== 'Gemm') || consumers.get(source) !== 1) return;
    const { scale, shift } = bn.attrs as BatchNormAttrs;
    const w = constants.get(linear.inputs[1]!)!;
    const b = linear.inputs[2] !== undefined ? constants.get(linear.inputs[2])! : undefined;
    const wName = `${linear.name}::W+${bn.name}`;
    const bName = `${linear.name}::B+${bn.name}`;
    constants.set(wName, scaleWeights(w, scale, linear.op === 'Conv'));
    const bias = new Float64Array(scale.length);
    for (let c = 0; c < scale.length; c++) bias[c] = scale[c]! * (b?.data[c] ?? 0) + shift[c]!;
    constants.set(bName, tensor([scale.length], bias));
    nodes[j!] = { ...linear, inputs: [linear.inputs[0]!, wName, bName], outputs: bn.outputs };
    nodes[i] = undefined;
    dims.delete(source);
  });

  const kept = nodes.filter((n): n is Node => n !== undefined);
  const used = new Set(kept.flatMap((n) => n.inputs));
  for (const name of [...constants.keys()]) if (!used.has(name)) constants.delete(name);
  return { ...graph, nodes: kept, constants, dims };
}

/** Multiplies each output channel of a Conv weight [M, …] or each column of a Gemm weight [K, N] by scale. */
function scaleWeights(w: Tensor, scale: Float64Array, isConv: boolean): Tensor {
  const out = new Float64Array(w.data.length);
  if (isConv) {
    const per = w.data.length / w.dims[0]!;
    for (let i = 0; i < out.length; i++) out[i] = w.data[i]! * scale[Math.floor(i / per)]!;
  } else {
    const n = w.dims[1]!;
    for (let i = 0; i < out.length; i++) out[i] = w.data[i]! * scale[i % n]!;
  }
  return tensor(w.dims, out);
}
