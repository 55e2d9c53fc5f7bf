/**
 * slalom's public API: re-exports only; importing it has no side effects.
 *
 *   const model = await SlalomModel.load('models/fashion-mnist.onnx');
 *   const protocol = await openProtocol(model, 'verified');
 *   const result = await model.infer(input, { mode: 'verified', protocol });
 *   await protocol.close?.();
 */
export * from './errors.js';
export { SlalomModel, type InferenceResult, type LoadOptions, type ModelInfo } from './runtime/model.js';
export { MODES, isMode, type Mode } from './runtime/modes.js';
export { openProtocol, openPads, publicLayers, type PadOptions, type SessionOptions } from './runtime/session.js';
export type { LinearProtocol } from './runtime/linear-protocol.js';
export type { AcceleratedProtocol, ExhaustedPolicy, FailurePolicy, Incident } from './runtime/protocols/accelerated.js';
export { inspect, type InspectReport, type LayerReport } from './api/inspect.js';
export { compare, type CompareReport } from './api/compare.js';
export { topK, argmax, type Prediction } from './api/predictions.js';
export type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from './accel/backend.js';
export { WorkerBackend } from './accel/worker/client.js';
export { LocalBackend } from './accel/local.js';
export { HttpBackend } from './accel/http/client.js';
export { modelIdOf, layerModelName } from './accel/http/protocol.js';
export { AcceleratorServer } from './accel/http/server.js';
export { exportModelRepository } from './accel/http/export.js';
export { Verifier, type VerifyOptions } from './verify/verifier.js';
export { CHECK_VARIANTS, type CheckVariant } from './verify/soundness.js';
export { precomputePads } from './runtime/precompute.js';
export { PadStore } from './blind/pad-store.js';
export { TrustedState, defaultStateDir } from './blind/trusted-state.js';
export { createExactKernels, type ExactKernels, type ExactKernelsName } from './kernels/exact-linear.js';
export { buildZooModel, ZOO_MODELS, type ZooModelName } from './zoo/index.js';
export { loadInputTensor, IMAGENET_PREPROCESS, type Preprocess } from './io/image.js';
export { readNpy, writeNpy } from './io/npy.js';
export { tensor, type Tensor } from './tensor/tensor.js';
export { P } from './field/prime.js';
