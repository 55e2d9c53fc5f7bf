/**
 * The graph IR every other layer works on (docs/design.md §2). An imported model is a list of nodes in
 * topological order over named values; constants (weights, folded shape sub-graphs) live apart
 * from activations, and every value has a concrete shape. Ops are ONNX op names; their attributes
 * are resolved into the typed records of graph/ops (no ONNX defaults left to interpret later).
 */
import type { Tensor } from '../tensor/tensor.js';

/** A raw ONNX attribute value after decoding. */
export type AttrValue = number | string | number[] | string[] | Tensor;

/** A node as ONNX wrote it: attributes decoded but not yet interpreted. */
export interface RawNode {
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

/** A model input as declared: symbolic dimensions are strings. */
export interface DeclaredInput {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

export interface RawModel {
  readonly name: string;
  readonly opset: number;
  readonly inputs: readonly DeclaredInput[];
  readonly outputs: readonly string[];
  readonly nodes: readonly RawNode[];
  readonly initializers: ReadonlyMap<string, Tensor>;
}

/** An imported node: the op's resolved attributes and only activation inputs left unfolded. */
export interface Node<A = unknown> {
  readonly name: string;
  readonly op: string;
  /** Value names: activations, or constants (weights) held in Graph.constants. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: A;
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly { readonly name: string; readonly dims: readonly number[] }[];
  readonly outputs: readonly string[];
  readonly nodes: readonly Node[];
  readonly constants: ReadonlyMap<string, Tensor>;
  /** The shape of every activation value. */
  readonly dims: ReadonlyMap<string, readonly number[]>;
}
