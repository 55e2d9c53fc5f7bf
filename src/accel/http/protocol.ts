/**
 * The wire contract between slalom's trusted runtime and an accelerator service: the Open Inference
 * Protocol (KServe v2) REST API, with one OIP "model" per linear layer.
 *
 * - Model name of layer l of a slalom model: `${modelId}.l${l}.${digest}` where modelId =
 *   `${sanitized model name}-${first 12 hex digits of the model's weightsHash}` and digest = the
 *   first 16 hex digits of the layer's content digest (export.ts `layerDigest`: SHA-256 over what
 *   the layer computes — op, index, conv attributes, weights). The server recomputes the digest from
 *   every upload and refuses (409) content that does not match its name, so no client can make a
 *   shared accelerator serve other weights under a name an honest client uses (see server.ts).
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

/** Hex digits of the layer digest a model name carries (64 bits: a second preimage costs ~2^64 hashes). */
export const NAME_DIGEST_HEX = 16;

export function layerModelName(modelId: string, layerIndex: number, layerDigest: string): string {
  return `${modelId}.l${layerIndex}.${layerDigest.slice(0, NAME_DIGEST_HEX)}`;
}

/** The layer index and digest prefix a model name claims, or undefined for a name of another form. */
export function parseLayerModelName(name: string): { readonly index: number; readonly digest: string } | undefined {
  const m = /\.l(0|[1-9]\d{0,8})\.([0-9a-f]+)$/.exec(name);
  return m !== null && m[2]!.length === NAME_DIGEST_HEX ? { index: Number(m[1]), digest: m[2]! } : undefined;
}

// ---- Server-side details of the contract (issue 5; served by src/accel/http/server.ts) ----

/** Request header naming the trusted client, for fair batching (default: the remote address). */
export const CLIENT_HEADER = 'x-slalom-client';
/** The environment variable holding the accelerator service's bearer token, on both sides. */
export const ACCELERATOR_TOKEN_ENV = 'SLALOM_ACCELERATOR_TOKEN';
/** The only model version a slalom accelerator serves. */
export const MODEL_VERSION = '1';
/** OIP `platform` of every layer model. */
export const PLATFORM = 'onnxruntime_onnx';
/** Body parameter of a repository load carrying the ONNX graph, base64 (Triton's convention). */
export const LOAD_FILE_PARAMETER = `file:${MODEL_VERSION}/model.onnx`;

/** Every error response body: `{"error": "…"}` with a 4xx or 5xx status. */
export interface ErrorBody {
  readonly error: string;
}

/** An OIP tensor as JSON: `data` flat (or nested) row-major, or absent when `parameters.binary_data_size` says it follows in binary. */
export interface InferTensorJson {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data?: readonly number[];
  readonly parameters?: { readonly binary_data_size?: number; readonly binary_data?: boolean };
}

export interface InferRequestJson {
  readonly id?: string;
  readonly parameters?: { readonly binary_data_output?: boolean };
  readonly inputs: readonly InferTensorJson[];
  readonly outputs?: readonly { readonly name: string; readonly parameters?: { readonly binary_data?: boolean } }[];
}

export interface InferResponseJson {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
  /** Informational, from an untrusted server: items and requests in the batch this one ran in, compute time. */
  readonly parameters?: { readonly slalom_batch_items?: number; readonly slalom_batch_requests?: number; readonly slalom_compute_ms?: number };
  readonly outputs: readonly InferTensorJson[];
}

/** Per-model part of `GET /v2/slalom/stats`. */
export interface ModelStats {
  readonly ready: boolean;
  readonly queueDepth: number;
  readonly queuedItems: number;
  readonly maxQueue: number;
  /** Requests answered with a result. */
  readonly requests: number;
  readonly items: number;
  readonly batches: number;
  /** Backend runs: one per batch, more for a batch whose working memory passes the server's budget (run in pieces). */
  readonly runs: number;
  /** Batch size in items (sum of the batch axes) → number of batches run at that size. */
  readonly batchSizes: Readonly<Record<string, number>>;
  /** Requests merged per batch → number of batches. */
  readonly batchRequests: Readonly<Record<string, number>>;
  /** Requests refused with 503 because this model's queue was full. */
  readonly rejectedQueueFull: number;
  /** Requests that failed validation (4xx) after naming this model. */
  readonly rejectedInvalid: number;
  readonly timedOut: number;
  readonly failed: number;
  readonly computeMs: number;
  /** Requests answered per client id. */
  readonly clients: Readonly<Record<string, number>>;
}

/** `GET /v2/slalom/stats`. */
export interface ServerStats {
  readonly uptimeMs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly inflightBytes: number;
  readonly backend: string;
  readonly totals: {
    readonly requests: number;
    readonly ok: number;
    /** HTTP status → responses with it (4xx and 5xx). */
    readonly rejected: Readonly<Record<string, number>>;
  };
  readonly models: Readonly<Record<string, ModelStats>>;
}
