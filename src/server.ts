/**
 * `slalom/server`: the untrusted accelerator as an Open Inference Protocol service (what
 * `slalom accelerator serve` runs) and the exporter of its model repository; the trusted inference
 * service (what `slalom serve` runs) and the attestation provider interface it takes. Re-exports only.
 */
export { AcceleratorServer, startAcceleratorServer, type AcceleratorServerOptions } from './accel/http/server.js';
export { backendNames, backendForms } from './accel/registry.js';
export { exportModelRepository, type ExportIndex } from './accel/http/export.js';
export { modelIdOf, layerModelName } from './accel/http/protocol.js';
export { TrustedServer, startTrustedServer, type TrustedServerOptions } from './serve/server.js';
export { noneProvider, type AttestationProvider, type Evidence } from './attest/attestation.js';
