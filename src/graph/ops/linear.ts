/**
 * The linear ops, the ones slalom outsources: Conv (any stride, padding, dilation, group) and Gemm
 * (Y = X·W + b with W already [K, N]; ONNX Gemm's alpha/beta/transB and a MatMul by a constant
 * matrix all resolve to it). Weights and biases must be constants.
 */
import { conv2d, convOutputDims } from '../../kernels/conv.js';
import { matmul, matmulDims } from '../../kernels/float/matmul.js';
import { gemm } from '../../kernels/gemm.js';
import type { ConvAttrs } from '../../kernels/names.js';
import { sizeOf, tensor, type Tensor } from '../../tensor/tensor.js';
import { guard, type ReshapeAttrs } from './layout.js';
import type { OpDef, Resolved, ResolveContext } from './op.js';

export interface ConvNodeAttrs extends ConvAttrs {
  readonly kernel: readonly [number, number];
}

export type GemmNodeAttrs = Record<string, never>;

export const Conv: OpDef<ConvNodeAttrs> = {
  kind: 'linear',
  resolve(ctx: ResolveContext) {
    const xDims = ctx.dims(0);
    if (xDims.length !== 4) ctx.fail(`only 2-D convolutions (4-D input) are supported, input has rank ${xDims.length}`, true);
    const w = ctx.constant(1);
    if (w === undefined) ctx.fail('the weight must be a constant (initializer or Constant node)', true);
    if (w.dims.length !== 4) ctx.fail(`weight has rank ${w.dims.length}, expected 4`);
    const kernel = [w.dims[2]!, w.dims[3]!] as const;
    const kernelAttr = ctx.attr<number[]>('kernel_shape', [...kernel]);
    if (kernelAttr[0] !== kernel[0] || kernelAttr[1] !== kernel[1]) ctx.fail(`kernel_shape [${kernelAttr}] disagrees with the weight's [${kernel}]`);
    const strides = pair(ctx, 'strides');
    const dilations = pair(ctx, 'dilations');
    const group = ctx.attr('group', 1);
    const pads = resolvePads(ctx, [xDims[2]!, xDims[3]!], kernel, strides, dilations);
    const inputs = [ctx.node.inputs[0]!, ctx.node.inputs[1]!];
    if (ctx.has(2)) {
      const b = ctx.constant(2);
      if (b === undefined) ctx.fail('the bias must be a constant', true);
      inputs.push(ctx.node.inputs[2]!);
    }
    return { attrs: { strides, pads, dilations, group, kernel }, inputs };
  },
  inferDims([x, w], attrs) {
    return [convOutputDims(x!, w!, attrs)];
  },
  evalFloat([x, w, b], attrs) {
    return [conv2d(x!, w!, attrs, b?.data)];
  },
};

export const Gemm: OpDef<GemmNodeAttrs> = {
  kind: 'linear',
  resolve(ctx: ResolveContext) {
    const aDims = ctx.dims(0);
    if (aDims.length !== 2) ctx.fail(`input A must be 2-D, got rank ${aDims.length}`, true);
    if (ctx.attr('transA', 0) !== 0) ctx.fail('transA = 1 on an activation input is not supported', true);
    const b = ctx.constant(1);
    if (b === undefined || b.dims.length !== 2) ctx.fail('input B must be a constant 2-D matrix', true);
    const alpha = ctx.attr('alpha', 1);
    const beta = ctx.attr('beta', 1);
    const w = ctx.attr('transB', 0) !== 0 ? transpose2d(b, alpha) : scaled(b, alpha);
    if (w.dims[0] !== aDims[1]) ctx.fail(`A is [${aDims}] but B gives ${w.dims[0]} input features`);
    const n = w.dims[1]!;
    const name = ctx.node.name;
    const constants: Record<string, Tensor> = { [`${name}::W`]: w };
    const inputs = [ctx.node.inputs[0]!, `${name}::W`];
    if (ctx.has(2)) {
      const c = ctx.constant(2);
      if (c === undefined) ctx.fail('input C must be a constant', true);
      constants[`${name}::B`] = biasVector(ctx, c, n, beta);
      inputs.push(`${name}::B`);
    }
    return { attrs: {}, inputs, constants };
  },
  inferDims([x, w]) {
    return [[x![0]!, w![1]!]];
  },
  evalFloat([x, w, b]) {
    return [gemm(x!, w!, b?.data)];
  },
};

/**
 * MatMul. By a constant 2-D matrix W [K, N] it is a linear layer: on a 2-D input a Gemm without
 * bias; on an input of any rank [..., K] (a transformer's tokens) the leading dims are flattened
 * into rows (tokens × batch), so the outsourced layer is one Gemm over every row, and its output
 * [rows, N] is reshaped back to [..., N]. Any other product (two activations, as attention's QKᵀ
 * and softmax·V, or a constant on the left) runs in the trusted runtime as ActivationMatMul.
 */
