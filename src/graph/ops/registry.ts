/**
 * Every op slalom imports, by ONNX op name. An op missing here makes import fail with that op's name.
 * Identity, Dropout and Constant are handled by the importer itself (aliases and constants).
 */
import * as layout from './layout.js';
import * as linear from './linear.js';
import * as nonlinear from './nonlinear.js';
import type { OpDef } from './op.js';

export const OPS: Readonly<Record<string, OpDef>> = Object.freeze({
  Conv: linear.Conv,
  Gemm: linear.Gemm,
  MatMul: linear.MatMul,
  Relu: nonlinear.Relu,
  LeakyRelu: nonlinear.LeakyRelu,
  Sigmoid: nonlinear.Sigmoid,
  HardSigmoid: nonlinear.HardSigmoid,
  HardSwish: nonlinear.HardSwish,
  Clip: nonlinear.Clip,
  Softmax: nonlinear.Softmax,
  BatchNormalization: nonlinear.BatchNormalization,
  MaxPool: nonlinear.MaxPool,
  AveragePool: nonlinear.AveragePool,
  GlobalAveragePool: nonlinear.GlobalAveragePool,
  GlobalMaxPool: nonlinear.GlobalMaxPool,
  Add: nonlinear.Add,
  Sub: nonlinear.Sub,
  Mul: nonlinear.Mul,
  Div: nonlinear.Div,
  Reshape: layout.Reshape,
  Flatten: layout.Flatten,
  Squeeze: layout.Squeeze,
  Unsqueeze: layout.Unsqueeze,
  Transpose: layout.Transpose,
  Concat: layout.Concat,
  Pad: layout.Pad,
  Slice: layout.Slice,
  Gather: layout.Gather,
  Cast: layout.Cast,
  ConstantOfShape: layout.ConstantOfShape,
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
