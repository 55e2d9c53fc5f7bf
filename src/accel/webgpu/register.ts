/**
 * Registers the WebGPU engine as kernel implementation 'webgpu' (kernels/registry.ts) for Conv and
 * Gemm. Importing this costs nothing: the engine and the optional 'webgpu' package (Dawn) load only
 * when the implementation is opened.
 */
import { registerKernel, registerKernelImplementation } from '../../kernels/registry.js';
import type { WebGpuOptions } from './engine.js';
import type { WebGpuKernelBackend } from './host-kernels.js';

declare module '../../kernels/registry.js' {
  interface KernelOptionMap {
    /** Exact WGSL kernels on a GPU through Dawn: the adapter policy and the tiles. */
    webgpu: WebGpuOptions;
  }
}

registerKernelImplementation('webgpu', {
  async open(options): Promise<WebGpuKernelBackend> {
    const { WebGpuKernelBackend } = await import('./host-kernels.js');
    return WebGpuKernelBackend.open(options);
  },
});
for (const op of ['Conv', 'Gemm'] as const) {
  registerKernel<'webgpu', WebGpuKernelBackend>({
    op,
    impl: 'webgpu',
    run: (gpu, layer, dims, x) => gpu.apply(layer, dims, x),
    setup: (gpu, layer) => gpu.prepare(layer),
    dispose: (gpu, layer) => gpu.release(layer),
  });
}
