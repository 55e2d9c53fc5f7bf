/**
 * A dense row-major tensor of floats (after onnxruntime's `Tensor` and its `DataTypeMap`): float
 * activations (the float reference path and the trusted runtime's non-linear layers) and integer
 * weights (exact while below 2^53). Field elements are another type, FieldTensor (field-tensor.ts),
 * over 32-bit residues: a residue cannot be passed where a float is meant without a visible
 * conversion, because a Uint32Array is not a Float64Array to the type checker.
 */
import { InvalidArgumentError } from '../errors.js';

export type FloatDType = 'float32' | 'float64';

/** The typed array behind each float dtype. */
export interface FloatArrayMap {
  readonly float32: Float32Array;
  readonly float64: Float64Array;
}

export interface Tensor<D extends FloatDType = 'float64'> {
  readonly dims: readonly number[];
  readonly data: FloatArrayMap[D];
}

/** Number of elements of a shape. */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i]!;
  }
  return strides;
}

/** Throws unless every dimension is a non-negative integer and `length` values fill the shape; returns the size. */
export function checkShape(dims: readonly number[], length?: number): number {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new InvalidArgumentError(`invalid dimension ${d} in shape [${dims.join(', ')}]`);
  }
  const n = sizeOf(dims);
  if (length !== undefined && length !== n) throw new InvalidArgumentError(`shape [${dims.join(', ')}] needs ${n} values, got ${length}`);
  return n;
}

/** Builds a float64 tensor, checking that the data length matches the shape. */
export function tensor(dims: readonly number[], data?: Float64Array | ArrayLike<number>): Tensor {
  const n = checkShape(dims);
  const values = data === undefined ? new Float64Array(n) : data instanceof Float64Array ? data : Float64Array.from(data);
  checkShape(dims, values.length);
  return { dims: [...dims], data: values };
}

export function formatDims(dims: readonly number[]): string {
  return `[${dims.join('×')}]`;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
