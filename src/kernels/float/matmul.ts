/**
 * ONNX MatMul in doubles with numpy.matmul semantics: operands of any rank, the leading (batch) dims
 * broadcast, a rank-1 left operand is a row and a rank-1 right operand a column (each dropped from
 * the result). This is the product of two activations (attention's QKᵀ and softmax·V), which the
 * trusted runtime computes itself (one-time pads do not hide a product of two secrets); a product by
 * a constant matrix is a linear layer instead (graph/ops/linear.ts).
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, stridesOf, type Tensor } from '../../tensor/tensor.js';
import { broadcastDims } from './elementwise.js';

interface MatMulPlan {
  readonly out: number[];
  readonly batch: number[];
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

function plan(a: readonly number[], b: readonly number[]): MatMulPlan {
  if (a.length === 0 || b.length === 0) throw new InvalidArgumentError('MatMul operands must have rank ≥ 1');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const [m, k] = [a2[a2.length - 2]!, a2[a2.length - 1]!];
  const [kb, n] = [b2[b2.length - 2]!, b2[b2.length - 1]!];
  if (k !== kb) throw new InvalidArgumentError(`MatMul: ${formatDims(a)} and ${formatDims(b)} disagree on the inner size (${k} vs ${kb})`);
  const batch = broadcastDims(a2.slice(0, -2), b2.slice(0, -2));
  const out = [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
  return { out, batch, m, k, n };
}

export function matmulDims(a: readonly number[], b: readonly number[]): number[] {
  return plan(a, b).out;
}

/** Offsets of each broadcast batch item into an operand of batch dims `dims` (matrix size `size`). */
function batchOffsets(batch: readonly number[], dims: readonly number[], size: number): Int32Array {
  const total = sizeOf(batch);
  const offsets = new Int32Array(total);
  const own = [...new Array<number>(batch.length - dims.length).fill(1), ...dims];
  const strides = stridesOf(own);
  const outStrides = stridesOf(batch);
  for (let i = 0; i < total; i++) {
    let rest = i;
    let o = 0;
    for (let d = 0; d < batch.length; d++) {
      const idx = Math.floor(rest / outStrides[d]!);
      rest -= idx * outStrides[d]!;
      if (own[d]! !== 1) o += idx * strides[d]!;
    }
    offsets[i] = o * size;
  }
  return offsets;
}

/** The output dims, the matrix sizes, and where each broadcast batch item's A (m×k) and B (k×n) start. */
export function matmulPlan(a: readonly number[], b: readonly number[]): { out: number[]; m: number; k: number; n: number; aOffsets: Int32Array; bOffsets: Int32Array } {
  const { out, batch, m, k, n } = plan(a, b);
  const aOffsets = batchOffsets(batch, a.length <= 2 ? [] : a.slice(0, -2), m * k);
  const bOffsets = batchOffsets(batch, b.length <= 2 ? [] : b.slice(0, -2), k * n);
  return { out, m, k, n, aOffsets, bOffsets };
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  const { out, m, k, n, aOffsets: aOff, bOffsets: bOff } = matmulPlan(a.dims, b.dims);
  const y = new Float64Array(sizeOf(out));
  const A = a.data;
  const B = b.data;
  for (let t = 0; t < aOff.length; t++) matrixProduct(A, aOff[t]!, B, bOff[t]!, y, t * m * n, m, k, n);
  return { dims: out, data: y };
}

/**
 * y[yo…] = A[ao…] (m × k) · B[bo…] (k × n), row-major. Four rows of A at a time share each row of B
 * (a quarter of the loads of B); every output still sums its k products in order p = 0, 1, …, so
 * the result is the plain triple loop's, bit for bit.
 */
function matrixProduct(A: Float64Array, ao: number, B: Float64Array, bo: number, y: Float64Array, yo: number, m: number, k: number, n: number): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const [r0, r1, r2, r3] = [yo + i * n, yo + (i + 1) * n, yo + (i + 2) * n, yo + (i + 3) * n];
    const a0 = ao + i * k;
    for (let p = 0; p < k; p++) {
      const v0 = A[a0 + p]!;
      const v1 = A[a0 + k + p]!;
      const v2 = A[a0 + 2 * k + p]!;
      const v3 = A[a0 + 3 * k + p]!;
      const b = bo + p * n;
      for (let j = 0; j < n; j++) {
        const bv = B[b + j]!;
        y[r0 + j] += v0 * bv;
        y[r1 + j] += v1 * bv;
        y[r2 + j] += v2 * bv;
        y[r3 + j] += v3 * bv;
      }
    }
  }
  for (; i < m; i++) {
    const row = yo + i * n;
    for (let p = 0; p < k; p++) {
      const v = A[ao + i * k + p]!;
      const b = bo + p * n;
      for (let j = 0; j < n; j++) y[row + j] += v * B[b + j]!;
    }
  }
}
