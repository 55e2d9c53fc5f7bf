/**
 * The ops transformer exports use around attention: masks and positions (Expand, Where, Equal and the other comparisons, Not,
 * Range, Trilu). All run in the trusted runtime; on constant inputs (the usual case: a causal mask
 * or position ids built from the sequence length) the importer folds them.
 */
import { compare, expand, expandDims, range, trilu, where, whereDims } from '../../kernels/float/mask.js';
import { broadcastDims } from '../../kernels/float/elementwise.js';
import type { OpDef, ResolveContext } from './op.js';
import { guard } from './layout.js';

function constantValues(ctx: ResolveContext, i: number, what: string): number[] {
  const c = ctx.constant(i);
  if (c === undefined) ctx.fail(`${what} must be a constant (or computable from constant shapes)`, true);
  return Array.from(c.data);
}

export const Expand: OpDef<{ readonly shape: readonly number[] }> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    const shape = constantValues(ctx, 1, 'the target shape');
    guard(ctx, () => expandDims(ctx.dims(0), shape));
    return { attrs: { shape }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x], a) => [expandDims(x!, a.shape)],
  evalFloat: ([x], a) => [expand(x!, a.shape)],
};

export const Where: OpDef<Record<string, never>> = {
  kind: 'nonlinear',
  resolve(ctx: ResolveContext) {
    guard(ctx, () => whereDims(ctx.dims(0), ctx.dims(1), ctx.dims(2)));
    return { attrs: {}, inputs: [0, 1, 2].map((i) => ctx.node.inputs[i]!) };
  },
  inferDims: ([c, x, y]) => [whereDims(c!, x!, y!)],
  evalFloat: ([c, x, y]) => [where(c!, x!, y!)],
};

function comparison(holds: (x: number, y: number) => boolean): OpDef<Record<string, never>> {
  return {
    kind: 'nonlinear',
    resolve(ctx: ResolveContext) {
      guard(ctx, () => broadcastDims(ctx.dims(0), ctx.dims(1)));
      return { attrs: {}, inputs: [ctx.node.inputs[0]!, ctx.node.inputs[1]!] };
    },
    inferDims: ([a, b]) => [broadcastDims(a!, b!)],
    evalFloat: ([a, b]) => [compare(a!, b!, holds)],
  };
}

/** Logical Not on a mask (1/0), as exports write `~mask` before a masked_fill. */
export const Not: OpDef<Record<string, never>> = {
  kind: 'nonlinear',
  resolve: (ctx: ResolveContext) => ({ attrs: {}, inputs: [ctx.node.inputs[0]!] }),
  inferDims: ([x]) => [[...x!]],
  evalFloat: ([x]) => [{ dims: x!.dims, data: x!.data.map((v) => (v === 0 ? 1 : 0)) }],
};

export const Equal = comparison((x, y) => x === y);
export const Greater = comparison((x, y) => x > y);
export const Less = comparison((x, y) => x < y);
export const GreaterOrEqual = comparison((x, y) => x >= y);
export const LessOrEqual = comparison((x, y) => x <= y);

/** Range's output length depends on its values, so they must be constants: it is always folded. */
export const Range: OpDef<Record<string, never>> = {
  kind: 'layout',
  resolve(ctx: ResolveContext) {
    ['start', 'limit', 'delta'].forEach((what, i) => constantValues(ctx, i, what));
    return { attrs: {}, inputs: [0, 1, 2].map((i) => ctx.node.inputs[i]!) };
  },
  inferDims: () => {
    throw new Error('Range only runs on constants');
  },
  evalFloat: ([start, limit, delta]) => [range(start!.data[0]!, limit!.data[0]!, delta!.data[0]!)],
};

export const Trilu: OpDef<{ readonly upper: boolean; readonly k: number }> = {
  kind: 'nonlinear',
  resolve(ctx: ResolveContext) {
    if (ctx.dims(0).length < 2) ctx.fail(`input has rank ${ctx.dims(0).length}, Trilu needs rank ≥ 2`);
    const k = ctx.has(1) ? constantValues(ctx, 1, 'k')[0] ?? 0 : 0;
    return { attrs: { upper: ctx.attr<number>('upper', 1) !== 0, k }, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: ([x]) => [[...x!]],
  evalFloat: ([x], a) => [trilu(x!, a.upper, a.k)],
};