export const MatMul: OpDef<GemmNodeAttrs | ReshapeAttrs> = {
  kind: 'linear',
  resolve(ctx: ResolveContext): Resolved<GemmNodeAttrs | ReshapeAttrs> {
    const aDims = ctx.dims(0);
    const w = ctx.constant(1);
    if (w === undefined || w.dims.length !== 2 || aDims.length < 2 || ctx.constant(0) !== undefined) {
      guard(ctx, () => matmulDims(aDims, ctx.dims(1)));
      return { op: 'ActivationMatMul', attrs: {}, inputs: [ctx.node.inputs[0]!, ctx.node.inputs[1]!] };
    }
    const [k, n] = [w.dims[0]!, w.dims[1]!];
    if (aDims[aDims.length - 1] !== k) ctx.fail(`cannot multiply [${aDims}] by [${w.dims}]`);
    if (aDims.length === 2) return { op: 'Gemm', attrs: {}, inputs: [ctx.node.inputs[0]!, ctx.node.inputs[1]!] };
    const name = ctx.node.name;
    const [rows, product] = [`${name}::rows`, `${name}::product`];
    return {
      op: 'Reshape',
      name: `${name}::tokens`,
      attrs: { dims: [...aDims.slice(0, -1), n] },
      inputs: [product],
      before: [
        { name: `${name}::flatten`, op: 'Reshape', attrs: { dims: [sizeOf(aDims) / k, k] }, inputs: [ctx.node.inputs[0]!], output: rows },
        { name, op: 'Gemm', attrs: {}, inputs: [rows, ctx.node.inputs[1]!], output: product },
      ],
    };
  },
  inferDims: (inputs) => Gemm.inferDims(inputs, {}),
  evalFloat: (inputs) => Gemm.evalFloat(inputs, {}),
};

/** The product of two activations (numpy.matmul semantics), in the trusted runtime in every mode. */
export const ActivationMatMul: OpDef<Record<string, never>> = {
  kind: 'nonlinear',
  resolve: (ctx: ResolveContext) => ctx.fail('ActivationMatMul is internal to slalom (MatMul resolves into it), not an ONNX op', true),
  inferDims: ([a, b]) => [matmulDims(a!, b!)],
  evalFloat: ([a, b]) => [matmul(a!, b!)],
};

function pair(ctx: ResolveContext, name: string): [number, number] {
  const v = ctx.attr<number[]>(name, [1, 1]);
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1)) ctx.fail(`${name} must be two positive integers, got [${v}]`);
  return [v[0]!, v[1]!];
}

/** Explicit [top, left, bottom, right] pads from `pads` or `auto_pad` (ONNX Conv/Pool semantics). */
export function resolvePads(
  ctx: ResolveContext,
  spatial: readonly [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  dilations: readonly [number, number],
): [number, number, number, number] {
  const autoPad = ctx.attr('auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET') {
    const pads = ctx.attr<number[]>('pads', [0, 0, 0, 0]);
    if (pads.length !== 4 || pads.some((x) => !Number.isInteger(x) || x < 0)) ctx.fail(`pads must be four non-negative integers, got [${pads}]`);
    return [pads[0]!, pads[1]!, pads[2]!, pads[3]!];
  }
  if (autoPad === 'VALID') return [0, 0, 0, 0];
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') ctx.fail(`auto_pad '${autoPad}' is not valid`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(spatial[i]! / strides[i]!);
    const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - spatial[i]!);
    const small = Math.floor(total / 2);
    begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
    end.push(autoPad === 'SAME_UPPER' ? total - small : small);
  }
  return [begin[0]!, begin[1]!, end[0]!, end[1]!];
}

function transpose2d(b: Tensor, alpha: number): Tensor {
  const [rows, cols] = [b.dims[0]!, b.dims[1]!];
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = alpha * b.data[r * cols + c]!;
  return tensor([cols, rows], out);
}

function scaled(b: Tensor, alpha: number): Tensor {
  return alpha === 1 ? b : tensor(b.dims, b.data.map((v) => alpha * v));
}

/** Gemm's C broadcast to one value per output feature, times beta. */
function biasVector(ctx: ResolveContext, c: Tensor, n: number, beta: number): Tensor {
  const size = c.data.length;
  const rows = c.dims.length === 2 ? c.dims[0]! : 1;
  if (rows !== 1 || (size !== n && size !== 1)) ctx.fail(`C of shape [${c.dims}] is not a per-feature bias of ${n} values`, true);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = beta * c.data[size === 1 ? 0 : j]!;
  return tensor([n], out);
}
