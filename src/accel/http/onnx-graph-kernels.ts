/**
 * Kernel implementation 'onnx-graph' (kernels/registry.ts): each layer runs as its exact ONNX graph
 * (export.ts) in its own onnxruntime session — what `slalom accelerator serve --backend onnxruntime`
 * computes with, and what any onnxruntime-backed server given the exported repository would compute.
 * The graph is regenerated from the layer's checked description and weights, never taken from an
 * upload. Sessions run without a memory arena, so what a burst allocated is given back (issue 11).
 * Registering costs nothing: onnxruntime loads when the implementation is opened.
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { Residues } from '../../field/residues.js';
import type { KernelLayer } from '../../kernels/exact-linear.js';
import { registerKernel, registerKernelImplementation, type KernelBackend } from '../../kernels/registry.js';
import { INPUT_TENSOR, OUTPUT_TENSOR } from './protocol.js';

declare module '../../kernels/registry.js' {
  interface KernelOptionMap {
    /** Each layer's exported ONNX graph on onnxruntime-node's CPU provider, `threads` intra-op threads. */
    'onnx-graph': { readonly threads?: number };
  }
}

type Ort = typeof import('onnxruntime-node');

class OnnxGraphBackend implements KernelBackend {
  readonly device = 'CPU, each layer as its exact ONNX graph in onnxruntime';
  readonly #sessions = new Map<KernelLayer, InferenceSession>();

  constructor(
    private readonly ort: Ort,
    private readonly options: InferenceSession.SessionOptions,
  ) {}

  async setup(layer: KernelLayer): Promise<void> {
    const { exportLayerOnnx } = await import('./export.js');
    const bytes = exportLayerOnnx({ id: 0, name: layer.name ?? 'layer', ...layer });
    const session = await this.ort.InferenceSession.create(bytes, this.options);
    this.dispose(layer);
    this.#sessions.set(layer, session);
  }

  dispose(layer: KernelLayer): void {
    const session = this.#sessions.get(layer);
    this.#sessions.delete(layer);
    void session?.release();
  }

  /** The exported graph is FP64 (exact under the bound of field/prime.ts): residues go in and come out through one conversion each. */
  async run(layer: KernelLayer, dims: readonly number[], x: Residues): Promise<Residues> {
    const session = this.#sessions.get(layer);
    if (session === undefined) throw new Error(`layer ${layer.name ?? ''} has no onnxruntime session`);
    const out = await session.run({ [INPUT_TENSOR]: new this.ort.Tensor('float64', Float64Array.from(x), [...dims]) });
    const y = out[OUTPUT_TENSOR]?.data;
    if (!(y instanceof Float64Array)) throw new Error('the session returned no float64 output');
    return Uint32Array.from(y);
  }

  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
}

registerKernelImplementation('onnx-graph', {
  async open(o): Promise<OnnxGraphBackend> {
    const [ort, { ortLogSeverity }] = await Promise.all([import('onnxruntime-node'), import('../../kernels/ort/env.js')]);
    return new OnnxGraphBackend(ort, {
      intraOpNumThreads: o.threads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: false,
      enableMemPattern: false,
      logSeverityLevel: ortLogSeverity(),
    });
  },
});
for (const op of ['Conv', 'Gemm'] as const) {
  registerKernel<'onnx-graph', OnnxGraphBackend>({
    op,
    impl: 'onnx-graph',
    run: (g, layer, dims, x) => g.run(layer, dims, x),
    setup: (g, layer) => g.setup(layer),
    dispose: (g, layer) => g.dispose(layer),
  });
}
