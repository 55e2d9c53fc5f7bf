/**
 * Dense layer Y = X·W + b (ONNX `Gemm` with transB and alpha already applied) in plain JavaScript
 * doubles (docs/design.md §2, §6).
 *
 * Exactness: each output is b[n] + Σ_k x[b,k]·w[k,n] and every partial sum the kernel forms is b[n]
 * plus a sub-sum of those products, so for integer x (|x| ≤ p − 1), integer w and an integer bias all
 * of them are integers of magnitude at most (p − 1)·Σ_k|w[k,n]| + |b[n]|; while that is below 2^53
 * (`linearIsExact`, field/prime.ts; `assertExact`, field.ts) every double operation is exact.
 *
 * Layout: x [B, K] and w [K, N] row-major; the kernel walks N in L1-sized column blocks and, per block,
 * adds four rows of w times two rows of x at a time along the contiguous N axis.
 */
import { InvalidArgumentError } from '../errors.js';
import { formatDims, type Tensor } from '../tensor/tensor.js';

/** Columns of the output per block: two output rows and four rows of w stay in L1. */
const N_BLOCK = 512;

/** [B, N] for x [B, K] times w [K, N]; throws InvalidArgumentError on inconsistent shapes. */
export function gemmOutputDims(xDims: readonly number[], wDims: readonly number[]): [number, number] {
  if (xDims.length !== 2 || wDims.length !== 2) {
    throw new InvalidArgumentError(`Gemm: x and w must be 2-D, got ${formatDims(xDims)} and ${formatDims(wDims)}`);
  }
  if (xDims[1] !== wDims[0]) {
    throw new InvalidArgumentError(`Gemm: x ${formatDims(xDims)} and w ${formatDims(wDims)} disagree on K`);
  }
  return [xDims[0]!, wDims[1]!];
}

/** Y = X·W + b for x [B, K], w [K, N], bias [N] (optional), in doubles. */
export function gemm(x: Tensor, w: Tensor, bias?: Float64Array): Tensor {
  const [b, n] = gemmOutputDims(x.dims, w.dims);
  const k = w.dims[0]!;
  if (x.data.length !== b * k) throw new InvalidArgumentError(`Gemm: x has ${x.data.length} values for shape ${formatDims(x.dims)}`);
  if (w.data.length !== k * n) throw new InvalidArgumentError(`Gemm: w has ${w.data.length} values for shape ${formatDims(w.dims)}`);
  if (bias !== undefined && bias.length !== n) throw new InvalidArgumentError(`Gemm: bias has ${bias.length} values, expected ${n}`);
  const out = new Float64Array(b * n);
  if (bias !== undefined) for (let r = 0; r < b; r++) out.set(bias, r * n);
  gemmAccumulate(x.data, w.data, out, b, k, n);
  return { dims: [b, n], data: out };
}

/** out[B, N] += x[B, K]·w[K, N], all row-major. */
function gemmAccumulate(x: Float64Array, w: Float64Array, out: Float64Array, b: number, k: number, n: number): void {
  const k4 = k - (k % 4);
  for (let n0 = 0; n0 < n; n0 += N_BLOCK) {
    const n1 = Math.min(n, n0 + N_BLOCK);
    for (let kk = 0; kk < k4; kk += 4) {
      const w0 = kk * n;
      const w1 = w0 + n;
      const w2 = w1 + n;
      const w3 = w2 + n;
      let r = 0;
      for (; r + 1 < b; r += 2) {
        const xa = r * k + kk;
        const xb = xa + k;
        const a0 = x[xa]!, a1 = x[xa + 1]!, a2 = x[xa + 2]!, a3 = x[xa + 3]!;
        const c0 = x[xb]!, c1 = x[xb + 1]!, c2 = x[xb + 2]!, c3 = x[xb + 3]!;
        const oa = r * n;
        const ob = oa + n;
        for (let j = n0; j < n1; j++) {
          const v0 = w[w0 + j]!, v1 = w[w1 + j]!, v2 = w[w2 + j]!, v3 = w[w3 + j]!;
          out[oa + j] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
          out[ob + j] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3;
        }
      }
      if (r < b) {
        const xa = r * k + kk;
        const a0 = x[xa]!, a1 = x[xa + 1]!, a2 = x[xa + 2]!, a3 = x[xa + 3]!;
        const oa = r * n;
        for (let j = n0; j < n1; j++) {
          out[oa + j] += a0 * w[w0 + j]! + a1 * w[w1 + j]! + a2 * w[w2 + j]! + a3 * w[w3 + j]!;
        }
      }
    }
    for (let kk = k4; kk < k; kk++) {
      const w0 = kk * n;
      for (let r = 0; r < b; r++) {
        const a = x[r * k + kk]!;
        const oa = r * n;
        for (let j = n0; j < n1; j++) out[oa + j] += a * w[w0 + j]!;
      }
    }
  }
}
