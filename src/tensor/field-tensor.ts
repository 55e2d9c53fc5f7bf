/**
 * A tensor of field elements (docs/design.md §2, §7): canonical residues of Z_p in a Uint32Array
 * (field/residues.ts). What flows between linear layers, to and from the accelerator and through
 * the boundary pass; floats are `Tensor` (tensor.ts), and the conversions between the two are the
 * quantization passes of quant/ — never an implicit cast.
 */
import type { Residues } from '../field/residues.js';
import { checkShape } from './tensor.js';

export interface FieldTensor {
  readonly dims: readonly number[];
  readonly data: Residues;
}

/** Builds a field tensor (zeros without data), checking that the data length matches the shape. */
export function fieldTensor(dims: readonly number[], data?: Residues): FieldTensor {
  const n = checkShape(dims);
  const values = data ?? new Uint32Array(n);
  checkShape(dims, values.length);
  return { dims: [...dims], data: values };
}
