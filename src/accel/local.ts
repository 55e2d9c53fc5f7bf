/**
 * An accelerator in the caller's own thread: no isolation, so only for tests and measurements that
 * want to leave transport out. The default embedded accelerator is the worker (worker/client.ts).
 */
import { untrusted, type Untrusted } from '../boundary/untrusted.js';
import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from './backend.js';
import { AcceleratorHost } from './host.js';

export class LocalBackend implements AcceleratorBackend {
  readonly name = 'local';
  private readonly host = new AcceleratorHost();

  async loadWeights(layers: readonly PublicLayer[]): Promise<void> {
    this.host.load(layers);
  }

  async linear({ requestId, layerId, dims, x }: LinearRequest): Promise<Untrusted<LinearReply>> {
    return untrusted({ requestId, layerId, ...this.host.linear(layerId, dims, x) });
  }

  async close(): Promise<void> {}
}
