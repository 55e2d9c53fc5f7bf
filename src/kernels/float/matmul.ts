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

export function matmul(a: Tensor, b: Tensor): Tensor {
  const { out, batch, m, k, n } = plan(a.dims, b.dims);
  const aBatch = a.dims.length <= 2 ? [] : a.dims.slice(0, -2);
  const bBatch = b.dims.length <= 2 ? [] : b.dims.slice(0, -2);
  const aOff = batchOffsets(batch, aBatch, m * k);
  const bOff = batchOffsets(batch, bBatch, k * n);
  const y = new Float64Array(sizeOf(out));
  const A = a.data;
  const B = b.data;
  for (let t = 0; t < aOff.length; t++) {
    const ao = aOff[t]!;
    const bo = bOff[t]!;
    const yo = t * m * n;
    for (let i = 0; i < m; i++) {
      const row = yo + i * n;
      for (let p = 0; p < k; p++) {
        const av = A[ao + i * k + p]!;
        const bRow = bo + p * n;
        for (let j = 0; j < n; j++) y[row + j] += av * B[bRow + j]!;
      }
    }
  }
  return { dims: out, data: y };
}
