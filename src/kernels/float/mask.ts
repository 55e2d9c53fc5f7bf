/**
 * Float kernels for the ops transformer exports use to build attention masks and positions, with
 * ONNX semantics: Expand (numpy broadcast to a shape), Where, Equal, Range and Trilu. Booleans are
 * 0/1 doubles (every value in slalom's graphs is a double). Masks are small (sequence × sequence),
 * so these broadcast by plain index mapping rather than the coalesced loops of elementwise.ts.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, stridesOf, type Tensor } from '../../tensor/tensor.js';
import { broadcastDims } from './elementwise.js';

/** x's values laid out over `dims` (a numpy broadcast target of x's shape). */
export function broadcastTo(x: Tensor, dims: readonly number[]): Float64Array {
  const total = sizeOf(dims);
  const rank = dims.length;
  if (x.dims.length > rank) throw new InvalidArgumentError(`cannot broadcast ${formatDims(x.dims)} to ${formatDims(dims)}`);
  const own = [...new Array<number>(rank - x.dims.length).fill(1), ...x.dims];
  own.forEach((d, i) => {
    if (d !== 1 && d !== dims[i]) throw new InvalidArgumentError(`cannot broadcast ${formatDims(x.dims)} to ${formatDims(dims)}`);
  });
  if (sizeOf(own) === total) return x.data.slice();
  const inStrides = stridesOf(own).map((s, i) => (own[i] === 1 ? 0 : s));
  const outStrides = stridesOf(dims);
  const out = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    let rest = i;
    let src = 0;
    for (let d = 0; d < rank; d++) {
      const idx = Math.floor(rest / outStrides[d]!);
      rest -= idx * outStrides[d]!;
      src += idx * inStrides[d]!;
    }
    out[i] = x.data[src]!;
  }
  return out;
}

/** ONNX Expand: the broadcast of x's shape with `shape` (which may be smaller or hold 1s). */
export function expandDims(xDims: readonly number[], shape: readonly number[]): number[] {
  return broadcastDims(xDims, shape);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const dims = expandDims(x.dims, shape);
  return { dims, data: broadcastTo(x, dims) };
}

export function whereDims(c: readonly number[], x: readonly number[], y: readonly number[]): number[] {
  return broadcastDims(broadcastDims(c, x), y);
}

/** ONNX Where: x where the condition is non-zero, else y, all three broadcast. */
export function where(cond: Tensor, x: Tensor, y: Tensor): Tensor {
  const dims = whereDims(cond.dims, x.dims, y.dims);
  const [c, a, b] = [broadcastTo(cond, dims), broadcastTo(x, dims), broadcastTo(y, dims)];
  for (let i = 0; i < a.length; i++) if (c[i] === 0) a[i] = b[i]!;
  return { dims, data: a };
}

/** ONNX Equal: 1 where a = b (broadcast), else 0. */
export function equal(a: Tensor, b: Tensor): Tensor {
  return compare(a, b, (x, y) => x === y);
}

/** ONNX's comparisons (Equal, Greater, Less, GreaterOrEqual, LessOrEqual) as 1/0, broadcast. */
export function compare(a: Tensor, b: Tensor, holds: (x: number, y: number) => boolean): Tensor {
  const dims = broadcastDims(a.dims, b.dims);
  const [x, y] = [broadcastTo(a, dims), broadcastTo(b, dims)];
  for (let i = 0; i < x.length; i++) x[i] = holds(x[i]!, y[i]!) ? 1 : 0;
  return { dims, data: x };
}

/** ONNX Range: start, start + delta, … while before limit; max(ceil((limit − start)/delta), 0) values. */
export function range(start: number, limit: number, delta: number): Tensor {
  if (delta === 0 || !Number.isFinite(delta)) throw new InvalidArgumentError(`Range delta ${delta} must be finite and non-zero`);
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = start + i * delta;
  return { dims: [n], data };
}

/**
 * ONNX Trilu on the last two axes: upper keeps (i, j) with j − i ≥ k, lower keeps j − i ≤ k; the
 * rest become 0.
 */
export function trilu(x: Tensor, upper: boolean, k: number): Tensor {
  const rank = x.dims.length;
  if (rank < 2) throw new InvalidArgumentError(`Trilu needs rank ≥ 2, got ${formatDims(x.dims)}`);
  const [rows, cols] = [x.dims[rank - 2]!, x.dims[rank - 1]!];
  const data = x.data.slice();
  for (let base = 0; base < data.length; base += rows * cols) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const keep = upper ? j - i >= k : j - i <= k;
        if (!keep) data[base + i * cols + j] = 0;
      }
    }
  }
  return { dims: [...x.dims], data };
}
