/**
 * Float activation kernels with ONNX semantics: Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish,
 * Clip (opset 11+ with min/max already resolved, ±∞ when absent) and Softmax (opset 13: normalized
 * along one axis). Each returns a new tensor of the input's shape; NaN inputs stay NaN.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, type Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';

function map(x: Tensor, out: Float64Array): Tensor {
  return { dims: [...x.dims], data: out };
}

/** max(0, x). */
export function relu(x: Tensor): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.max(src[i]!, 0); // branch-free; NaN stays NaN
  return map(x, out);
}

/** x for x ≥ 0, alpha·x otherwise (ONNX default alpha 0.01). */
export function leakyRelu(x: Tensor, alpha = 0.01): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v < 0 ? alpha * v : v;
  }
  return map(x, out);
}

/** 1 / (1 + e^−x), evaluated without overflow on either side. */
export function sigmoid(x: Tensor): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (v >= 0) {
      out[i] = 1 / (1 + Math.exp(-v));
    } else {
      const e = Math.exp(v);
      out[i] = e / (1 + e);
    }
  }
  return map(x, out);
}

/** max(0, min(1, alpha·x + beta)) (ONNX defaults alpha 0.2, beta 0.5). */
export function hardSigmoid(x: Tensor, alpha = 0.2, beta = 0.5): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    const t = alpha * v + beta;
    out[i] = t < 0 ? 0 : t > 1 ? 1 : t;
  }
  return map(x, out);
}

/** x · max(0, min(1, x/6 + 1/2)) (ONNX HardSwish, opset 14). */
export function hardSwish(x: Tensor): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    const t = v / 6 + 0.5;
    out[i] = t < 0 ? 0 : t > 1 ? v : v * t;
  }
  return map(x, out);
}

/**
 * min(max(x, min), max). As ONNX specifies, when min > max every value becomes max.
 * Pass −Infinity / Infinity for an absent bound.
 */
export function clip(x: Tensor, min = -Infinity, max = Infinity): Tensor {
  if (Number.isNaN(min) || Number.isNaN(max)) throw new InvalidArgumentError(`Clip bounds must not be NaN (min ${min}, max ${max})`);
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) {
    let v = src[i]!;
    if (v < min) v = min;
    if (v > max) v = max;
    out[i] = v;
  }
  return map(x, out);
}

/** Resolves a possibly negative axis against a rank, throwing when out of range. */
function normalizeAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new InvalidArgumentError(`${op} axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Softmax along one axis (opset 13; negative axis counts from the end, default −1):
 * y = e^(x − max) / Σ e^(x − max) over that axis.
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const rank = x.dims.length;
  if (rank === 0) throw new InvalidArgumentError(`Softmax needs an input of rank ≥ 1, got ${formatDims(x.dims)}`);
  const a = normalizeAxis(axis, rank, 'Softmax');
  const len = x.dims[a]!;
  let outer = 1;
  for (let i = 0; i < a; i++) outer *= x.dims[i]!;
  let inner = 1;
  for (let i = a + 1; i < rank; i++) inner *= x.dims[i]!;
  const src = x.data;
  const out = takeF64(src.length);
  if (inner === 1) {
    for (let o = 0, base = 0; o < outer; o++, base += len) {
      let m = -Infinity;
      for (let i = base, end = base + len; i < end; i++) if (src[i]! > m) m = src[i]!;
      let s = 0;
      for (let i = base, end = base + len; i < end; i++) {
        const e = Math.exp(src[i]! - m);
        out[i] = e;
        s += e;
      }
      const inv = 1 / s;
      for (let i = base, end = base + len; i < end; i++) out[i]! *= inv;
    }
    return map(x, out);
  }
  // Strided axis: keep a running max and sum per inner position, sweeping rows contiguously.
  const maxes = new Float64Array(inner);
  const sums = new Float64Array(inner);
  const block = len * inner;
  for (let o = 0, base = 0; o < outer; o++, base += block) {
    maxes.fill(-Infinity);
    for (let k = 0, row = base; k < len; k++, row += inner) {
      for (let j = 0; j < inner; j++) {
        const v = src[row + j]!;
        if (v > maxes[j]!) maxes[j] = v;
      }
    }
    sums.fill(0);
    for (let k = 0, row = base; k < len; k++, row += inner) {
      for (let j = 0; j < inner; j++) {
        const e = Math.exp(src[row + j]! - maxes[j]!);
        out[row + j] = e;
        sums[j]! += e;
      }
    }
    for (let j = 0; j < inner; j++) sums[j] = 1 / sums[j]!;
    for (let k = 0, row = base; k < len; k++, row += inner) {
      for (let j = 0; j < inner; j++) out[row + j]! *= sums[j]!;
    }
  }
  return map(x, out);
}
