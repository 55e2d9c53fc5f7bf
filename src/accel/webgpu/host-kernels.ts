/**
 * The WebGPU engine behind the host's kernel interface (accel/host.ts), so the worker thread and
 * `slalom accelerator serve` run it like the CPU kernels: `prepare` registers a layer (its weights
 * uploaded once; refused when the limb bound fails), `apply` runs it, `release` frees it. Layers are
 * known by the host's objects for them. Residues are Uint32Array end to end: the engine reads the
 * request's array and its result goes back as it is.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';
import type { PublicLayer } from '../backend.js';
import type { HostKernels } from '../host.js';
import { WebGpuEngine, type WebGpuOptions } from './engine.js';
import type { RegisteredLayer } from './layer.js';

export interface WebGpuKernels extends HostKernels {
  readonly engine: WebGpuEngine;
}

export async function openWebGpuKernels(options: WebGpuOptions = {}): Promise<WebGpuKernels> {
  const engine = await WebGpuEngine.open(options);
  const registered = new WeakMap<ExactLinearLayer, RegisteredLayer>();
  const lookup = (layer: ExactLinearLayer): RegisteredLayer => {
    const r = registered.get(layer);
    if (r === undefined) throw new InvalidArgumentError(`layer ${(layer as PublicLayer).name ?? ''} was not registered with the WebGPU kernels`);
    return r;
  };
  return {
    name: 'webgpu',
    device: engine.adapter.name,
    engine,
    prepare(layer: PublicLayer) {
      const fresh = engine.register(layer, layer.name);
      const previous = registered.get(layer);
      if (previous !== undefined) engine.release(previous);
      registered.set(layer, fresh);
    },
    release(layer: PublicLayer) {
      const r = registered.get(layer);
      if (r === undefined) return;
      registered.delete(layer);
      engine.release(r);
    },
    async apply(layer, dims, x) {
      return (await engine.run(lookup(layer), dims, x)).data;
    },
    close: () => engine.close(),
  };
}
