/**
 * The contract of one supported op: how the importer resolves its ONNX attributes (and constant
 * inputs) into a typed record, how its output shapes follow from its input shapes, and its float
 * semantics. `kind` tells the trusted runtime what to do with it: `linear` ops are outsourced
 * (docs/design.md §1), everything else runs in the trusted runtime.
 */
import type { Tensor } from '../../tensor/tensor.js';
import type { AttrValue, RawNode } from '../ir.js';

export type OpKind = 'linear' | 'nonlinear' | 'layout';

/** What the importer knows about a node's inputs while resolving it. */
export interface ResolveContext {
  readonly node: RawNode;
  readonly opset: number;
  /** The value of input i when it is a constant (initializer, Constant node or folded), else undefined. */
  constant(i: number): Tensor | undefined;
  /** The shape of input i (constant or activation); throws when the input is absent. */
  dims(i: number): readonly number[];
  /** True when input i is present (ONNX marks absent optional inputs with ''). */
  has(i: number): boolean;
  attr<T extends AttrValue>(name: string, fallback: T): T;
  /** Throws a MalformedModelError / UnsupportedModelError naming this node and op. */
  fail(reason: string, unsupported?: boolean): never;
}

/**
 * A node that resolving an ONNX node adds to the graph ahead of the node itself: ConvTranspose's
 * zero insertion before its Conv, LayerNormalization's Mean and InvStdDev outputs. `op` is a
 * registry op; `inputs` name values or `Resolved.constants` keys; `output` is a new value name.
 */
export interface ExtraNode {
  readonly name: string;
  readonly op: string;
  readonly attrs: unknown;
  readonly inputs: readonly string[];
  readonly output: string;
}

/** A node after resolution: the activation inputs it reads (first) and the constants it adds. */
export interface Resolved<A> {
  /** The IR op this node becomes when it differs from the ONNX op (MatMul → Gemm, Flatten → Reshape). */
  readonly op?: string;
  /** The IR node's name when it differs from the ONNX node's (which then names a node in `before`). */
  readonly name?: string;
  readonly attrs: A;
  /** Inputs to keep: activation names as in the node, or keys of `constants`. */
  readonly inputs: readonly string[];
  /** New constants (e.g. transposed weights) keyed by the names used in `inputs`. */
  readonly constants?: Readonly<Record<string, Tensor>>;
  /** Nodes to add, in order, before this one (whose inputs may name their outputs). */
  readonly before?: readonly ExtraNode[];
}

export interface OpDef<A = any> {
  readonly kind: OpKind;
  resolve(ctx: ResolveContext): Resolved<A>;
  inferDims(inputs: readonly (readonly number[])[], attrs: A): number[][];
  evalFloat(inputs: readonly Tensor[], attrs: A): Tensor[];
}
