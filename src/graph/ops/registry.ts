/**
 * Every op slalom imports, by ONNX op name. An op missing here makes import fail with that op's name.
 * Identity, Dropout, Constant, Shape and Size are handled by the importer itself (aliases and
 * constants). ConvTranspose never reaches the graph: it resolves into ZeroInsert + Conv, and
 * ZeroInsert is an IR op only that rewrite creates; likewise ActivationMatMul, what a MatMul of two
 * activations becomes (MatMul by a constant matrix becomes a Gemm).
 */
import * as convTranspose from './conv-transpose.js';
import * as layout from './layout.js';
import * as linear from './linear.js';
import * as mask from './mask.js';
import * as math from './math.js';
import * as nonlinear from './nonlinear.js';
import * as normalization from './normalization.js';
import type { OpDef } from './op.js';
import * as resize from './resize.js';

export const OPS: Readonly<Record<string, OpDef>> = Object.freeze({
  Conv: linear.Conv,
  ConvTranspose: convTranspose.ConvTranspose,
  Gemm: linear.Gemm,
  MatMul: linear.MatMul,
  ActivationMatMul: linear.ActivationMatMul,
  Relu: nonlinear.Relu,
  LeakyRelu: nonlinear.LeakyRelu,
  Sigmoid: nonlinear.Sigmoid,
  HardSigmoid: nonlinear.HardSigmoid,
  HardSwish: nonlinear.HardSwish,
  Clip: nonlinear.Clip,
  Softmax: nonlinear.Softmax,
  Tanh: math.Tanh,
  Erf: math.Erf,
  Gelu: math.Gelu,
  Sqrt: math.Sqrt,
  Reciprocal: math.Reciprocal,
  Neg: math.Neg,
  ReduceMean: normalization.ReduceMean,
  LayerNormalization: normalization.LayerNormalization,
  BatchNormalization: nonlinear.BatchNormalization,
  MaxPool: nonlinear.MaxPool,
  AveragePool: nonlinear.AveragePool,
  GlobalAveragePool: nonlinear.GlobalAveragePool,
  GlobalMaxPool: nonlinear.GlobalMaxPool,
  Add: nonlinear.Add,
  Sub: nonlinear.Sub,
  Mul: nonlinear.Mul,
  Div: nonlinear.Div,
  Pow: math.Pow,
  Resize: resize.Resize,
  Reshape: layout.Reshape,
  Flatten: layout.Flatten,
  Squeeze: layout.Squeeze,
  Unsqueeze: layout.Unsqueeze,
  Transpose: layout.Transpose,
  Concat: layout.Concat,
  Pad: layout.Pad,
  Slice: layout.Slice,
  Split: layout.Split,
  Gather: layout.Gather,
  Cast: layout.Cast,
  ConstantOfShape: layout.ConstantOfShape,
  Expand: mask.Expand,
  Where: mask.Where,
  Equal: mask.Equal,
  Not: mask.Not,
  Greater: mask.Greater,
  Less: mask.Less,
  GreaterOrEqual: mask.GreaterOrEqual,
  LessOrEqual: mask.LessOrEqual,
  Range: mask.Range,
  Trilu: mask.Trilu,
  ZeroInsert: convTranspose.ZeroInsert,
});

/** The ops that are outsourced to the accelerator (after import: Conv and Gemm). */
export function isLinear(op: string): boolean {
  return OPS[op]?.kind === 'linear';
}

export function opDef(op: string): OpDef {
  const def = OPS[op];
  if (def === undefined) throw new Error(`no op definition for ${op}`);
  return def;
}
