/**
 * The WebGPU engine behind the host's kernel interface (accel/host.ts), so the worker thread and
 * `slalom accelerator serve` run it like the CPU kernels: `prepare` registers a layer (its weights
 * uploaded once; refused when the limb bound fails), `apply` runs it, `release` frees it. Layers are
 * known by the host's objects for them.
 *
 * The wire carries Float64Array residues today; the engine works on Uint32Array. The conversion is
 * here, at the edge, and nowhere else: when residues become 32-bit end to end it goes away.
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
      return toFloat64((await engine.run(lookup(layer), dims, toResidues32(x))).data);
    },
    close: () => engine.close(),
  };
}
