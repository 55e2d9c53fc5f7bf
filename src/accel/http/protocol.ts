/**
 * The wire contract between slalom's trusted runtime and an accelerator service: the Open Inference
 * Protocol (KServe v2) REST API, with one OIP "model" per linear layer.
 *
 * - Model name of layer l of a slalom model: `${modelId}.l${l}` where modelId = `${sanitized model
 *   name}-${first 12 hex digits of the model's SHA-256}` (see `layerModelName`).
 * - Input tensor `x`, datatype FP64, shape = the layer's input dims (batch first), canonical residues
 *   of Z_p (integers in [0, p), p = 2^24 − 3). Output tensor `y`, FP64, the layer's output dims, the
 *   canonical residues of f(x) mod p — the linear map without bias.
 * - Bodies: JSON tensors (`data` as a flat number array) or the binary tensor data extension
 *   (`Inference-Header-Content-Length` header; raw little-endian float64 after the JSON header).
 * - Registration: the repository extension (`POST /v2/repository/models/{name}/load` with the layer's
 *   ONNX graph in the request body, as written by `slalom export`).
 */

export const P_MODULUS = 16_777_213;
export const INPUT_TENSOR = 'x';
export const OUTPUT_TENSOR = 'y';
export const DATATYPE = 'FP64';
export const BINARY_HEADER = 'inference-header-content-length';

export function modelIdOf(name: string, modelHash: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 48) || 'model';
  return `${safe}-${modelHash.slice(0, 12)}`;
}

export function layerModelName(modelId: string, layerIndex: number): string {
  return `${modelId}.l${layerIndex}`;
}
