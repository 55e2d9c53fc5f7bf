/**
 * One exact linear layer, f(x) mod p without bias, behind one interface (ExactKernels) with its
 * implementations in kernels/registry.ts. The two CPU implementations are registered here: `js`
 * (plain TypeScript kernels of conv.ts/gemm.ts) and `ort` (onnxruntime-node: im2col + float64
 * MatMul or byte-plane ConvInteger, several times faster; ort-exact.ts, loaded only when opened).
 * Both are exact under the bound of field/prime.ts, which callers check when a layer is registered
 * (assertExact). The trusted runtime (baseline, recompute, precompute) and the accelerator host
 * both use them.
 */
import type { Tensor } from '../tensor/tensor.js';
import { convField, gemmField } from './field.js';
import type { ConvAttrs } from './names.js';
import type { OrtExactKernels } from './ort-exact.js';
import { kernelsOf, openKernels, registerKernel, registerKernelImplementation, type KernelBackend } from './registry.js';
import { aOneOf } from '../util/assert.js';

export interface ExactLinearLayer {
  readonly op: 'Conv' | 'Gemm';
  readonly conv?: ConvAttrs;
  /** Integer weights: Conv [M, C/g, kH, kW]; Gemm [K, N]. */
  readonly w: Tensor;
}

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
  /** f(x) mod p for x (integers, |x| < p) of shape `dims`; canonical residues. */
  apply(layer: KernelLayer, dims: readonly number[], x: Float64Array): Promise<Float64Array>;
  /** Called once per registered layer; throws (naming the layer) when it cannot be computed exactly. */
  prepare?(layer: KernelLayer): Promise<void>;
  /** The layer is gone: free what `prepare` holds for it. */
  release?(layer: KernelLayer): void;
  close(): Promise<void>;
}

/** The plain-TypeScript kernels, synchronously. */
export function applyExactSync(layer: ExactLinearLayer, dims: readonly number[], x: Float64Array): Float64Array {
  const input = { dims, data: x };
  return (layer.op === 'Conv' ? convField(input, layer.w, layer.conv!) : gemmField(input, layer.w)).data;
}

const NOTHING: KernelBackend = { close: async () => {} };

registerKernelImplementation('js', { open: async () => NOTHING });
registerKernel({ op: 'Conv', impl: 'js', run: async (_, layer, dims, x) => convField({ dims, data: x }, layer.w, layer.conv!).data });
registerKernel({ op: 'Gemm', impl: 'js', run: async (_, layer, dims, x) => gemmField({ dims, data: x }, layer.w).data });

registerKernelImplementation('ort', {
  async open(o): Promise<OrtExactKernels> {
    const { OrtExactKernels } = await import('./ort-exact.js');
    return OrtExactKernels.create({ threads: o.threads ?? 1 });
  },
});
registerKernel<'ort', OrtExactKernels>({ op: 'Conv', impl: 'ort', run: async (ort, layer, dims, x) => (await ort.convField({ dims, data: x }, layer.w, layer.conv!)).data });
registerKernel<'ort', OrtExactKernels>({ op: 'Gemm', impl: 'ort', run: async (ort, layer, dims, x) => (await ort.gemmField({ dims, data: x }, layer.w)).data });

/** The plain-TypeScript kernels, ready at once. */
export function jsKernels(): ExactKernels {
  return kernelsOf('js', NOTHING);
}

/** The trusted runtime's kernels by name ('ort' with `threads` onnxruntime threads). */
export async function createExactKernels(name: ExactKernelsName = 'ort', threads = 1): Promise<ExactKernels> {
  return aOneOf(name, 'kernels', EXACT_KERNELS) === 'ort' ? openKernels('ort', { threads }) : openKernels('js', {});
}
