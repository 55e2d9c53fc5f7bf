/**
 * slalom's public API: re-exports only. Importing it has no side effects and loads neither
 * onnxruntime-node, sharp, the GPU's Dawn nor the accelerator service (`slalom/server`): each loads
 * when first used (test/index.test.ts measures it). The built-in kernels and backends register
 * themselves in slalom's own registries, which costs nothing until one is opened.
 *
 *   const session = await createSession('models/fashion-mnist.onnx', { mode: 'verified' });
 *   const result = await session.run(await session.model.loadInput('examples/fashion-mnist-0-boot.png'));
 *   console.log(result.mode, result.predictions?.[0], result.outputs);
 *   await session.close();
 */
export * from './errors.js';
export { createSession, Session, type CreateSessionOptions, type RunResult, type SessionInput, type SessionOutput, type Verification } from './api/session.js';
export {
  SlalomModel,
  isArtifactFile,
  type CalibrationSample,
  type CalibrationSpec,
  type InferenceResult,
  type InfoOverrides,
  type LoadOptions,
  type LoadProgress,
  type ModelInfo,
  type OutputKind,
  type PerInput,
  type SaveOptions,
} from './runtime/model.js';
export { isArtifact, ARTIFACT_VERSION, type Provenance } from './quant/artifact.js';
export { MODES, isMode, type Mode } from './runtime/modes.js';
export { openProtocol, openPads, publicLayers, type PadOptions, type SessionOptions } from './runtime/session.js';
export type { LinearProtocol } from './runtime/linear-protocol.js';
export type { AcceleratedProtocol, ExhaustedPolicy, FailurePolicy, Incident } from './runtime/protocols/accelerated.js';
export { inspect, type InspectReport, type LayerReport } from './api/inspect.js';
export type { CompareReport, CompareOptions } from './api/compare.js';
export { compare, heldOutForCalibration } from './api/compare.js';
export { topK, argmax, predictionsPerItem, type Prediction, type ScoreKind } from './api/predictions.js';
export type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from './accel/backend.js';
export { WorkerBackend } from './accel/worker/client.js';
export { LocalBackend } from './accel/local.js';
export { HttpBackend } from './accel/http/client.js';
export { modelIdOf, layerModelName } from './accel/http/protocol.js';
export { Verifier, type VerifyOptions } from './verify/verifier.js';
export { CHECK_VARIANTS, type CheckVariant } from './verify/soundness.js';
export { precomputePads } from './runtime/precompute.js';
export { PadStore } from './blind/pad-store.js';
export { TrustedState, defaultStateDir, type TrustedStateOptions } from './blind/trusted-state.js';
export { FileCounters, type MonotonicCounter, type MonotonicCounters } from './blind/monotonic-counter.js';
export { contentHash } from './quant/content-hash.js';
export { createExactKernels, type ExactKernels, type ExactKernelsName } from './kernels/exact-linear.js';
export { buildZooModel, ZOO_MODELS, ZOO_DECODERS, type ZooModelName } from './zoo/index.js';
export { buildDecoder, GPT2_SMALL, type DecoderConfig } from './zoo/decoder.js';
export { loadInputTensor, decodeImage } from './io/image.js';
export { IMAGENET_PREPROCESS, defaultPreprocess, type Preprocess } from './io/preprocess.js';
export { SLALOM_VERSION } from './version.js';
export { readNpy, writeNpy } from './io/npy.js';
export { tensor, type Tensor } from './tensor/tensor.js';
export { P } from './field/prime.js';
export { train, stateHash, dataHash, type TrainOptions, type TrainResult, type TrainingData, type Hyperparameters, type StepReport } from './train/trainer.js';
export { ARCHITECTURES, modelToOnnx, modelFromOnnx, seededModel, type Architecture, type TrainableModel } from './train/model.js';
export { signTrainingReceipt, trainingReceiptValid, TRAINING_RECEIPT_FORMAT, type TrainingReceipt, type TrainingReceiptBody } from './attest/training-receipt.js';
export { signGenerationReceipt, generationReceiptValid, GENERATION_RECEIPT_FORMAT, type GenerationReceipt, type GenerationReceiptBody } from './attest/generation-receipt.js';
