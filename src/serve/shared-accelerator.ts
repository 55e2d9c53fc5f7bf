/**
 * One accelerator for every lane of a served model (issue 15, deliverable 2): each lane is its own
 * session (its own Freivalds secrets, pads and failure state), but they all send to the same
 * backend, so while the accelerator computes one request's layer the trusted thread checks, blinds
 * or requantizes another's. Registration happens once; closing a lane's view closes nothing (the
 * server closes the backend when it stops).
 */
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';

export interface SharedAccelerator {
  readonly backend: AcceleratorBackend;
  /** A view for one lane: loadWeights registers once for all views, close() is a no-op. */
  lane(): AcceleratorBackend;
  close(): Promise<void>;
}

export function shareAccelerator(backend: AcceleratorBackend): SharedAccelerator {
  let registered: Promise<void> | undefined;
  const view: AcceleratorBackend = {
    get name() {
      return backend.name;
    },
    get device() {
      return backend.device;
    },
    loadWeights(layers: readonly PublicLayer[]) {
      registered ??= backend.loadWeights(layers);
      return registered;
    },
    linear: (request) => backend.linear(request),
    ...(backend.reportFailure !== undefined ? { reportFailure: (id: string, e: Error) => backend.reportFailure!(id, e) } : {}),
    close: async () => {},
  };
  return { backend, lane: () => view, close: () => backend.close() };
}
