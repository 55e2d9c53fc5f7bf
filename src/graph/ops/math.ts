/**
 * Element-wise math that stays in the trusted runtime (docs/design.md §1): Tanh, Erf, Gelu (opset 20),
 * Sqrt, Reciprocal, Neg and Pow. With Add, Mul and Div these also cover the decompositions
 * exporters emit for GELU (x·½·(1 + erf(x/√2))) and, below opset 17, for LayerNorm
 * (ReduceMean, Sub, Pow, Sqrt, Div).
 */
import * as unary from '../../kernels/float/unary.js';
import type { GeluApproximation } from '../../kernels/float/unary.js';
import { elementwise, unaryOp } from './nonlinear.js';
import type { OpDef, ResolveContext } from './op.js';

const none = (): Record<string, never> => ({});

export const Tanh = unaryOp(none, (x) => unary.tanh(x));
export const Erf = unaryOp(none, (x) => unary.erf(x));
export const Sqrt = unaryOp(none, (x) => unary.sqrt(x));
export const Reciprocal = unaryOp(none, (x) => unary.reciprocal(x));
export const Neg = unaryOp(none, (x) => unary.neg(x));

export const Gelu: OpDef<{ readonly approximate: GeluApproximation }> = unaryOp(
  (ctx: ResolveContext) => {
    const approximate = ctx.attr('approximate', 'none');
    if (approximate !== 'none' && approximate !== 'tanh') ctx.fail(`approximate '${approximate}' is not 'none' or 'tanh'`);
    return { approximate };
  },
  (x, a) => unary.gelu(x, a.approximate),
);

export const Pow = elementwise('Pow');
