/**
 * The one way in (DESIGN.md §1): validates what an accelerator returned before the trusted runtime
 * uses it — the reply answers this request for this layer, has the expected shape and length, is a
 * Float64Array, and every value is an integer residue in [0, p). Anything else is a
 * MalformedResponseError naming the layer; nothing partially valid is returned.
 */
import type { LinearReply } from '../accel/backend.js';
import { MalformedResponseError } from '../errors.js';
import { P } from '../field/prime.js';
import { formatDims, sameDims, sizeOf } from '../tensor/tensor.js';
import { revealForValidation, type Untrusted } from './untrusted.js';

export interface ExpectedReply {
  readonly requestId: number;
  readonly layerId: number;
  readonly layerName: string;
  readonly dims: readonly number[];
}

export function acceptLinearOutput(reply: Untrusted<LinearReply>, expected: ExpectedReply): Float64Array {
  const raw = revealForValidation(reply) as Partial<Record<keyof LinearReply, unknown>> | null;
  const fail = (why: string): never => {
    throw new MalformedResponseError(`invalid accelerator response: ${why}`, { layer: expected.layerName });
  };
  if (raw === null || typeof raw !== 'object') fail('not an object');
  if (raw!.requestId !== expected.requestId) fail(`it answers request ${String(raw!.requestId)}, not ${expected.requestId}`);
  if (raw!.layerId !== expected.layerId) fail(`it is for layer ${String(raw!.layerId)}, not ${expected.layerId}`);
  const dims = raw!.dims;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d))) fail('dims are missing or not integers');
  if (!sameDims(dims as number[], expected.dims)) fail(`shape ${formatDims(dims as number[])}, expected ${formatDims(expected.dims)}`);
  const data = raw!.data;
  if (!(data instanceof Float64Array)) fail(`data is ${Object.prototype.toString.call(data)}, expected a Float64Array`);
  const values = data as Float64Array;
  if (values.length !== sizeOf(expected.dims)) fail(`${values.length} values, expected ${sizeOf(expected.dims)}`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // Rejects NaN, ±Infinity, −0 is fine (it equals 0), fractions and anything outside [0, p).
    if (!(v >= 0 && v < P && Math.floor(v) === v)) fail(`value ${v} at index ${i} is not a residue in [0, p)`);
  }
  return values;
}
