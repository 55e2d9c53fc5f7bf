/**
 * Where a value of the imported graph is in the ONNX model. The importer names the values it makes
 * `node::part` (a linear layer over token rows reads `x::rows`, a [tokens × batch, d] view of the
 * ONNX input, and writes `::product`, reshaped back into the ONNX MatMul's output); calibration and
 * `compare` ask onnxruntime for values by their ONNX names, and a Reshape keeps every value.
 */
import type { Graph, Node } from './ir.js';

/** Values the importer made (named `node::part`) are not in the ONNX model; a Reshape keeps every value. */
const madeByImport = (name: string): boolean => name.includes('::');

/** The ONNX value a value the importer made reshapes (or the value itself). */
export function onnxSourceOf(graph: Graph, value: string): string {
  let name = value;
  while (madeByImport(name)) {
    const producer = graph.nodes.find((n) => n.outputs[0] === name);
    if (producer?.op !== 'Reshape') break;
    name = producer.inputs[0]!;
  }
  return name;
}

/** The ONNX value a value the importer made is reshaped into (or the value itself). */
export function onnxValueOf(graph: Graph, value: string): string {
  let name = value;
  while (madeByImport(name)) {
    const consumers = graph.nodes.filter((n) => n.inputs.includes(name));
    if (consumers.length !== 1 || consumers[0]!.op !== 'Reshape') break;
    name = consumers[0]!.outputs[0]!;
  }
  return name;
}

/** A Gemm the importer made from a MatMul over tokens: its input is a [tokens × batch, d] view. */
export function isTokenRowLayer(graph: Graph, node: Node): boolean {
  return node.op === 'Gemm' && onnxSourceOf(graph, node.inputs[0]!) !== node.inputs[0];
}
