/**
 * A dense row-major tensor of doubles. One representation serves three uses:
 * - float activations (the float reference path and the trusted runtime's non-linear layers);
 * - quantized fixed-point integers (exact while below 2^53);
 * - field elements of Z_p (canonical residues in [0, p) or centered values; see field/).
 * Which one a tensor holds is a property of where it flows, not of the type.
 */
import { InvalidArgumentError } from '../errors.js';

export interface Tensor {
  readonly dims: readonly number[];
  readonly data: Float64Array;
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

/** Builds a tensor, checking that the data length matches the shape. */
export function tensor(dims: readonly number[], data?: Float64Array | ArrayLike<number>): Tensor {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new InvalidArgumentError(`invalid dimension ${d} in shape [${dims.join(', ')}]`);
  }
  const n = sizeOf(dims);
  const values = data === undefined ? new Float64Array(n) : data instanceof Float64Array ? data : Float64Array.from(data);
  if (values.length !== n) {
    throw new InvalidArgumentError(`shape [${dims.join(', ')}] needs ${n} values, got ${values.length}`);
  }
  return { dims: [...dims], data: values };
}

export function formatDims(dims: readonly number[]): string {
  return `[${dims.join('×')}]`;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
