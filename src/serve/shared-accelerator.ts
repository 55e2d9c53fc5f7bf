/**
 * One accelerator for every lane of a served model (issue 15, deliverable 2): each lane is its own
 * session (its own Freivalds secrets, pads and failure state), but they all send to the same
 * backend, so while the accelerator computes one request's layer the trusted thread checks, blinds
 * or requantizes another's. Registration happens once; closing a lane's view closes nothing (the
 * server closes the backend when it stops).
 *
 * Admission is shared too (accelerator-admission.ts, issue 20): a reply one lane refuses quarantines
 * the accelerator for all of them (each view's `admitted()` says so, so a lane under 'abort' refuses
 * a request before it takes a pad, one under 'recompute' runs it in the trusted runtime), until a
 * health probe and a canary re-admit it.
 */
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';
import { AcceleratorAdmission, type AdmissionOptions } from './accelerator-admission.js';

export interface SharedAccelerator {
  readonly backend: AcceleratorBackend;
  readonly admission: AcceleratorAdmission;
  /** A view for one lane: loadWeights registers once for all views, close() is a no-op. */
  lane(): AcceleratorBackend;
  close(): Promise<void>;
}

export function shareAccelerator(backend: AcceleratorBackend, admissionOptions: AdmissionOptions): SharedAccelerator {
  let registered: Promise<void> | undefined;
  const admission = new AcceleratorAdmission(backend, admissionOptions);
  const view: AcceleratorBackend = {
    get name() {
      return backend.name;
    },
    get device() {
      return backend.device;
    },
    loadWeights(layers: readonly PublicLayer[]) {
      registered ??= backend.loadWeights(layers).then(() => admission.registered(layers));
      return registered;
    },
    linear: (request) => backend.linear(request),
    reportFailure: (id: string, e: Error) => admission.refused(id, e),
    admitted: () => admission.admitted(),
    close: async () => {},
  };
  return {
    backend,
    admission,
    lane: () => view,
    close: async () => {
      await admission.close();
      await backend.close();
    },
  };
}
