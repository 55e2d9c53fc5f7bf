/**
 * Ops that stay in the trusted runtime (docs/design.md §1): activations, pooling, element-wise
 * arithmetic with broadcasting, BatchNormalization that could not be folded, Softmax.
 */
import * as act from '../../kernels/float/activation.js';
import { binary, broadcastDims, type BinaryOp } from '../../kernels/float/elementwise.js';
import {
  averagePool2d,
  globalAveragePool,
  globalMaxPool,
  maxPool2d,
  poolOutputDims,
  type PoolAttrs,
} from '../../kernels/float/pool.js';
import { takeF64 } from '../../tensor/pool.js';
import { tensor, type Tensor } from '../../tensor/tensor.js';
import { resolvePads } from './linear.js';
import type { OpDef, ResolveContext } from './op.js';

/** An op of one activation input and its shape, whose attributes `resolveAttrs` reads. */
export function unaryOp<A>(resolveAttrs: (ctx: ResolveContext) => A, f: (x: Tensor, a: A) => Tensor): OpDef<A> {
  return {
    kind: 'nonlinear',
    resolve: (ctx: ResolveContext) => ({ attrs: resolveAttrs(ctx), inputs: [ctx.node.inputs[0]!] }),
    inferDims: ([x]) => [[...x!]],
    evalFloat: ([x], a) => [f(x!, a)],
  };
}

const none = (): Record<string, never> => ({});

export const Relu = unaryOp(none, (x) => act.relu(x));
export const Sigmoid = unaryOp(none, (x) => act.sigmoid(x));
export const HardSwish = unaryOp(none, (x) => act.hardSwish(x));
export const LeakyRelu = unaryOp((ctx: ResolveContext) => ({ alpha: ctx.attr('alpha', 0.01) }), (x, a) => act.leakyRelu(x, a.alpha));
export const HardSigmoid = unaryOp(
  (ctx) => ({ alpha: ctx.attr('alpha', 0.2), beta: ctx.attr('beta', 0.5) }),
  (x, a) => act.hardSigmoid(x, a.alpha, a.beta),
);

export const Clip = unaryOp(
  (ctx: ResolveContext) => {
    if (ctx.opset < 11) return { min: ctx.attr('min', -Infinity), max: ctx.attr('max', Infinity) };
    const bound = (i: number, fallback: number): number => {
      if (!ctx.has(i)) return fallback;
      const c = ctx.constant(i);
      if (c === undefined || c.data.length !== 1) ctx.fail(`input ${i} (${i === 1 ? 'min' : 'max'}) must be a constant scalar`, true);
      return c.data[0]!;
    };
    return { min: bound(1, -Infinity), max: bound(2, Infinity) };
  },
  (x, a) => act.clip(x, a.min, a.max),
);

export const Softmax = unaryOp(
  (ctx: ResolveContext) => {
    const axis = ctx.attr('axis', ctx.opset >= 13 ? -1 : 1);
    const rank = ctx.dims(0).length;
    if (ctx.opset < 13 && axis !== rank - 1 && !ctx.dims(0).slice(axis + 1).every((d) => d === 1)) {
      ctx.fail('opset < 13 Softmax over several trailing axes is not supported', true);
    }
    return { axis: axis < 0 ? axis + rank : axis };
  },
  (x, a) => act.softmax(x, a.axis),
);

export interface BatchNormAttrs {
  /** Per-channel γ/√(var + ε) and β − mean·scale. */
  readonly scale: Float64Array;
  readonly shift: Float64Array;
}

export const BatchNormalization: OpDef<BatchNormAttrs> = {
  kind: 'nonlinear',
  resolve(ctx: ResolveContext) {
    const params = [1, 2, 3, 4].map((i) => ctx.constant(i));
    if (params.some((t) => t === undefined)) ctx.fail('scale, bias, mean and variance must be constants', true);
    const [gamma, beta, mean, variance] = params as Tensor[];
    const channels = ctx.dims(0)[1];
    if (ctx.dims(0).length < 2 || [gamma, beta, mean, variance].some((t) => t!.data.length !== channels)) {
      ctx.fail(`parameters must have one value per channel (${channels})`);
    }
    if (ctx.node.outputs.length > 1 && ctx.node.outputs.slice(1).some((o) => o !== '')) ctx.fail('training-mode outputs are not supported', true);
    const epsilon = ctx.attr('epsilon', 1e-5);
    const scale = new Float64Array(channels!);
    const shift = new Float64Array(channels!);
    for (let c = 0; c < channels!; c++) {
      scale[c] = gamma!.data[c]! / Math.sqrt(variance!.data[c]! + epsilon);
      shift[c] = beta!.data[c]! - mean!.data[c]! * scale[c]!;
    }
    return { attrs: { scale, shift }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x]) => [[...x!]],
  evalFloat([x], { scale, shift }) {
    const [n, c] = [x!.dims[0]!, x!.dims[1]!];
    const inner = x!.data.length / (n * c);
    const out = takeF64(x!.data.length);
    for (let i = 0, o = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const s = scale[ch]!;
        const t = shift[ch]!;
        for (let k = 0; k < inner; k++, o++) out[o] = x!.data[o]! * s + t;
      }
    }
    return [tensor(x!.dims, out)];
  },
};

