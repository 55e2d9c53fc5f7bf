/**
 * Choosing the GPU: Dawn (the npm `webgpu` package, loaded only here and only when this backend is
 * used) and the adapter policy.
 *
 * - `gpu` (the default, unless `SLALOM_WEBGPU_ADAPTER` names another): a hardware adapter — Dawn's default backend (Vulkan on Linux, Metal, D3D12),
 *   high-performance preference. None, or only a software one: refused, with the way out named.
 * - `auto`: a hardware adapter if there is one, else the software adapter.
 * - `software`: the software adapter only — Mesa's llvmpipe through Dawn's OpenGL ES backend
 *   (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri libgles2). Exact, but slow: for tests and for
 *   machines without a GPU. EGL needs `EGL_PLATFORM=surfaceless` without a display; `preferSurfacelessEgl`
 *   sets it (the main thread must, before a worker opens the device: a worker's process.env is a copy).
 *
 * The result names the adapter, so the output can say what computed ("software adapter" included).
 */
/// <reference types="@webgpu/types" />
import { InvalidArgumentError, TransportError } from '../../errors.js';

export type AdapterChoice = 'gpu' | 'auto' | 'software';
export const ADAPTER_CHOICES: readonly AdapterChoice[] = ['gpu', 'auto', 'software'];

/** The policy when none is named: `SLALOM_WEBGPU_ADAPTER` (gpu, auto or software), else `gpu`. */
export function defaultAdapterChoice(): AdapterChoice {
  const v = process.env.SLALOM_WEBGPU_ADAPTER;
  if (v === undefined || v === '') return 'gpu';
  if (!(ADAPTER_CHOICES as readonly string[]).includes(v)) throw new InvalidArgumentError(`SLALOM_WEBGPU_ADAPTER must be one of ${ADAPTER_CHOICES.join(', ')}, got '${v}'`);
  return v as AdapterChoice;
}

export interface AdapterDescription {
  /** e.g. "nvidia NVIDIA H200 (…driver…)" or "llvmpipe-llvm-15-0-6-256-bits (OpenGL ES 3.2 Mesa 22.3.6), a software adapter: …". */
  readonly name: string;
  readonly software: boolean;
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** The Dawn backend asked for: 'default' or 'opengles'. */
  readonly backend: string;
  /** The device limits the kernels were sized for. */
  readonly limits: {
    readonly maxComputeInvocationsPerWorkgroup: number;
    readonly maxComputeWorkgroupStorageSize: number;
    readonly maxStorageBufferBindingSize: number;
    readonly maxBufferSize: number;
  };
}

export interface OpenedDevice {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  /**
   * Dawn's instance. Whoever holds the device must hold this too: a collected instance is freed
   * while Dawn's event loop still calls into it (a crash in ProcessEvents).
   */
  readonly instance: GPU;
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

const SOFTWARE_RE = /llvmpipe|lavapipe|softpipe|swiftshader|software rasterizer/i;

/** Sets EGL_PLATFORM=surfaceless unless the user chose a platform (EGL without a display needs it). */
export function preferSurfacelessEgl(): void {
  if (process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless';
}

async function loadDawn(): Promise<DawnModule> {
  let mod: DawnModule;
  try {
    // A variable specifier: the package is optional, so its absence must not break type-checking.
    const specifier = 'webgpu';
    mod = (await import(specifier)) as DawnModule;
  } catch (e) {
    throw new TransportError(`the webgpu accelerator needs the optional npm package 'webgpu' (Dawn), which did not load: ${(e as Error).message}`, { cause: e });
  }
  // GPUBufferUsage, GPUMapMode, GPUShaderStage…: Dawn's globals, as a browser has them.
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return mod;
}

function describe(adapter: GPUAdapter, backend: string, device: GPUDevice): AdapterDescription {
  const info = adapter.info;
  const software = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true || SOFTWARE_RE.test(`${info.vendor} ${info.device} ${info.description}`);
  const model = (info.device || info.architecture).replace(/[-\s]+$/, '');
  const label = (model.toLowerCase().includes(info.vendor.toLowerCase()) ? model : `${info.vendor} ${model}`).trim() || 'unknown adapter';
  const detail = info.description.replace(/^OpenGL version /, '');
  return {
    name: `${label}${detail ? ` (${detail})` : ''}${software ? ', a software adapter: exact but slow, not a GPU' : ''}`,
    software,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    backend,
    limits: {
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
    },
  };
}

/** The limits the kernels use, as large as the adapter allows (defaults are 128 MiB bindings and 16 KiB of shared memory). */
function wantedLimits(a: GPUAdapter): Record<string, number> {
  const l = a.limits;
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: Math.min(l.maxComputeInvocationsPerWorkgroup, 256),
    maxComputeWorkgroupSizeX: Math.min(l.maxComputeWorkgroupSizeX, 256),
    maxComputeWorkgroupSizeY: Math.min(l.maxComputeWorkgroupSizeY, 256),
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
}

async function tryAdapter(dawn: DawnModule, backend: 'default' | 'opengles'): Promise<{ instance: GPU; adapter: GPUAdapter } | null> {
  const instance = dawn.create(backend === 'opengles' ? ['backend=opengles'] : []);
  const adapter = await (backend === 'opengles' ? instance.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions) : instance.requestAdapter({ powerPreference: 'high-performance' }));
  return adapter === null ? null : { instance, adapter };
}

async function openOn(found: { instance: GPU; adapter: GPUAdapter }, backend: string): Promise<OpenedDevice> {
  const device = await found.adapter.requestDevice({ requiredLimits: wantedLimits(found.adapter) });
  return { device, adapter: describe(found.adapter, backend, device), instance: found.instance };
}

/** Opens a device under `choice`, or throws TransportError saying what was found and what to do. */
export async function openGpuDevice(choice: AdapterChoice): Promise<OpenedDevice> {
  const dawn = await loadDawn();
  let seen = 'none';
  if (choice !== 'software') {
    const hw = await tryAdapter(dawn, 'default');
    if (hw !== null) {
      const opened = await openOn(hw, 'default');
      if (!opened.adapter.software) return opened;
      seen = opened.adapter.name;
      opened.device.destroy();
    }
    if (choice === 'gpu') {
      throw new TransportError(
        `no GPU adapter found (Dawn's default backend offered: ${seen}); use --accelerator webgpu:auto (or SLALOM_WEBGPU_ADAPTER=auto) to fall back to the software adapter, or webgpu:software`,
      );
    }
  }
  preferSurfacelessEgl();
  const sw = await tryAdapter(dawn, 'opengles');
  if (sw === null) {
    throw new TransportError(
      `no WebGPU adapter found: no GPU (${seen}) and no software adapter (Mesa's llvmpipe through OpenGL ES needs libegl1 libegl-mesa0 libgl1-mesa-dri libgles2, and EGL_PLATFORM=surfaceless without a display)`,
    );
  }
  return openOn(sw, 'opengles');
}
