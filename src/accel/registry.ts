/**
 * Accelerator backends by name, after onnxruntime's registerBackend / resolveBackend: each backend
 * registers once (a duplicate name throws), with typed options (`BackendOptionMap`), an optional
 * `init()` run lazily the first time it is asked for (its failure remembered and reported with the
 * reason), and what it can do: `create` the trusted runtime's side of it, and/or give the in-process
 * kernels an accelerator service computes with (`kernels`, from kernels/registry.ts). `resolveBackend`
 * tries the requested backends in order and moves to the next one only when the caller allows it; when
 * none starts, it reports every failure together.
 *
 * Both command lines name backends through here: `--accelerator` (`worker`, `webgpu:auto`, …) and
 * `slalom accelerator serve --backend` (`onnxruntime`, `reference`, `webgpu:software`, …) give a
 * `name[:variant]` that `backendRequest` turns into typed options, so a new backend is one
 * registration that both see.
 *
 * The built-in backends are registered at the end of this file; their code loads only when one is
 * resolved (dynamic imports), so naming a backend costs nothing until it is used.
 */
import { createRequire } from 'node:module';
import { InvalidArgumentError, TransportError } from '../errors.js';
import type { ExactKernels, ExactKernelsName } from '../kernels/exact-linear.js';
import { openKernels } from '../kernels/registry.js';
import type { AcceleratorBackend, LinearRequest, PublicLayer } from './backend.js';
import type { HttpBackendOptions } from './http/client.js';
import type { AdapterChoice } from './webgpu/device.js';
import type { WebGpuKernelChoice } from './webgpu/kernel-path.js';
import type { TileConfig } from './webgpu/wgsl/tiled.js';

export interface BackendOptionMap {
  /** The embedded worker thread with slalom's exact CPU kernels (the default accelerator). */
  worker: { readonly kernels?: ExactKernelsName; readonly threads?: number; readonly timeoutMs?: number; readonly maxBatch?: number };
  /** slalom's exact CPU kernels in the caller's own thread: no isolation (tests, measurements, fallback). */
  local: { readonly kernels?: ExactKernelsName; readonly threads?: number };
  /** Accelerator services over the Open Inference Protocol. */
  http: HttpBackendOptions;
  /** The embedded worker thread owning a GPU device: exact WGSL kernels through Dawn (src/accel/webgpu/); `adapter` defaults to SLALOM_WEBGPU_ADAPTER, else 'gpu'. */
  webgpu: { readonly adapter?: AdapterChoice; readonly tile?: TileConfig; readonly kernel?: WebGpuKernelChoice; readonly timeoutMs?: number; readonly maxBatch?: number };
  /** An accelerator service's kernels only: each layer's exact ONNX graph (http/export.ts) in onnxruntime. */
  onnxruntime: { readonly threads?: number };
  /** An accelerator service's kernels only: slalom's exact CPU kernels. */
  reference: { readonly kernels?: ExactKernelsName; readonly threads?: number };
}

export type BackendName = keyof BackendOptionMap;

/** What a command line gives besides `name[:variant]`; each backend takes what applies to it. */
export interface CommonBackendOptions {
  /** The CPU kernels (`--kernels`). */
  readonly kernels?: ExactKernelsName;
  /** onnxruntime intra-op threads (`--threads`). */
  readonly threads?: number;
}

export interface Backend<K extends BackendName> {
  /** Checks once that the backend can run here; throws the reason it cannot. */
  init?(): Promise<void>;
  /** The trusted runtime's accelerator, started (its own `init` awaited); absent for a backend that only computes inside an accelerator service. */
  create?(options: BackendOptionMap[K]): Promise<AcceleratorBackend>;
  /** The kernels an accelerator service computes with, for backends that compute in-process. */
  kernels?(options: BackendOptionMap[K]): Promise<ExactKernels>;
  /** The variants `name:variant` may name (none if absent). */
  readonly variants?: readonly string[];
  /** Options from a command line's variant (one of `variants`, or none) and common options; default: the common options that the options type shares. */
  options?(variant: string | undefined, common: CommonBackendOptions): BackendOptionMap[K];
}

/** One backend to try, with its options. */
export type BackendRequest = { [K in BackendName]: { readonly name: K; readonly options: BackendOptionMap[K] } }[BackendName];

export interface BackendFailure {
  readonly name: BackendName;
  readonly reason: string;
}

