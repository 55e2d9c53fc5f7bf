/**
 * The WebGPU engine as implementation 'webgpu' of kernels/registry.ts (registered by register.ts),
 * so the worker thread and `slalom accelerator serve` run it like the CPU kernels: `prepare`
 * registers a layer (its weights uploaded once; refused when the limb bound fails), `apply` runs it,
 * `release` frees it. Layers are known by the host's objects for them. Residues are Uint32Array end
 * to end: the engine reads the request's array and its result goes back as it is.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Residues } from '../../field/residues.js';
import type { KernelLayer } from '../../kernels/exact-linear.js';
import type { KernelBackend } from '../../kernels/registry.js';
import { WebGpuEngine, type WebGpuOptions } from './engine.js';
import type { RegisteredLayer } from './layer.js';

/** One open GPU device and the layers registered on it. */
export class WebGpuKernelBackend implements KernelBackend {
  readonly device: string;
  readonly #registered = new WeakMap<KernelLayer, RegisteredLayer>();

  private constructor(readonly engine: WebGpuEngine) {
    this.device = `${engine.adapter.name}; ${engine.kernelDescription}`;
  }

  static async open(options: WebGpuOptions = {}): Promise<WebGpuKernelBackend> {
    return new WebGpuKernelBackend(await WebGpuEngine.open(options));
  }

  prepare(layer: KernelLayer): void {
    const fresh = this.engine.register(layer, layer.name ?? '');
    const previous = this.#registered.get(layer);
    if (previous !== undefined) this.engine.release(previous);
    this.#registered.set(layer, fresh);
  }

  release(layer: KernelLayer): void {
    const r = this.#registered.get(layer);
    if (r === undefined) return;
    this.#registered.delete(layer);
    this.engine.release(r);
  }

  async apply(layer: KernelLayer, dims: readonly number[], x: Residues): Promise<Residues> {
    const r = this.#registered.get(layer);
    if (r === undefined) throw new InvalidArgumentError(`layer ${layer.name ?? ''} was not registered with the WebGPU kernels`);
    return (await this.engine.run(r, dims, x)).data;
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
