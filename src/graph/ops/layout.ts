/**
 * Layout ops: they move values without changing them (Reshape and its spellings Flatten, Squeeze,
 * Unsqueeze; Transpose; Concat; Pad; Slice; Gather) plus the ops that only appear in the shape
 * sub-graphs exporters emit (Cast, ConstantOfShape, Range), which the importer folds.
 */
import {
  concat,
  flattenDims,
  gather,
  gatherDims,
  pad,
  reshapeDims,
  slice,
  sliceDims,
  squeezeDims,
  transpose,
  unsqueezeDims,
} from '../../kernels/float/layout.js';
import { sizeOf, tensor, type Tensor } from '../../tensor/tensor.js';
import type { OpDef, ResolveContext } from './op.js';

export interface ReshapeAttrs {
  readonly dims: readonly number[];
}

/** Runs a shape computation, turning its error into a failure naming the node. */
export function guard<T>(ctx: ResolveContext, f: () => T): T {
  try {
    return f();
  } catch (e) {
    return ctx.fail((e as Error).message);
  }
}

function reshapeTo(ctx: ResolveContext, dims: number[]): { op: string; attrs: ReshapeAttrs; inputs: string[] } {
  if (sizeOf(dims) !== sizeOf(ctx.dims(0))) ctx.fail(`cannot reshape [${ctx.dims(0)}] into [${dims}]`);
  return { op: 'Reshape', attrs: { dims }, inputs: [ctx.node.inputs[0]!] };
}

/** Axes from the opset-13 input (index 1) or the older attribute. */
function axesOf(ctx: ResolveContext): number[] | undefined {
  if (ctx.opset >= 13) {
    if (!ctx.has(1)) return undefined;
    const c = ctx.constant(1);
    if (c === undefined) ctx.fail('axes must be a constant', true);
    return Array.from(c.data);
  }
  const a = ctx.attr<number[]>('axes', []);
  return a.length === 0 ? undefined : a;
}

export const Reshape: OpDef<ReshapeAttrs> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const shape = ctx.opset >= 5 ? ctx.constant(1) : undefined;
    const target = shape !== undefined ? Array.from(shape.data) : ctx.attr<number[]>('shape', []);
    if (shape === undefined && ctx.opset >= 5) ctx.fail('the target shape must be constant (or computable from constant shapes)', true);
    return reshapeTo(ctx, guard(ctx, () => reshapeDims(ctx.dims(0), target, ctx.attr('allowzero', 0) !== 0)));
  },
  inferDims: (_inputs, a) => [[...a.dims]],
  evalFloat: ([x], a) => [tensor(a.dims, x!.data)],
};

export const Flatten: OpDef<ReshapeAttrs> = {
  ...Reshape,
  resolve: (ctx: ResolveContext) => reshapeTo(ctx, guard(ctx, () => flattenDims(ctx.dims(0), ctx.attr('axis', 1)))),
};

export const Squeeze: OpDef<ReshapeAttrs> = {
  ...Reshape,
  resolve: (ctx: ResolveContext) => reshapeTo(ctx, guard(ctx, () => squeezeDims(ctx.dims(0), axesOf(ctx)))),
};

export const Unsqueeze: OpDef<ReshapeAttrs> = {
  ...Reshape,
  resolve(ctx: ResolveContext) {
    const axes = axesOf(ctx);
    if (axes === undefined) ctx.fail('axes are required');
    return reshapeTo(ctx, guard(ctx, () => unsqueezeDims(ctx.dims(0), axes)));
  },
};

export const Transpose: OpDef<{ readonly perm: readonly number[] }> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const rank = ctx.dims(0).length;
    const perm = ctx.attr<number[]>('perm', [...Array(rank).keys()].reverse());
    if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) ctx.fail(`perm [${perm}] is not a permutation of ${rank} axes`);
    return { attrs: { perm }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x], a) => [a.perm.map((p) => x![p]!)],
  evalFloat: ([x], a) => [transpose(x!, a.perm)],
};

