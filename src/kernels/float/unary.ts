/**
 * Float element-wise math with ONNX semantics: Tanh, Erf, Gelu (opset 20, exact and tanh forms),
 * Sqrt, Reciprocal and Neg — the pieces of GELU and of the LayerNorm decomposition exporters emit
 * below opset 17 (ReduceMean, Sub, Pow, Sqrt, Div). Each returns a new tensor of the input's shape;
 * NaN stays NaN, √ of a negative is NaN and 1/0 is ±∞, as in IEEE arithmetic and numpy.
 */
import type { Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';
import { erf } from './erf.js';

export { erfTensor as erf } from './erf.js';

export type GeluApproximation = 'none' | 'tanh';

function map(x: Tensor, f: (v: number) => number): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f(src[i]!);
  return { dims: [...x.dims], data: out };
}

export const tanh = (x: Tensor): Tensor => map(x, Math.tanh);
export const sqrt = (x: Tensor): Tensor => map(x, Math.sqrt);
export const reciprocal = (x: Tensor): Tensor => map(x, (v) => 1 / v);
export const neg = (x: Tensor): Tensor => map(x, (v) => -v);

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * ONNX Gelu: x·Φ(x) = ½x·(1 + erf(x/√2)) for approximate = 'none'; for 'tanh',
 * ½x·(1 + tanh(√(2/π)·(x + 0.044715x³))).
 */
export function gelu(x: Tensor, approximate: GeluApproximation = 'none'): Tensor {
  if (approximate === 'tanh') return map(x, (v) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))));
  return map(x, (v) => 0.5 * v * (1 + erf(v * SQRT1_2)));
}
