/**
 * One exact linear layer, f(x) mod p without bias, behind one interface with two implementations:
 * `js` (plain TypeScript kernels of conv.ts/gemm.ts) and `ort` (onnxruntime-node: im2col + float64
 * MatMul or byte-plane ConvInteger, several times faster; ort-exact.ts). Both are exact under the
 * bound of field/prime.ts, which callers check when a layer is registered (assertExact).
 * The trusted runtime (baseline, recompute, precompute) and the accelerator host both use it.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Residues } from '../field/residues.js';
import { convField, gemmField } from './field.js';
import type { LinearWeights } from './names.js';
import { OrtExactKernels } from './ort-exact.js';

/** What an exact kernel needs of a layer: its LinearSpec and integer weights. */
export type ExactLinearLayer = LinearWeights;

export type ExactKernelsName = 'js' | 'ort';
export const EXACT_KERNELS: readonly ExactKernelsName[] = ['ort', 'js'];

export interface ExactKernels {
  readonly name: ExactKernelsName;
  /** f(x) mod p for residues x of shape `dims`; canonical residues. */
  apply(layer: ExactLinearLayer, dims: readonly number[], x: Residues): Promise<Residues>;
  close(): Promise<void>;
}

/**
 * The kernels compute in doubles (exact under the bound above: every residue converts exactly, and
 * so does every canonical result < p), so residues go in and come out through one conversion each.
 */
const asDoubles = (x: Residues): Float64Array => Float64Array.from(x);
const asResidues = (y: Float64Array): Residues => Uint32Array.from(y);

/** The plain-TypeScript kernels, synchronously. */
export function applyExactSync(layer: ExactLinearLayer, dims: readonly number[], x: Residues): Residues {
  const input = { dims, data: asDoubles(x) };
  return asResidues((layer.op === 'Conv' ? convField(input, layer.w, layer.conv!) : gemmField(input, layer.w)).data);
}

export function jsKernels(): ExactKernels {
  return {
    name: 'js',
    apply: async (layer, dims, x) => applyExactSync(layer, dims, x),
    async close() {},
  };
}

export async function ortKernels(threads = 1): Promise<ExactKernels> {
  const ort = await OrtExactKernels.create({ threads });
  return {
    name: 'ort',
    async apply(layer, dims, x) {
      const input = { dims, data: asDoubles(x) };
      return asResidues((layer.op === 'Conv' ? await ort.convField(input, layer.w, layer.conv!) : await ort.gemmField(input, layer.w)).data);
    },
    close: () => ort.close(),
  };
}

export async function createExactKernels(name: ExactKernelsName = 'ort', threads = 1): Promise<ExactKernels> {
  if (name === 'js') return jsKernels();
  if (name === 'ort') return ortKernels(threads);
  throw new InvalidArgumentError(`kernels must be one of ${EXACT_KERNELS.join(', ')}, got '${String(name)}'`);
}
