/**
 * ONNX LayerNormalization (opset 17) in float64: each run of the trailing axes from `axis` on is
 * normalized, y = (x − mean)·(1/√(variance + ε))·scale + bias, with scale and bias already
 * broadcast to those axes (the importer does that once). The op's optional second and third
 * outputs, the mean and 1/√(variance + ε) with the normalized axes kept as 1, come from the same
 * statistics.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, type Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';
import { rowStats } from './reduce.js';

export type LayerNormOutput = 'Y' | 'Mean' | 'InvStdDev';

export interface LayerNormAttrs {
  /** First normalized axis, non-negative. */
  readonly axis: number;
  readonly epsilon: number;
  /** Which of the op's three outputs this node computes. */
  readonly output: LayerNormOutput;
}

/** Shape of the Mean and InvStdDev outputs: the normalized axes become 1. */
export function statsDims(dims: readonly number[], axis: number): number[] {
  return dims.map((d, i) => (i < axis ? d : 1));
}

export function layerNormalization(x: Tensor, attrs: LayerNormAttrs, scale?: Tensor, bias?: Tensor): Tensor {
  const { axis, epsilon, output } = attrs;
  if (axis < 0 || axis >= x.dims.length) throw new InvalidArgumentError(`LayerNormalization axis ${axis} is out of range for ${formatDims(x.dims)}`);
  const width = sizeOf(x.dims.slice(axis));
  const rows = x.data.length / width;
  const { mean, invStdDev } = rowStats(x.data, rows, width, epsilon);
  if (output === 'Mean') return { dims: statsDims(x.dims, axis), data: mean };
  if (output === 'InvStdDev') return { dims: statsDims(x.dims, axis), data: invStdDev };
  if (scale === undefined || scale.data.length !== width || (bias !== undefined && bias.data.length !== width)) {
    throw new InvalidArgumentError(`LayerNormalization scale and bias must hold ${width} values (${formatDims(x.dims.slice(axis))})`);
  }
  const src = x.data;
  const g = scale.data;
  const b = bias?.data;
  const out = takeF64(src.length);
  for (let r = 0, base = 0; r < rows; r++, base += width) {
    const m = mean[r]!;
    const inv = invStdDev[r]!;
    if (b === undefined) for (let i = 0; i < width; i++) out[base + i] = (src[base + i]! - m) * inv * g[i]!;
    else for (let i = 0; i < width; i++) out[base + i] = (src[base + i]! - m) * inv * g[i]! + b[i]!;
  }
  return { dims: [...x.dims], data: out };
}