function poolAttrs(ctx: ResolveContext): PoolAttrs {
  const xDims = ctx.dims(0);
  if (xDims.length !== 4) ctx.fail(`only 2-D pooling (4-D input) is supported, input has rank ${xDims.length}`, true);
  const k = ctx.attr<number[]>('kernel_shape', []);
  if (k.length !== 2) ctx.fail(`kernel_shape must have two values, got [${k}]`);
  const strides = ctx.attr<number[]>('strides', [1, 1]);
  const dilations = ctx.attr<number[]>('dilations', [1, 1]);
  const kernel: [number, number] = [k[0]!, k[1]!];
  const s: [number, number] = [strides[0]!, strides[1]!];
  const d: [number, number] = [dilations[0]!, dilations[1]!];
  if (ctx.attr('storage_order', 0) !== 0) ctx.fail('storage_order = 1 is not supported', true);
  if (ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '') ctx.fail('the Indices output is not supported', true);
  const pads = resolvePads(ctx, [xDims[2]!, xDims[3]!], kernel, s, d);
  return { kernel, strides: s, pads, dilations: d, ceilMode: ctx.attr('ceil_mode', 0) !== 0 };
}

export const MaxPool: OpDef<PoolAttrs> = {
  kind: 'nonlinear',
  resolve: (ctx: ResolveContext) => ({ attrs: poolAttrs(ctx), inputs: [ctx.node.inputs[0]!] }),
  inferDims: ([x], a) => [poolOutputDims(x!, a)],
  evalFloat: ([x], a) => [maxPool2d(x!, a)],
};

export type AveragePoolAttrs = PoolAttrs & { readonly countIncludePad: boolean };

export const AveragePool: OpDef<AveragePoolAttrs> = {
  kind: 'nonlinear',
  resolve: (ctx: ResolveContext) => ({
    attrs: { ...poolAttrs(ctx), countIncludePad: ctx.attr('count_include_pad', 0) !== 0 },
    inputs: [ctx.node.inputs[0]!],
  }),
  inferDims: ([x], a) => [poolOutputDims(x!, a)],
  evalFloat: ([x], a) => [averagePool2d(x!, a)],
};

function globalPool(f: (x: Tensor) => Tensor): OpDef<Record<string, never>> {
  return {
    kind: 'nonlinear',
    resolve: (ctx: ResolveContext) => {
      if (ctx.dims(0).length < 3) ctx.fail('input must have spatial dimensions');
      return { attrs: {}, inputs: [ctx.node.inputs[0]!] };
    },
    inferDims: ([x]) => [[x![0]!, x![1]!, ...x!.slice(2).map(() => 1)]],
    evalFloat: ([x]) => [f(x!)],
  };
}

export const GlobalAveragePool = globalPool(globalAveragePool);
export const GlobalMaxPool = globalPool(globalMaxPool);

/** A broadcasting binary op on two inputs (activations or constants). */
export function elementwise(op: BinaryOp): OpDef<Record<string, never>> {
  return {
    kind: 'nonlinear',
    resolve(ctx: ResolveContext) {
      try {
        broadcastDims(ctx.dims(0), ctx.dims(1));
      } catch (e) {
        ctx.fail((e as Error).message);
      }
      return { attrs: {}, inputs: [ctx.node.inputs[0]!, ctx.node.inputs[1]!] };
    },
    inferDims: ([a, b]) => [broadcastDims(a!, b!)],
    evalFloat: ([a, b]) => [binary(op, a!, b!)],
  };
}

export const Add = elementwise('Add');
export const Sub = elementwise('Sub');
export const Mul = elementwise('Mul');
export const Div = elementwise('Div');
