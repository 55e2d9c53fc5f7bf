/**
 * Zero insertion for ConvTranspose (graph/ops/conv-transpose.ts): on an NCHW tensor, puts
 * stride − 1 zeros between neighbouring values along H and W, then crops rows and columns off the
 * edges (a ConvTranspose whose pads exceed the kernel's reach). The result, padded and convolved
 * with the flipped kernel, is the transposed convolution.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, type Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';

export interface ZeroInsertAttrs {
  /** [sH, sW]: output row i·sH holds input row i. */
  readonly strides: readonly [number, number];
  /** [top, left, bottom, right] rows/columns removed after insertion (non-negative). */
  readonly crops: readonly [number, number, number, number];
}

export function zeroInsertDims(dims: readonly number[], { strides, crops }: ZeroInsertAttrs): number[] {
  if (dims.length !== 4) throw new InvalidArgumentError(`zero insertion needs an NCHW input, got ${formatDims(dims)}`);
  const [n, c, h, w] = dims as [number, number, number, number];
  return [n, c, (h - 1) * strides[0] + 1 - crops[0] - crops[2], (w - 1) * strides[1] + 1 - crops[1] - crops[3]];
}

export function zeroInsert(x: Tensor, attrs: ZeroInsertAttrs): Tensor {
  const dims = zeroInsertDims(x.dims, attrs);
  const [n, c, h, w] = x.dims as [number, number, number, number];
  const [oh, ow] = [dims[2]!, dims[3]!];
  if (oh <= 0 || ow <= 0) throw new InvalidArgumentError(`zero insertion of ${formatDims(x.dims)} leaves nothing (${formatDims(dims)})`);
  const [sH, sW] = attrs.strides;
  const [top, left] = attrs.crops;
  const out = takeF64(n * c * oh * ow).fill(0);
  const src = x.data;
  for (let plane = 0; plane < n * c; plane++) {
    const inBase = plane * h * w;
    const outBase = plane * oh * ow;
    for (let i = 0; i < h; i++) {
      const r = i * sH - top;
      if (r < 0 || r >= oh) continue;
      const row = outBase + r * ow;
      for (let j = 0; j < w; j++) {
        const col = j * sW - left;
        if (col >= 0 && col < ow) out[row + col] = src[inBase + i * w + j]!;
      }
    }
  }
  return { dims, data: out };
}
