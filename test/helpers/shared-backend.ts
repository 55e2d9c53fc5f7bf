/**
 * Test helper: one started accelerator shared by several protocols. openProtocol closes its
 * accelerator when the protocol closes; a GPU backend takes seconds to start on a software adapter,
 * so tests hand each protocol this view, whose close() is a no-op, and close the real one at the end.
 */
import type { AcceleratorBackend } from '../../src/accel/backend.js';

export function unclosable(backend: AcceleratorBackend): AcceleratorBackend {
  return {
    name: backend.name,
    ...(backend.device !== undefined ? { device: backend.device } : {}),
    loadWeights: (layers) => backend.loadWeights(layers),
    linear: (request) => backend.linear(request),
    async close() {},
  };
}
