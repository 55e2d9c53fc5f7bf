/**
 * The WebGPU engine as implementation 'webgpu' of kernels/registry.ts (registered by register.ts),
 * so the worker thread and `slalom accelerator serve` run it like the CPU kernels: `prepare`
 * registers a layer (its weights uploaded once; refused when the limb bound fails), `apply` runs it,
 * `release` frees it. Layers are known by the host's objects for them.
 *
 * The wire carries Float64Array residues today; the engine works on Uint32Array. The conversion is
 * here, at the edge, and nowhere else: when residues become 32-bit end to end it goes away.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { KernelLayer } from '../../kernels/exact-linear.js';
import type { KernelBackend } from '../../kernels/registry.js';
import { WebGpuEngine, type WebGpuOptions } from './engine.js';
import type { RegisteredLayer } from './layer.js';

/** Canonical residues (already validated by the host) as u32. */
export function toResidues32(x: Float64Array): Uint32Array {
  const out = new Uint32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]!;
  return out;
}

export function toFloat64(y: Uint32Array): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]!;
  return out;
}

/** One open GPU device and the layers registered on it. */
export class WebGpuKernelBackend implements KernelBackend {
  readonly device: string;
  readonly #registered = new WeakMap<KernelLayer, RegisteredLayer>();

  private constructor(readonly engine: WebGpuEngine) {
    this.device = engine.adapter.name;
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

  async apply(layer: KernelLayer, dims: readonly number[], x: Float64Array): Promise<Float64Array> {
    const r = this.#registered.get(layer);
    if (r === undefined) throw new InvalidArgumentError(`layer ${layer.name ?? ''} was not registered with the WebGPU kernels`);
    return toFloat64((await this.engine.run(r, dims, toResidues32(x))).data);
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
