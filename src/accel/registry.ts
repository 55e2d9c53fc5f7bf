/**
 * Accelerator backends by name, after onnxruntime's registerBackend / resolveBackend (STYLE.md
 * "Backends behind one interface"): each backend registers once (a duplicate name throws), with
 * typed options (`BackendOptionMap`), an optional `init()` run lazily the first time it is asked
 * for (its failure remembered and reported with the reason), a factory for the trusted runtime's
 * side (`create`) and, for backends that compute in-process, the kernels an accelerator server
 * runs (`kernels`, for `slalom accelerator serve --backend`). `resolveBackend` tries the requested
 * backends in order and moves to the next one only when the caller allows it; when none starts,
 * it reports every failure together.
 *
 * The built-in backends are registered at the end of this file; their code loads only when one is
 * resolved (dynamic imports), so naming a backend costs nothing until it is used.
 */
import { createRequire } from 'node:module';
import { InvalidArgumentError, TransportError } from '../errors.js';
import type { ExactKernels, ExactKernelsName } from '../kernels/exact-linear.js';
import type { AcceleratorBackend, LinearRequest, PublicLayer } from './backend.js';
import type { HostKernels } from './host.js';
import type { HttpBackendOptions } from './http/client.js';
import type { AdapterChoice } from './webgpu/device.js';
import type { TileConfig } from './webgpu/wgsl/tiled.js';

export interface BackendOptionMap {
  /** The embedded worker thread with slalom's exact CPU kernels (the default accelerator). */
  worker: { readonly kernels?: ExactKernelsName; readonly threads?: number; readonly timeoutMs?: number; readonly maxBatch?: number };
  /** slalom's exact CPU kernels in the caller's own thread: no isolation (tests, measurements, fallback). */
  local: { readonly kernels?: ExactKernelsName; readonly threads?: number };
  /** Accelerator services over the Open Inference Protocol. */
  http: HttpBackendOptions;
  /** The embedded worker thread owning a GPU device: exact WGSL kernels through Dawn (src/accel/webgpu/); `adapter` defaults to SLALOM_WEBGPU_ADAPTER, else 'gpu'. */
  webgpu: { readonly adapter?: AdapterChoice; readonly tile?: TileConfig; readonly timeoutMs?: number; readonly maxBatch?: number };
}

export type BackendName = keyof BackendOptionMap;

export interface Backend<K extends BackendName> {
  /** Checks once that the backend can run here; throws the reason it cannot. */
  init?(): Promise<void>;
  /** The trusted runtime's accelerator, started (its own `init` awaited). */
  create(options: BackendOptionMap[K]): Promise<AcceleratorBackend>;
  /** The kernels an accelerator server runs, for backends that compute in-process. */
  kernels?(options: BackendOptionMap[K]): Promise<HostKernels>;
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

/** Registered backend names, highest priority first. */
export function backendNames(): BackendName[] {
  return [...registry.entries()].sort((a, b) => b[1].priority - a[1].priority).map(([n]) => n as BackendName);
}

export function isBackendName(name: string): name is BackendName {
  return registry.has(name);
}

function entry(name: BackendName): Entry {
  const e = registry.get(name);
  if (e === undefined) throw new InvalidArgumentError(`unknown accelerator backend '${name}' (one of ${backendNames().join(', ')})`);
  return e;
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
    let backend: AcceleratorBackend | undefined;
    try {
      const e = entry(request.name);
      await initialized(e);
      backend = await e.backend.create(request.options);
      return { name: request.name, backend, failures };
    } catch (err) {
      if (!options.fallthrough) throw err;
      failures.push({ name: request.name, reason: reasonOf(err) });
    }
  }
  throw new TransportError(`no accelerator backend started: ${failures.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
}

/** The in-process kernels of backend `name` (for `slalom accelerator serve --backend`). */
export async function resolveKernels<K extends BackendName>(name: K, options: BackendOptionMap[K]): Promise<HostKernels> {
  const e = entry(name);
  if (e.backend.kernels === undefined) throw new InvalidArgumentError(`accelerator backend '${name}' does not compute in-process`);
  await initialized(e);
  return e.backend.kernels(options);
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

// ---------------------------------------------------------------------------------------------
// The built-in backends

registerBackend(
  'worker',
  {
    async create(o) {
      const { WorkerBackend } = await import('./worker/client.js');
      return started(new WorkerBackend({ kernels: o.kernels ?? 'ort', ...(o.threads ? { threads: o.threads } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.maxBatch ? { maxBatch: o.maxBatch } : {}) }));
    },
    kernels: cpuKernels,
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
      const webgpu = { adapter: o.adapter ?? defaultAdapterChoice(), ...(o.tile ? { tile: o.tile } : {}) };
      return started(new WorkerBackend({ kernels: 'webgpu', webgpu, name: 'webgpu', ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.maxBatch ? { maxBatch: o.maxBatch } : {}) }));
    },
    async kernels(o) {
      const [{ openWebGpuKernels }, { defaultAdapterChoice, preferSurfacelessEgl }] = await Promise.all([import('./webgpu/host-kernels.js'), import('./webgpu/device.js')]);
      const adapter = o.adapter ?? defaultAdapterChoice();
      if (adapter !== 'gpu') preferSurfacelessEgl();
      return openWebGpuKernels({ adapter, ...(o.tile ? { tile: o.tile } : {}) });
    },
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
    kernels: cpuKernels,
  },
  0,
);
