/**
 * The accelerator service's backends (server.ts), by name from accel/registry.ts (any registered
 * backend that computes in-process), each behind an AcceleratorHost: `onnxruntime` runs the layer's
 * exact ONNX graph (export.ts) in an InferenceSession (onnx-graph-kernels.ts), `reference` slalom's
 * exact kernels (js or ort), `webgpu` the exact WGSL kernels on a GPU. Either way the graph run is
 * the one regenerated from the uploaded model's `slalom.layer` description and `W` initializer,
 * never the uploaded graph itself.
 */
import type { Residues } from '../../field/residues.js';
import type { ExactKernels } from '../../kernels/exact-linear.js';
import { AcceleratorHost } from '../host.js';
import { backendRequest, resolveKernels } from '../registry.js';
import type { ExportableLayer, ParsedLayer } from './export.js';
import type { ResolvedServerOptions } from './server-options.js';

export interface Runner {
  run(dims: readonly number[], x: Residues): Promise<Residues>;
  close(): Promise<void>;
}

export interface RunnerFactory {
  readonly name: string;
  create(layer: ParsedLayer): Promise<Runner>;
  close(): Promise<void>;
}

/** Layers run by an AcceleratorHost on the in-process kernels of a registered backend (accel/registry.ts). */
function hostFactory(backend: string, kernels: ExactKernels): RunnerFactory {
  return {
    name: `${backend} (${kernels.device ?? kernels.name})`,
    async create({ layer, description }) {
      const host = new AcceleratorHost(kernels);
      // The input dims fix H and W of a convolution's exported graph (the onnxruntime backend's kernels).
      const loaded: ExportableLayer = { ...layer, id: 0, ...(description.inputDims ? { inDims: [1, ...description.inputDims] } : {}) };
      await host.load([loaded]);
      return { run: async (dims, x) => (await host.linear(0, dims, x)).data, close: async () => host.unload(0) };
    },
    close: () => kernels.close(),
  };
}

/** The factory of the configured backend, its kernels initialised. */
export async function createRunnerFactory(o: ResolvedServerOptions): Promise<RunnerFactory> {
  return hostFactory(o.backend, await resolveKernels(backendRequest(o.backend, o.adapter, { kernels: o.kernels, threads: o.threads }, 'kernels')));
}
