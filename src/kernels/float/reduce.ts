/**
 * Float reductions with ONNX semantics: ReduceMean over any set of axes (keepdims or not), and the
 * per-row statistics LayerNormalization needs (mean and 1/√(variance + ε) over trailing axes).
 * Sums run in float64 in input order.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, type Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';

/** Sorted, de-duplicated, non-negative axes; throws on an axis outside [−rank, rank). */
export function normalizeAxes(axes: readonly number[], rank: number, op: string): number[] {
  const out = new Set<number>();
  for (const a of axes) {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new InvalidArgumentError(`${op} axis ${a} is out of range for rank ${rank}`);
    out.add(a < 0 ? a + rank : a);
  }
  return [...out].sort((x, y) => x - y);
}

/** The shape after reducing `axes` (already normalized): kept as 1 or dropped. */
export function reducedDims(dims: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  const reduced = new Set(axes);
  return keepdims ? dims.map((d, i) => (reduced.has(i) ? 1 : d)) : dims.filter((_, i) => !reduced.has(i));
}

/** ONNX ReduceMean over normalized `axes`; an empty list reduces nothing (a copy). */
export function reduceMean(x: Tensor, axes: readonly number[], keepdims = true): Tensor {
  const dims = reducedDims(x.dims, axes, keepdims);
  const outSize = sizeOf(dims);
  const count = sizeOf(axes.map((a) => x.dims[a]!));
  if (count === 0) throw new InvalidArgumentError(`ReduceMean over an empty axis of ${formatDims(x.dims)}`);
  const out = takeF64(outSize).fill(0);
  // Walk the input in order; the output index advances along kept axes only (stride 0 on reduced ones).
  const rank = x.dims.length;
  const reduced = new Set(axes);
  const outStride = new Array<number>(rank).fill(0);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    if (reduced.has(i)) continue;
    outStride[i] = s;
    s *= x.dims[i]!;
  }
  const src = x.data;
  const counter = new Array<number>(rank).fill(0);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    out[o]! += src[i]!;
    for (let k = rank - 1; k >= 0; k--) {
      o += outStride[k]!;
      if (++counter[k]! < x.dims[k]!) break;
      o -= outStride[k]! * x.dims[k]!;
      counter[k] = 0;
    }
  }
  const inv = 1 / count;
  for (let i = 0; i < outSize; i++) out[i]! *= inv;
  return { dims, data: out };
}

/** Mean and 1/√(variance + ε) of each of the `rows` consecutive runs of `width` values (LayerNormalization). */
export function rowStats(data: Float64Array, rows: number, width: number, epsilon: number): { mean: Float64Array; invStdDev: Float64Array } {
  const mean = new Float64Array(rows);
  const invStdDev = new Float64Array(rows);
  for (let r = 0, base = 0; r < rows; r++, base += width) {
    let s = 0;
    for (let i = base; i < base + width; i++) s += data[i]!;
    const m = s / width;
    // Two passes: Σ(x − m)² does not cancel the way Σx² − (Σx)²/n does.
    let v = 0;
    for (let i = base; i < base + width; i++) {
      const d = data[i]! - m;
      v += d * d;
    }
    mean[r] = m;
    invStdDev[r] = 1 / Math.sqrt(v / width + epsilon);
  }
  return { mean, invStdDev };
}
