/**
 * ReduceMean and LayerNormalization, which stay in the trusted runtime (docs/design.md §1).
 *
 * ReduceMean takes its axes as an attribute up to opset 17 and as a constant input from opset 18
 * (where `noop_with_empty_axes` makes an empty list the identity instead of "every axis").
 * LayerNormalization (opset 17) normalizes the axes from `axis` on; its scale and bias must be
 * constants and are broadcast to those axes once, here. Its optional Mean and InvStdDev outputs
 * become nodes of their own (the same op with `output` set), so every node keeps one output; the
 * importer drops them when nothing reads them.
 */
import { binary, broadcastDims } from '../../kernels/float/elementwise.js';
import { layerNormalization, statsDims, type LayerNormAttrs, type LayerNormOutput } from '../../kernels/float/normalize.js';
import { normalizeAxes, reduceMean, reducedDims } from '../../kernels/float/reduce.js';
import { sameDims, tensor, type Tensor } from '../../tensor/tensor.js';
import { guard } from './layout.js';
import type { ExtraNode, OpDef, ResolveContext } from './op.js';

export interface ReduceMeanAttrs {
  /** Normalized, sorted axes; empty for the identity (opset 18's noop_with_empty_axes). */
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

export const ReduceMean: OpDef<ReduceMeanAttrs> = {
  kind: 'nonlinear',
  resolve(ctx: ResolveContext) {
    const rank = ctx.dims(0).length;
    let axes: number[] = [];
    let noop = false;
    if (ctx.opset >= 18) {
      noop = ctx.attr('noop_with_empty_axes', 0) !== 0;
      if (ctx.has(1)) {
        const c = ctx.constant(1);
        if (c === undefined) ctx.fail('axes must be a constant', true);
        axes = Array.from(c.data);
      }
    } else {
      axes = ctx.attr<number[]>('axes', []);
    }
    const all = [...Array(rank).keys()];
    const resolved = axes.length === 0 ? (noop ? [] : all) : guard(ctx, () => normalizeAxes(axes, rank, 'ReduceMean'));
    return { attrs: { axes: resolved, keepdims: ctx.attr<number>('keepdims', 1) !== 0 }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x], a) => [reducedDims(x!, a.axes, a.keepdims)],
  evalFloat: ([x], a) => [reduceMean(x!, a.axes, a.keepdims)],
};

/** A constant scale or bias broadcast (unidirectionally) to the normalized shape. */
function toNormalizedShape(ctx: ResolveContext, t: Tensor, dims: readonly number[], what: string): Tensor {
  let ok = false;
  try {
    ok = sameDims(broadcastDims(dims, t.dims), dims);
  } catch {
    ok = false;
  }
  if (!ok) ctx.fail(`${what} of shape [${t.dims}] does not broadcast to the normalized shape [${dims}]`);
  return t.data.length === dims.reduce((a, b) => a * b, 1) ? t : binary('Add', tensor(dims), t);
}

const STATS_OUTPUTS: readonly LayerNormOutput[] = ['Mean', 'InvStdDev'];

export const LayerNormalization: OpDef<LayerNormAttrs> = {
  kind: 'nonlinear',
  resolve(ctx: ResolveContext) {
    const xDims = ctx.dims(0);
    const rank = xDims.length;
    const raw = ctx.attr('axis', -1);
    if (!Number.isInteger(raw) || raw < -rank || raw >= rank) ctx.fail(`axis ${raw} is out of range for rank ${rank}`);
    const axis = raw < 0 ? raw + rank : raw;
    const normalized = xDims.slice(axis);
    const name = ctx.node.name;
    const x = ctx.node.inputs[0]!;
    const constants: Record<string, Tensor> = {};
    const operand = (i: number, what: string): string => {
      const t = ctx.constant(i);
      if (t === undefined) ctx.fail(`the ${what} must be a constant`, true);
      constants[`${name}::${what}`] = toNormalizedShape(ctx, t, normalized, what);
      return `${name}::${what}`;
    };
    const inputs = [x, operand(1, 'scale')];
    if (ctx.has(2)) inputs.push(operand(2, 'bias'));
    const attrs: LayerNormAttrs = { axis, epsilon: ctx.attr('epsilon', 1e-5), output: 'Y' };
    const before: ExtraNode[] = [];
    STATS_OUTPUTS.forEach((output, i) => {
      const value = ctx.node.outputs[i + 1];
      if (value !== undefined && value !== '') before.push({ name: `${name}::${output}`, op: 'LayerNormalization', attrs: { ...attrs, output }, inputs: [x], output: value });
    });
    return { attrs, inputs, constants, before };
  },
  inferDims: ([x], a) => [a.output === 'Y' ? [...x!] : statsDims(x!, a.axis)],
  evalFloat: ([x, scale, bias], a) => [layerNormalization(x!, a, scale, bias)],
};