export const Concat: OpDef<{ readonly axis: number }> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const rank = ctx.dims(0).length;
    let axis = ctx.attr('axis', 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) ctx.fail(`axis ${ctx.attr('axis', 0)} is out of range for rank ${rank}`);
    const inputs = ctx.node.inputs.filter((name) => name !== '');
    inputs.forEach((_, i) => {
      const d = ctx.dims(i);
      if (d.length !== rank || d.some((v, k) => k !== axis && v !== ctx.dims(0)[k])) ctx.fail(`input ${i} of shape [${d}] does not match [${ctx.dims(0)}] off axis ${axis}`);
    });
    return { attrs: { axis }, inputs };
  },
  inferDims(inputs, { axis }) {
    const out = [...inputs[0]!];
    out[axis] = inputs.reduce((s, d) => s + d[axis]!, 0);
    return [out];
  },
  evalFloat: (inputs, { axis }) => [concat([...inputs], axis)],
};

export interface PadAttrs {
  readonly pads: readonly number[];
  readonly mode: 'constant' | 'reflect' | 'edge';
  readonly value: number;
}

export const Pad: OpDef<PadAttrs> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const rank = ctx.dims(0).length;
    let pads: number[];
    let value = 0;
    if (ctx.opset >= 11) {
      const p = ctx.constant(1);
      if (p === undefined) ctx.fail('pads must be a constant', true);
      pads = Array.from(p.data);
      if (ctx.has(2)) {
        const v = ctx.constant(2);
        if (v === undefined) ctx.fail('constant_value must be a constant', true);
        value = v.data[0] ?? 0;
      }
      if (ctx.has(3)) {
        const axes = ctx.constant(3);
        if (axes === undefined) ctx.fail('axes must be a constant', true);
        const full = new Array<number>(2 * rank).fill(0);
        Array.from(axes.data).forEach((a, i) => {
          const ax = a < 0 ? a + rank : a;
          full[ax] = pads[i]!;
          full[ax + rank] = pads[i + axes.data.length]!;
        });
        pads = full;
      }
    } else {
      pads = ctx.attr<number[]>('pads', []);
      value = ctx.attr('value', 0);
    }
    if (pads.length !== 2 * rank) ctx.fail(`pads has ${pads.length} values, expected ${2 * rank}`);
    const mode = ctx.attr('mode', 'constant');
    if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') ctx.fail(`mode '${mode}' is not supported`, true);
    return { attrs: { pads, mode, value }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims([x], { pads }) {
    const rank = x!.length;
    return [x!.map((d, i) => d + pads[i]! + pads[i + rank]!)];
  },
  evalFloat: ([x], a) => [pad(x!, a.pads, a.mode, a.value)],
};

export interface SliceAttrs {
  readonly starts: readonly number[];
  readonly ends: readonly number[];
  readonly axes?: readonly number[];
  readonly steps?: readonly number[];
}

export const Slice: OpDef<SliceAttrs> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const constantList = (i: number): number[] | undefined => {
      if (!ctx.has(i)) return undefined;
      const c = ctx.constant(i);
      if (c === undefined) ctx.fail(`input ${i} must be a constant`, true);
      return Array.from(c.data);
    };
    const attrs: SliceAttrs =
      ctx.opset >= 10
        ? { starts: constantList(1) ?? [], ends: constantList(2) ?? [], axes: constantList(3), steps: constantList(4) }
        : { starts: ctx.attr<number[]>('starts', []), ends: ctx.attr<number[]>('ends', []), axes: ctx.attr<number[]>('axes', []).length ? ctx.attr<number[]>('axes', []) : undefined };
    return { attrs, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x], a) => [sliceDims(x!, a.starts, a.ends, a.axes, a.steps)],
  evalFloat: ([x], a) => [slice(x!, a.starts, a.ends, a.axes, a.steps)],
};

/**
 * Split resolves into one Slice per output (its first output is the node itself, the others are
 * added before it), so every IR node keeps a single output. Sizes come from the `split` input
 * (opset 13+), the attribute (older), or `num_outputs` (opset 18; the last part may be smaller).
 */
