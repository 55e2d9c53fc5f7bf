/**
 * The accelerator service's backends (server.ts): `onnxruntime` runs the layer's exact ONNX graph
 * (export.ts) in an InferenceSession; `reference` runs AcceleratorHost with slalom's exact kernels
 * (js or ort), `webgpu` with the exact WGSL kernels on a GPU (both resolved through
 * accel/registry.ts). Either way the graph run is the one regenerated from the uploaded model's
 * `slalom.layer` description and `W` initializer, never the uploaded graph itself.
 */
import * as ort from 'onnxruntime-node';
import { ortLogSeverity } from '../../kernels/ort-exact.js';
import { AcceleratorHost, type HostKernels } from '../host.js';
import { resolveKernels } from '../registry.js';
import { onnxOfDescription, type ParsedLayer } from './export.js';
import { INPUT_TENSOR, OUTPUT_TENSOR } from './protocol.js';
import type { ResolvedServerOptions } from './server-options.js';

export interface Runner {
  run(dims: readonly number[], x: Float64Array): Promise<Float64Array>;
  close(): Promise<void>;
}

export interface RunnerFactory {
  readonly name: string;
  create(layer: ParsedLayer): Promise<Runner>;
  close(): Promise<void>;
}

function ortFactory(threads: number): RunnerFactory {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // No arena: the memory of a burst of big requests goes back to the system (issue 11).
    enableCpuMemArena: false,
    enableMemPattern: false,
    logSeverityLevel: ortLogSeverity(),
  };
  return {
    name: 'onnxruntime',
    async create({ description, weights }) {
      // The canonical graph regenerated from the description and W, never the uploaded graph itself.
      const session = await ort.InferenceSession.create(onnxOfDescription(description, weights), options);
      return {
        async run(dims, x) {
          const out = await session.run({ [INPUT_TENSOR]: new ort.Tensor('float64', x, [...dims]) });
          const y = out[OUTPUT_TENSOR]?.data;
          if (!(y instanceof Float64Array)) throw new Error('the session returned no float64 output');
          return y;
        },
        close: () => session.release(),
      };
    },
    async close() {},
  };
}

/** Layers run by an AcceleratorHost on in-process kernels (accel/registry.ts): `reference` (CPU) or `webgpu`. */
function hostFactory(kernels: HostKernels): RunnerFactory {
  return {
    name: kernels.name === 'webgpu' ? `webgpu (${kernels.device ?? 'unknown adapter'})` : `reference/${kernels.name}`,
    async create({ layer }) {
      const host = new AcceleratorHost(kernels);
      host.load([{ ...layer, id: 0 }]);
      // The exact kernels take and give residues; the server's queues carry doubles (onnxruntime's graph is FP64).
      return { run: async (dims, x) => Float64Array.from((await host.linear(0, dims, Uint32Array.from(x))).data), close: async () => host.unload(0) };
    },
    close: () => kernels.close(),
  };
}

function serverKernels(o: ResolvedServerOptions): Promise<HostKernels> {
  return o.backend === 'webgpu' ? resolveKernels('webgpu', o.adapter !== undefined ? { adapter: o.adapter } : {}) : resolveKernels('local', { kernels: o.kernels, threads: o.threads });
}

/** The factory of the configured backend, its kernels initialised. */
export async function createRunnerFactory(o: ResolvedServerOptions): Promise<RunnerFactory> {
  return o.backend === 'onnxruntime' ? ortFactory(o.threads) : hostFactory(await serverKernels(o));
}
