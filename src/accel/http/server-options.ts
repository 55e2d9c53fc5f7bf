/** Options of the accelerator service (server.ts) and their defaults; a bad value is an InvalidArgumentError naming it. */
import { EXACT_KERNELS, type ExactKernelsName } from '../../kernels/exact-linear.js';
import { InvalidArgumentError } from '../../errors.js';
import { aInt, aOneOf } from '../../util/assert.js';
import { backendRequest } from '../registry.js';
import type { AdapterChoice } from '../webgpu/device.js';

export interface AcceleratorServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string;
  /** How layers are computed: a backend of accel/registry.ts that computes in-process — onnxruntime (default), reference, webgpu. */
  readonly backend?: string;
  /** Kernels of the `reference` backend (default 'ort'). */
  readonly kernels?: ExactKernelsName;
  /** The backend's variant: the adapter of `webgpu` (default SLALOM_WEBGPU_ADAPTER, else 'gpu': a hardware GPU or nothing; accel/webgpu/device.ts). */
  readonly adapter?: AdapterChoice;
  /** A model repository (`slalom export`) to load models from. */
  readonly modelRepository?: string;
  /** Load every model of the repository at start-up (default true when a repository is given). */
  readonly preload?: boolean;
  /** onnxruntime intra-op threads (default 1). */
  readonly threads?: number;
  /** Most items (sum of batch axes) per batch (default 8). */
  readonly maxBatch?: number;
  /** Longest a request waits for others to join its batch (default 2 ms). */
  readonly maxDelayMs?: number;
  /** Most requests queued per model (default 64). */
  readonly maxQueue?: number;
  /** Largest infer request body (default 64 MiB). */
  readonly maxBodyBytes?: number;
  /** Largest repository-load request body (default 1 GiB). */
  readonly maxLoadBytes?: number;
  /** Largest input or output tensor of one request, in elements (default 2^24). */
  readonly maxTensorElements?: number;
  /** Bytes all requests together may hold (bodies, tensors, results, working memory) before 503 (default 1 GiB). */
  readonly maxInflightBytes?: number;
  /** Working memory of one backend run; bigger batches run in pieces (default 64 MiB). */
  readonly maxWorkBytes?: number;
  /** Most JSON objects and arrays in one body (default 2^20). */
  readonly maxJsonContainers?: number;
  /** Longest a request may take to arrive, or wait in a queue (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Largest request head (default 16 KiB; more is 431). */
  readonly maxHeaderBytes?: number;
  /** Batches run at once (default 1). */
  readonly concurrency?: number;
  /** Most open connections; more are refused (default 1024). */
  readonly maxConnections?: number;
  /**
   * Bytes the loaded layers may hold together, each counted as 24 bytes per weight (capacity.ts:
   * about what the onnxruntime backend holds; default 4 GiB). A load past it evicts idle layers
   * of the same client, least recently used first, else is refused (507, or 503 while they are busy).
   */
  readonly maxLoadedBytes?: number;
  /** Most layers loaded at once, under the same rule (default 1024). */
  readonly maxLoadedLayers?: number;
  /**
   * A bearer token that repository loads and unloads must carry (`Authorization: Bearer …`; 401
   * otherwise); a holder may unload any layer. Without one, a layer is unloaded only by the client
   * that loaded it (403 for others).
   */
  readonly token?: string;
  /** One line per event worth logging (loads, unloads, start, stop); default none. */
  readonly log?: (line: string) => void;
}

export type ResolvedServerOptions = Required<Omit<AcceleratorServerOptions, 'modelRepository' | 'log' | 'adapter' | 'token'>> & { modelRepository?: string; adapter?: AdapterChoice; token?: string; log: (line: string) => void };

export const MIB = 1 << 20;

export function resolveOptions(o: AcceleratorServerOptions): ResolvedServerOptions {
  const int = (v: number | undefined, def: number, what: string, min = 1): number => aInt(v ?? def, what, { min });
  const backend = o.backend ?? 'onnxruntime';
  backendRequest(backend, o.adapter, {}, 'kernels'); // throws for a backend that cannot serve, or a variant it does not take
  if (o.kernels !== undefined) aOneOf(o.kernels, 'kernels', EXACT_KERNELS);
  const requestTimeoutMs = int(o.requestTimeoutMs, 30_000, 'requestTimeoutMs');
  return {
    port: int(o.port, 0, 'port', 0),
    host: o.host ?? '127.0.0.1',
    backend,
    kernels: o.kernels ?? 'ort',
    ...(o.adapter !== undefined ? { adapter: o.adapter } : {}),
    ...(o.modelRepository !== undefined ? { modelRepository: o.modelRepository } : {}),
    preload: o.preload ?? o.modelRepository !== undefined,
    threads: int(o.threads, 1, 'threads'),
    maxBatch: int(o.maxBatch, 8, 'maxBatch'),
    maxDelayMs: int(o.maxDelayMs, 2, 'maxDelayMs', 0),
    maxQueue: int(o.maxQueue, 64, 'maxQueue'),
    maxBodyBytes: int(o.maxBodyBytes, 64 * MIB, 'maxBodyBytes'),
    maxLoadBytes: int(o.maxLoadBytes, 1024 * MIB, 'maxLoadBytes'),
    maxTensorElements: int(o.maxTensorElements, 1 << 24, 'maxTensorElements'),
    maxInflightBytes: int(o.maxInflightBytes, 1024 * MIB, 'maxInflightBytes'),
    maxWorkBytes: int(o.maxWorkBytes, 64 * MIB, 'maxWorkBytes'),
    maxJsonContainers: int(o.maxJsonContainers, 1 << 20, 'maxJsonContainers'),
    requestTimeoutMs,
    maxHeaderBytes: int(o.maxHeaderBytes, 16 * 1024, 'maxHeaderBytes', 1024),
    concurrency: int(o.concurrency, 1, 'concurrency'),
    maxConnections: int(o.maxConnections, 1024, 'maxConnections'),
    maxLoadedBytes: int(o.maxLoadedBytes, 4096 * MIB, 'maxLoadedBytes'),
    maxLoadedLayers: int(o.maxLoadedLayers, 1024, 'maxLoadedLayers'),
    ...(o.token !== undefined ? { token: aToken(o.token) } : {}),
    log: o.log ?? (() => {}),
  };
}

/** A bearer token: at least 16 characters of RFC 6750's token68 alphabet (so it travels in a header as is). */
export function aToken(token: string): string {
  if (typeof token !== 'string' || !/^[A-Za-z0-9\-._~+/]{16,}=*$/.test(token)) throw new InvalidArgumentError('the accelerator token must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + /');
  return token;
}