export interface ResolvedBackend {
  readonly name: BackendName;
  readonly backend: AcceleratorBackend;
  /** Backends tried before it that failed (only with `fallthrough`). */
  readonly failures: readonly BackendFailure[];
}

interface Entry {
  readonly backend: Backend<BackendName>;
  readonly priority: number;
  initialized?: Promise<void>;
}

const registry = new Map<string, Entry>();

/** Registers `backend` under `name`; a name registered twice throws. Higher `priority` lists first. */
export function registerBackend<K extends BackendName>(name: K, backend: Backend<K>, priority = 0): void {
  if (registry.has(name)) throw new InvalidArgumentError(`accelerator backend '${name}' is already registered`);
  registry.set(name, { backend: backend as unknown as Backend<BackendName>, priority });
}

/**
 * Registered backend names, highest priority first: all of them, those the trusted runtime can
 * start (`'create'`), or those an accelerator service can compute with (`'kernels'`).
 */
export function backendNames(can?: 'create' | 'kernels'): BackendName[] {
  return [...registry.entries()]
    .filter(([, e]) => can === undefined || e.backend[can] !== undefined)
    .sort((a, b) => b[1].priority - a[1].priority)
    .map(([n]) => n as BackendName);
}

export function isBackendName(name: string): name is BackendName {
  return registry.has(name);
}

/** `name` and `name:variant` for each backend that can do `can`: for help texts and error messages. */
export function backendForms(can: 'create' | 'kernels'): string[] {
  return backendNames(can).map((n) => {
    const variants = registry.get(n)!.backend.variants;
    return variants === undefined ? n : `${n}[:${variants.join('|')}]`;
  });
}

function entry(name: BackendName): Entry {
  const e = registry.get(name);
  if (e === undefined) throw new InvalidArgumentError(`unknown accelerator backend '${name}' (one of ${backendNames().join(', ')})`);
  return e;
}

/**
 * The request a command line names: backend `name` (which must be able to do `can`), its `variant`
 * if any, and the common options. Throws InvalidArgumentError for an unknown name, a backend that
 * cannot do `can`, or a variant it does not take.
 */
export function backendRequest(name: string, variant: string | undefined, common: CommonBackendOptions, can: 'create' | 'kernels'): BackendRequest {
  const e = registry.get(name);
  const forms = backendForms(can).join(', ');
  if (e === undefined || e.backend[can] === undefined) throw new InvalidArgumentError(`'${name}' is not one of ${forms}`);
  if (variant !== undefined && !(e.backend.variants ?? []).includes(variant)) throw new InvalidArgumentError(`'${name}:${variant}' is not one of ${forms}`);
  const options = e.backend.options?.(variant, common) ?? common;
  return { name, options } as BackendRequest;
}

/** The backend's one-time init, run on first use; a failure stays the answer (as onnxruntime marks a backend aborted). */
function initialized(e: Entry): Promise<void> {
  e.initialized ??= e.backend.init?.() ?? Promise.resolve();
  return e.initialized;
}

const reasonOf = (e: unknown): string => (e as Error)?.message ?? String(e);

/**
 * The first of `requests` that starts. Without `fallthrough` the first failure is thrown as is;
 * with it, failures are collected and the next request tried; if none starts, one TransportError
 * lists every reason.
 */
