/**
 * Folds the bias Add that follows a linear layer over token rows into the layer. `torch.onnx.export`
 * writes nn.Linear on a [batch, tokens, d] input as MatMul then Add(bias); the importer turns the
 * MatMul into Reshape → Gemm → Reshape (linear.ts), so the bias would be a separate pass of the
 * trusted runtime over every output. As the Gemm's own bias it is added in the requantization
 * instead, exactly (an integer at the output scale), like any Gemm bias. Only a constant bias of one
 * value per output feature (shape [N], or 1s then N) qualifies, and only when the Add is the
 * reshaped product's only consumer; the Add's output keeps its name.
 */
import { sizeOf, tensor } from '../../tensor/tensor.js';
import type { Graph, Node } from '../ir.js';

export function foldTokenBias(graph: Graph): Graph {
  const consumers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of new Set(n.inputs)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const outputs = new Set(graph.outputs);
  const producer = new Map(graph.nodes.map((n) => [n.outputs[0]!, n]));
  const replaced = new Map<Node, Node>();
  const dropped = new Set<Node>();
  const constants = new Map(graph.constants);
  const dims = new Map(graph.dims);

  for (const unflatten of graph.nodes) {
    if (unflatten.op !== 'Reshape' || !unflatten.name.endsWith('::tokens')) continue;
    const gemm = producer.get(unflatten.inputs[0]!);
    const value = unflatten.outputs[0]!;
    const users = consumers.get(value) ?? [];
    const add = users[0];
    if (gemm?.op !== 'Gemm' || gemm.inputs.length !== 2 || users.length !== 1 || outputs.has(value) || add?.op !== 'Add') continue;
    const biasName = add.inputs[0] === value ? add.inputs[1]! : add.inputs[0]!;
    const bias = constants.get(biasName);
    const n = graph.dims.get(gemm.outputs[0]!)![1]!;
    if (bias === undefined || sizeOf(bias.dims) !== n || bias.dims.at(-1) !== n || bias.dims.length > dims.get(value)!.length) continue;
    const name = `${gemm.name}::B`;
    constants.set(name, tensor([n], bias.data));
    replaced.set(gemm, { ...gemm, inputs: [...gemm.inputs, name] });
    replaced.set(unflatten, { ...unflatten, outputs: add.outputs });
    dropped.add(add);
    dims.delete(value);
  }
  if (dropped.size === 0) return graph;
  const nodes = graph.nodes.filter((n) => !dropped.has(n)).map((n) => replaced.get(n) ?? n);
  const used = new Set(nodes.flatMap((n) => n.inputs));
  for (const name of [...constants.keys()]) if (!used.has(name) && !graph.inputs.some((i) => i.name === name)) constants.delete(name);
  return { ...graph, nodes, constants, dims };
}
