/**
 * The output shape of a linear layer for an input shape (kernels/names.ts LinearSpec): the one
 * computation the gate (what a reply must look like), the accelerator host, the service and its
 * client (how large a reply may be) all use.
 */
import { InvalidArgumentError } from '../errors.js';
import { convOutputDims } from './conv.js';
import { gemmOutputDims } from './gemm.js';
import type { LinearSpec } from './names.js';

/** y's dims for x's dims `inDims`; InvalidArgumentError when they do not fit the layer. */
export function outputDims(spec: LinearSpec, inDims: readonly number[]): number[] {
  if (spec.op === 'Conv') {
    if (spec.conv === undefined) throw new InvalidArgumentError('a Conv layer needs its attributes');
    return convOutputDims(inDims, spec.wDims, spec.conv);
  }
  if (spec.op === 'Gemm') return gemmOutputDims(inDims, spec.wDims);
  throw new InvalidArgumentError(`op must be Conv or Gemm, got '${String(spec.op)}'`);
}
