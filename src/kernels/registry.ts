/**
 * Exact linear kernels by (op, implementation), after tfjs's kernel_registry.ts. An implementation ('js', 'ort', 'webgpu', …) registers once with what its
 * kernels share (`open`: onnxruntime sessions, a GPU device), then one kernel per ONNX op it computes
 * (`Conv`, `Gemm`); a second registration of a name or of an (op, implementation) pair throws.
 * `openKernels(impl, options)` starts an implementation and returns the ExactKernels that send each
 * layer to the kernel registered for (layer.op, impl), so the trusted runtime (baseline, recompute,
 * precompute) and every accelerator host (the worker thread, `slalom accelerator serve`) find their
 * kernels here, and a faster kernel is one more registration, not a new branch.
 *
 * Registered where they are defined: 'js' and 'ort' in exact-linear.ts, 'webgpu' in
 * accel/webgpu/register.ts, 'onnx-graph' in accel/http/onnx-graph-kernels.ts. An implementation adds its option type
 * to `KernelOptionMap` (declaration merging), so `openKernels` checks each implementation's options.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Residues } from '../field/residues.js';
import type { ExactKernels, KernelLayer } from './exact-linear.js';
import type { LinearOpName } from './names.js';
import type { OrtKernelPath } from './ort-exact.js';

/** Options per implementation; implementations outside kernels/ add theirs by declaration merging. */
export interface KernelOptionMap {
  /** slalom's plain TypeScript kernels (conv.ts, gemm.ts): no options. */
  js: Record<string, never>;
  /** onnxruntime-node's CPU kernels (ort-exact.ts); `path` forces one of its exact paths. */
  ort: { readonly threads?: number; readonly path?: 'auto' | OrtKernelPath };
}

export type KernelImplName = keyof KernelOptionMap & string;

/** What one implementation's kernels share once it is open. */
export interface KernelBackend {
  /** What computes, for the user (e.g. "nvidia NVIDIA H200 (…)"); default "CPU, <impl> kernels". */
  readonly device?: string;
  close(): Promise<void>;
}

export interface KernelImplementation<I extends KernelImplName, B extends KernelBackend = KernelBackend> {
  /** Starts the implementation; called by `openKernels` only, so registering one costs nothing. */
  open(options: KernelOptionMap[I]): Promise<B>;
}

/** One kernel: tfjs's `{kernelName, backendName, kernelFunc, setupFunc?, disposeFunc?}`. */
export interface KernelConfig<I extends KernelImplName = KernelImplName, B extends KernelBackend = KernelBackend> {
  readonly op: LinearOpName;
  readonly impl: I;
  /** f(x) mod p without bias for x of shape `dims` (canonical residues in, canonical residues out). */
  run(backend: B, layer: KernelLayer, dims: readonly number[], x: Residues): Promise<Residues>;
  /** Called once per layer before it runs (e.g. uploads its weights); throws, naming the layer, when it cannot compute it exactly. */
  setup?(backend: B, layer: KernelLayer): void | Promise<void>;
  /** The layer is gone: free what `setup` holds for it. */
  dispose?(backend: B, layer: KernelLayer): void;
}

const implementations = new Map<string, KernelImplementation<KernelImplName>>();
const kernels = new Map<string, KernelConfig>();
const keyOf = (op: string, impl: string): string => `${impl}_${op}`;

/** Registers an implementation under `name`; a name registered twice throws. */
export function registerKernelImplementation<I extends KernelImplName, B extends KernelBackend>(name: I, implementation: KernelImplementation<I, B>): void {
  if (implementations.has(name)) throw new InvalidArgumentError(`kernel implementation '${name}' is already registered`);
  implementations.set(name, implementation as unknown as KernelImplementation<KernelImplName>);
}

/** Registers the kernel for (config.op, config.impl); a pair registered twice throws. */
export function registerKernel<I extends KernelImplName, B extends KernelBackend>(config: KernelConfig<I, B>): void {
  const key = keyOf(config.op, config.impl);
  if (kernels.has(key)) throw new InvalidArgumentError(`kernel ${config.op} of implementation '${config.impl}' is already registered`);
  kernels.set(key, config as unknown as KernelConfig);
}

/** The kernel registered for (op, impl), if any. */
export function getKernel(op: string, impl: string): KernelConfig | undefined {
  return kernels.get(keyOf(op, impl));
}

/** The registered implementations, in registration order. */
export function kernelImplementations(): KernelImplName[] {
  return [...implementations.keys()] as KernelImplName[];
}

/** The ops implementation `impl` has kernels for. */
export function kernelOps(impl: string): LinearOpName[] {
  return [...kernels.values()].filter((k) => k.impl === impl).map((k) => k.op);
}

/** The ExactKernels of an open implementation: each call goes to the kernel registered for (layer.op, impl). */
export function kernelsOf(impl: KernelImplName, backend: KernelBackend): ExactKernels {
  const kernelFor = (layer: KernelLayer): KernelConfig => {
    const k = getKernel(layer.op, impl);
    if (k === undefined) throw new InvalidArgumentError(`the ${impl} kernels have no ${String(layer.op)} kernel (they have ${kernelOps(impl).join(', ') || 'none'})`, layer.name !== undefined ? { layer: layer.name } : {});
    return k;
  };
  return {
    name: impl,
    device: backend.device ?? `CPU, ${impl} kernels`,
    apply: async (layer, dims, x) => kernelFor(layer).run(backend, layer, dims, x),
    async prepare(layer) {
      await kernelFor(layer).setup?.(backend, layer);
    },
    release: (layer) => kernelFor(layer).dispose?.(backend, layer),
    close: () => backend.close(),
  };
}

/** Starts implementation `impl` with its options; an unknown name throws, naming the registered ones. */
export async function openKernels<I extends KernelImplName>(impl: I, options: KernelOptionMap[I]): Promise<ExactKernels> {
  const implementation = implementations.get(impl);
  if (implementation === undefined) throw new InvalidArgumentError(`unknown kernel implementation '${String(impl)}' (one of ${kernelImplementations().join(', ')})`);
  return kernelsOf(impl, await implementation.open(options));
}