export const Split: OpDef<SliceAttrs> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const dims = ctx.dims(0);
    const rank = dims.length;
    const axisAttr = ctx.attr('axis', 0);
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    if (axis < 0 || axis >= rank) ctx.fail(`axis ${axisAttr} is out of range for rank ${rank}`);
    const size = dims[axis]!;
    const parts = ctx.node.outputs.length;
    let sizes: number[];
    if (ctx.opset >= 13 && ctx.has(1)) {
      const c = ctx.constant(1);
      if (c === undefined) ctx.fail('split sizes must be a constant', true);
      sizes = Array.from(c.data);
    } else if (ctx.opset < 13 && ctx.attr<number[]>('split', []).length > 0) {
      sizes = ctx.attr<number[]>('split', []);
    } else {
      const count = ctx.attr('num_outputs', parts);
      const each = Math.ceil(size / count);
      sizes = Array.from({ length: count }, (_, i) => Math.min(each, size - i * each));
    }
    if (sizes.length !== parts) ctx.fail(`${sizes.length} split sizes for ${parts} outputs`);
    if (sizes.some((s) => !Number.isInteger(s) || s <= 0) || sizes.reduce((a, b) => a + b, 0) !== size) {
      ctx.fail(`split sizes [${sizes}] do not partition axis ${axis} of size ${size}`);
    }
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const part = (i: number): SliceAttrs => ({ starts: [starts[i]!], ends: [starts[i]! + sizes[i]!], axes: [axis] });
    const input = ctx.node.inputs[0]!;
    const before = ctx.node.outputs.slice(1).map((output, j) => ({ name: `${ctx.node.name}::${j + 1}`, op: 'Slice', attrs: part(j + 1), inputs: [input], output }));
    return { op: 'Slice', attrs: part(0), inputs: [input], before };
  },
  inferDims: Slice.inferDims,
  evalFloat: Slice.evalFloat,
};

/**
 * Gather with constant indices (a layout op on an activation), or with indices computed at run time
 * from a constant table (a token-embedding lookup: the table is a weight, the indices are the
 * input's token ids; the trusted runtime looks them up, the table never leaves it).
 */
export const Gather: OpDef<{ readonly axis: number; readonly indices?: Tensor }> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const axis = ctx.attr('axis', 0);
    const indices = ctx.constant(1);
    if (indices !== undefined) return { attrs: { axis, indices }, inputs: [ctx.node.inputs[0]!] };
    if (ctx.constant(0) === undefined) ctx.fail('indices computed at run time need a constant table (an embedding lookup)', true);
    return { attrs: { axis }, inputs: [ctx.node.inputs[0]!, ctx.node.inputs[1]!] };
  },
  inferDims: ([x, i], a) => [gatherDims(x!, a.indices?.dims ?? i!, a.axis)],
  evalFloat: ([x, i], a) => [gather(x!, a.indices ?? i!, a.axis)],
};

/**
 * Cast to a floating type is the identity for float values; to an integer type it truncates, and to
 * bool it tests for non-zero (token ids cast to int64 before an embedding lookup, mask arithmetic).
 */
const FLOAT_TYPES = new Set([1, 10, 11, 16]);
const INTEGER_TYPES = new Set([2, 3, 4, 5, 6, 7, 9, 12, 13]);
export const Cast: OpDef<{ readonly to: number }> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const to = ctx.attr('to', 1);
    if (!FLOAT_TYPES.has(to) && !INTEGER_TYPES.has(to)) ctx.fail(`casting to type ${to} is not supported`, true);
    return { attrs: { to }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x]) => [[...x!]],
  evalFloat([x], { to }) {
    if (FLOAT_TYPES.has(to)) return [x!];
    const data = x!.data.map((v) => (to === 9 ? (v !== 0 ? 1 : 0) : Math.trunc(v)));
    return [tensor(x!.dims, data)];
  },
};

export const ConstantOfShape: OpDef<{ readonly value: number }> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const v = ctx.node.attrs['value'];
    return { attrs: { value: v !== undefined && typeof v === 'object' && 'data' in v ? v.data[0] ?? 0 : 0 }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: () => {
    throw new Error('ConstantOfShape only runs on constants');
  },
  evalFloat: ([shape], { value }) => {
    const dims = Array.from(shape!.data);
    return [tensor(dims, new Float64Array(sizeOf(dims)).fill(value))];
  },
};