export async function resolveBackend(requests: readonly BackendRequest[], options: { fallthrough?: boolean } = {}): Promise<ResolvedBackend> {
  if (requests.length === 0) throw new InvalidArgumentError('no accelerator backend requested');
  const failures: BackendFailure[] = [];
  for (const request of requests) {
    try {
      const e = entry(request.name);
      if (e.backend.create === undefined) throw new InvalidArgumentError(`accelerator backend '${request.name}' only computes inside an accelerator service (\`slalom accelerator serve --backend ${request.name}\`)`);
      await initialized(e);
      return { name: request.name, backend: await e.backend.create(request.options), failures };
    } catch (err) {
      if (!options.fallthrough) throw err;
      failures.push({ name: request.name, reason: reasonOf(err) });
    }
  }
  throw new TransportError(`no accelerator backend started: ${failures.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
}

/** The in-process kernels of a backend (for `slalom accelerator serve --backend`). */
export async function resolveKernels(request: BackendRequest): Promise<ExactKernels> {
  const e = entry(request.name);
  if (e.backend.kernels === undefined) throw new InvalidArgumentError(`accelerator backend '${request.name}' does not compute in-process`);
  await initialized(e);
  return e.backend.kernels(request.options);
}

/** Starts `backend` (its optional init); on failure closes it and rethrows. */
async function started(backend: AcceleratorBackend): Promise<AcceleratorBackend> {
  try {
    await backend.init?.();
    return backend;
  } catch (e) {
    await backend.close().catch(() => {});
    throw e;
  }
}

async function cpuKernels(o: { kernels?: ExactKernelsName; threads?: number }): Promise<ExactKernels> {
  const { createExactKernels } = await import('../kernels/exact-linear.js');
  return createExactKernels(o.kernels ?? 'ort', o.threads ?? 1);
}

const cpuOptions = (_: string | undefined, c: CommonBackendOptions) => ({ ...(c.kernels ? { kernels: c.kernels } : {}), ...(c.threads ? { threads: c.threads } : {}) });

// ---------------------------------------------------------------------------------------------
// The built-in backends

registerBackend(
  'worker',
  {
    async create(o) {
      const { WorkerBackend } = await import('./worker/client.js');
      return started(new WorkerBackend({ kernels: o.kernels ?? 'ort', ...(o.threads ? { threads: o.threads } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.maxBatch ? { maxBatch: o.maxBatch } : {}) }));
    },
    options: cpuOptions,
  },
  30,
);

registerBackend(
  'webgpu',
  {
    async init() {
      // The package is optional (132 MB of Dawn binaries): say so plainly when it is missing.
      try {
        createRequire(import.meta.url).resolve('webgpu');
      } catch {
        throw new TransportError("the webgpu backend needs the optional npm package 'webgpu' (Dawn); install it with `npm install webgpu`");
      }
    },
    async create(o) {
      const [{ WorkerBackend }, { defaultAdapterChoice }] = await Promise.all([import('./worker/client.js'), import('./webgpu/device.js')]);
      const webgpu = { adapter: o.adapter ?? defaultAdapterChoice(), ...(o.tile ? { tile: o.tile } : {}), ...(o.kernel ? { kernel: o.kernel } : {}) };
      return started(new WorkerBackend({ kernels: 'webgpu', webgpu, name: 'webgpu', ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.maxBatch ? { maxBatch: o.maxBatch } : {}) }));
    },
    async kernels(o) {
      const [{ defaultAdapterChoice, preferSurfacelessEgl }] = await Promise.all([import('./webgpu/device.js'), import('./webgpu/register.js')]);
      const adapter = o.adapter ?? defaultAdapterChoice();
      if (adapter !== 'gpu') preferSurfacelessEgl();
      return openKernels('webgpu', { adapter, ...(o.tile ? { tile: o.tile } : {}), ...(o.kernel ? { kernel: o.kernel } : {}) });
    },
    // Kept in step with webgpu/device.ts ADAPTER_CHOICES (test/accel/registry.test.ts), which this file must not load eagerly.
    variants: ['gpu', 'auto', 'software'],
    options: (variant) => (variant === undefined ? {} : { adapter: variant as AdapterChoice }),
  },
  20,
);

registerBackend(
  'http',
  {
    async create(o) {
      const { HttpBackend } = await import('./http/client.js');
      return new HttpBackend(o);
    },
  },
  10,
);

registerBackend(
  'local',
  {
    async create(o) {
      const [{ LocalBackend }, kernels] = await Promise.all([import('./local.js'), cpuKernels(o)]);
      const local = new LocalBackend(kernels);
      // LocalBackend leaves its kernels to their owner: here that is this backend.
      return {
        name: 'local',
        device: `this thread (${kernels.name} kernels)`,
        loadWeights: (layers: readonly PublicLayer[]) => local.loadWeights(layers),
        linear: (request: LinearRequest) => local.linear(request),
        close: () => kernels.close(),
      };
    },
    options: cpuOptions,
  },
  0,
);

registerBackend(
  'onnxruntime',
  {
    async kernels(o) {
      await import('./http/onnx-graph-kernels.js'); // registers the 'onnx-graph' kernels
      return openKernels('onnx-graph', { threads: o.threads ?? 1 });
    },
    options: (_, c) => (c.threads ? { threads: c.threads } : {}),
  },
  -10,
);

registerBackend('reference', { kernels: cpuKernels, options: cpuOptions }, -20);
