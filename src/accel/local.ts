/**
 * An accelerator in the caller's own thread: no isolation, so only for tests and measurements that
 * want to leave transport out. The default embedded accelerator is the worker (worker/client.ts).
 */
import { untrusted, type Untrusted } from '../boundary/untrusted.js';
import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from './backend.js';
import { jsKernels, type ExactKernels } from '../kernels/exact-linear.js';
import { AcceleratorHost } from './host.js';

export class LocalBackend implements AcceleratorBackend {
  readonly name = 'local';
  private readonly host: AcceleratorHost;

  constructor(kernels: ExactKernels = jsKernels()) {
    this.host = new AcceleratorHost(kernels);
  }

  async loadWeights(layers: readonly PublicLayer[]): Promise<void> {
    await this.host.load(layers);
  }

  async linear({ requestId, layerId, dims, x }: LinearRequest): Promise<Untrusted<LinearReply>> {
    return untrusted({ requestId, layerId, ...(await this.host.linear(layerId, dims, x)) });
  }

  async close(): Promise<void> {}
}
