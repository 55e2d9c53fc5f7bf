/**
 * Float element-wise binary kernels (ONNX Add, Sub, Mul, Div, Pow) with numpy-style multidirectional
 * broadcasting. Same-shape and scalar operands take direct loops; every other broadcast is
 * coalesced into as few axes as possible and swept one contiguous output row at a time, so a
 * per-channel operand ([1, C, 1, 1] or [C, 1, 1] against [N, C, H, W]) costs one loop per plane.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, type Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';

export type BinaryOp = 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow';

/** The numpy multidirectional broadcast of two shapes; throws when they are incompatible. */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)]!;
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)]!;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else throw new InvalidArgumentError(`shapes ${formatDims(a)} and ${formatDims(b)} are not broadcastable (axis ${i}: ${da} vs ${db})`);
  }
  return out;
}

/** out[o + i] = A[ia + i·sa] op B[ib + i·sb] for i < n (sa, sb are 0 or 1). */
function run(op: BinaryOp, out: Float64Array, o: number, A: Float64Array, ia: number, sa: number, B: Float64Array, ib: number, sb: number, n: number): void {
  if (sa === 1 && sb === 1) {
    switch (op) {
      case 'Add':
        for (let i = 0; i < n; i++) out[o + i] = A[ia + i]! + B[ib + i]!;
        return;
      case 'Sub':
        for (let i = 0; i < n; i++) out[o + i] = A[ia + i]! - B[ib + i]!;
        return;
      case 'Mul':
        for (let i = 0; i < n; i++) out[o + i] = A[ia + i]! * B[ib + i]!;
        return;
      case 'Div':
        for (let i = 0; i < n; i++) out[o + i] = A[ia + i]! / B[ib + i]!;
        return;
      case 'Pow':
        for (let i = 0; i < n; i++) out[o + i] = Math.pow(A[ia + i]!, B[ib + i]!);
        return;
    }
  }
  if (sb === 0) {
    const b = B[ib]!;
    switch (op) {
      case 'Add':
        for (let i = 0, p = ia; i < n; i++, p += sa) out[o + i] = A[p]! + b;
        return;
      case 'Sub':
        for (let i = 0, p = ia; i < n; i++, p += sa) out[o + i] = A[p]! - b;
        return;
      case 'Mul':
        for (let i = 0, p = ia; i < n; i++, p += sa) out[o + i] = A[p]! * b;
        return;
      case 'Div':
        for (let i = 0, p = ia; i < n; i++, p += sa) out[o + i] = A[p]! / b;
        return;
      case 'Pow':
        for (let i = 0, p = ia; i < n; i++, p += sa) out[o + i] = Math.pow(A[p]!, b);
        return;
    }
  }
  // sa === 0, sb === 1
  const a = A[ia]!;
  switch (op) {
    case 'Add':
      for (let i = 0; i < n; i++) out[o + i] = a + B[ib + i]!;
      return;
    case 'Sub':
      for (let i = 0; i < n; i++) out[o + i] = a - B[ib + i]!;
      return;
    case 'Mul':
      for (let i = 0; i < n; i++) out[o + i] = a * B[ib + i]!;
      return;
    case 'Div':
      for (let i = 0; i < n; i++) out[o + i] = a / B[ib + i]!;
      return;
    case 'Pow':
      for (let i = 0; i < n; i++) out[o + i] = Math.pow(a, B[ib + i]!);
      return;
  }
}

/** ONNX Add / Sub / Mul / Div / Pow with multidirectional broadcasting (Pow: Math.pow, so (−8)^(1/3) is NaN, as in numpy). */
export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (op !== 'Add' && op !== 'Sub' && op !== 'Mul' && op !== 'Div' && op !== 'Pow') throw new InvalidArgumentError(`unknown binary op ${String(op)}`);
  const dims = broadcastDims(a.dims, b.dims);
  const total = sizeOf(dims);
  const out = takeF64(total); // every element is written below
  if (total === 0) return { dims, data: out };
  const A = a.data;
  const B = b.data;
  // Fast paths: both full size (same shape up to leading ones), or one side a single value.
  if (A.length === total && B.length === total) {
    run(op, out, 0, A, 0, 1, B, 0, 1, total);
    return { dims, data: out };
  }
  if (A.length === total && B.length === 1) {
    run(op, out, 0, A, 0, 1, B, 0, 0, total);
    return { dims, data: out };
  }
  if (A.length === 1 && B.length === total) {
    run(op, out, 0, A, 0, 0, B, 0, 1, total);
    return { dims, data: out };
  }

  // General case. Per output axis, each operand either advances (full) or repeats (broadcast).
  const rank = dims.length;
  const fullA: boolean[] = [];
  const fullB: boolean[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < rank; i++) {
    const d = dims[i]!;
    if (d === 1) continue; // size-1 output axes do not move anything
    const da = i < rank - a.dims.length ? 1 : a.dims[i - (rank - a.dims.length)]!;
    const db = i < rank - b.dims.length ? 1 : b.dims[i - (rank - b.dims.length)]!;
    const fa = da !== 1;
    const fb = db !== 1;
    const last = sizes.length - 1;
    if (last >= 0 && fullA[last] === fa && fullB[last] === fb) {
      sizes[last]! *= d; // coalesce with the previous axis: same broadcast pattern
    } else {
      sizes.push(d);
      fullA.push(fa);
      fullB.push(fb);
    }
  }
  const r = sizes.length;
  // Operand strides per coalesced axis (0 where broadcast).
  const strideA = new Array<number>(r).fill(0);
  const strideB = new Array<number>(r).fill(0);
  for (let i = r - 1, sa = 1, sb = 1; i >= 0; i--) {
    if (fullA[i]) {
      strideA[i] = sa;
      sa *= sizes[i]!;
    }
    if (fullB[i]) {
      strideB[i] = sb;
      sb *= sizes[i]!;
    }
  }
  const n = sizes[r - 1]!;
  const innerA = strideA[r - 1]!;
  const innerB = strideB[r - 1]!;
  const rows = total / n;
  const counter = new Array<number>(r - 1).fill(0);
  let ia = 0;
  let ib = 0;
  for (let row = 0, o = 0; row < rows; row++, o += n) {
    run(op, out, o, A, ia, innerA, B, ib, innerB, n);
    // advance the odometer over the outer coalesced axes
    for (let k = r - 2; k >= 0; k--) {
      ia += strideA[k]!;
      ib += strideB[k]!;
      if (++counter[k]! < sizes[k]!) break;
      ia -= strideA[k]! * sizes[k]!;
      ib -= strideB[k]! * sizes[k]!;
      counter[k] = 0;
    }
  }
  return { dims, data: out };
}
