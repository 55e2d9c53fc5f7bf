/**
 * One exact linear layer, f(x) mod p without bias, behind one interface (ExactKernels) with its
 * implementations in kernels/registry.ts. The two CPU implementations are registered here: `js`
 * (plain TypeScript kernels of conv.ts/gemm.ts) and `ort` (onnxruntime-node: integer GEMMs over limbs,
 * byte-plane ConvInteger or float64 MatMul, as its start-up probes allow; ort-exact.ts, loaded only
 * when opened).
 * Both are exact under the bound of field/prime.ts, which callers check when a layer is registered
 * (assertExact). The trusted runtime (baseline, recompute, precompute) and the accelerator host
 * both use them.
 */
import type { Residues } from '../field/residues.js';
import { convField, gemmField } from './field.js';
import type { LinearWeights } from './names.js';
import type { OrtExactKernels } from './ort-exact.js';
import { kernelsOf, openKernels, registerKernel, registerKernelImplementation, type KernelBackend } from './registry.js';
import { aOneOf } from '../util/assert.js';

/** What an exact kernel needs of a layer: its LinearSpec and integer weights. */
export type ExactLinearLayer = LinearWeights;

/** A layer as a kernel sees it: the name (for errors) and the input dims (batch first) where known. */
export interface KernelLayer extends ExactLinearLayer {
  readonly name?: string;
  readonly inDims?: readonly number[];
}

/** The trusted runtime's implementations (an accelerator may run others, e.g. 'webgpu'). */
export type ExactKernelsName = 'js' | 'ort';
export const EXACT_KERNELS: readonly ExactKernelsName[] = ['ort', 'js'];

/** An open implementation's kernels (kernels/registry.ts `openKernels`). */
export interface ExactKernels {
  readonly name: string;
  /** What computes, for the user: e.g. "nvidia NVIDIA H200 (…)" or "CPU, ort kernels". */
  readonly device?: string;
  /** f(x) mod p for residues x of shape `dims`; canonical residues. */
  apply(layer: KernelLayer, dims: readonly number[], x: Residues): Promise<Residues>;
  /** Called once per registered layer; throws (naming the layer) when it cannot be computed exactly. */
  prepare?(layer: KernelLayer): Promise<void>;
  /** The layer is gone: free what `prepare` holds for it. */
  release?(layer: KernelLayer): void;
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

const NOTHING: KernelBackend = { close: async () => {} };

registerKernelImplementation('js', { open: async () => NOTHING });
registerKernel({ op: 'Conv', impl: 'js', run: async (_, layer, dims, x) => applyExactSync(layer, dims, x) });
registerKernel({ op: 'Gemm', impl: 'js', run: async (_, layer, dims, x) => applyExactSync(layer, dims, x) });

registerKernelImplementation('ort', {
  async open(o): Promise<OrtExactKernels> {
    const { OrtExactKernels } = await import('./ort-exact.js');
    return OrtExactKernels.create({ threads: o.threads ?? 1, ...(o.path !== undefined ? { path: o.path } : {}) });
  },
});
registerKernel<'ort', OrtExactKernels>({
  op: 'Conv',
  impl: 'ort',
  run: async (ort, layer, dims, x) => asResidues((await ort.convField({ dims, data: asDoubles(x) }, layer.w, layer.conv!)).data),
  dispose: (ort, layer) => ort.release(layer.w.data),
});
registerKernel<'ort', OrtExactKernels>({
  op: 'Gemm',
  impl: 'ort',
  run: async (ort, layer, dims, x) => asResidues((await ort.gemmField({ dims, data: asDoubles(x) }, layer.w)).data),
  dispose: (ort, layer) => ort.release(layer.w.data),
});

/** The plain-TypeScript kernels, ready at once. */
export function jsKernels(): ExactKernels {
  return kernelsOf('js', NOTHING);
}

/** The trusted runtime's kernels by name ('ort' with `threads` onnxruntime threads). */
export async function createExactKernels(name: ExactKernelsName = 'ort', threads = 1): Promise<ExactKernels> {
  return aOneOf(name, 'kernels', EXACT_KERNELS) === 'ort' ? openKernels('ort', { threads }) : openKernels('js', {});
}
