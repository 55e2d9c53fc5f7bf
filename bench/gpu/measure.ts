/**
 * One model with the `webgpu` accelerator (issue 14): end to end in every mode — wall clock per
 * image, images/s, the trusted side's time and the time spent waiting on the accelerator (its
 * share of the wall clock), logits against `baseline` — next to onnxruntime fp32 on one core of
 * the trusted CPU; then layer by layer, on engines of its own: the exact kernels alone in each exact
 * scheme side by side (12-bit limbs, and packed 4×8-bit dot products where the device passes their
 * probe: kernel time, GMAC/s, i32 multiply-adds/s), the same kernels in float32 on the same device
 * (the exactness tax) and one whole request (upload, kernels, read-back: the accelerator's time per
 * layer), the last two with the scheme the modes ran ('auto'). Pads and trusted state live in a temporary directory, removed afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBackend } from '../../src/accel/registry.js';
import type { AdapterChoice } from '../../src/accel/webgpu/device.js';
import { WebGpuEngine } from '../../src/accel/webgpu/engine.js';
import type { WebGpuKernelPath } from '../../src/accel/webgpu/kernel-path.js';
import type { TileConfig } from '../../src/accel/webgpu/wgsl/tiled.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { createExactKernels, openProtocol, PadStore, precomputePads, SlalomModel, TrustedState, type Mode, type Tensor } from '../../src/index.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { benchInput, loadBenchModel } from '../lib/measure.js';
import { median } from '../lib/stats.js';
import type { ServiceMeasurement } from '../lib/types.js';

export const GPU_MODES = ['outsourced', 'verified', 'private', 'private+verified'] as const;
const PRIVATE = new Set<Mode>(['private', 'private+verified']);

/** One mode end to end with the webgpu accelerator: the fields of a service measurement (bench/lib/types.ts), plus the wait's share. */
export interface GpuModeRecord extends ServiceMeasurement {
  readonly mode: Mode;
  /** acceleratorMsPerImage / wallMsPerImage. */
  readonly acceleratorShare: number;
}

export interface GpuLayerRecord {
  readonly name: string;
  readonly op: 'Conv' | 'Gemm';
  readonly family: string;
  readonly macs: number;
  readonly inDims: readonly number[];
  /** Weights (Conv [M, C/g, kH, kW], Gemm [K, N]) and conv attributes: enough to rebuild the layer elsewhere (bench/gpu/torch_fp32.py). */
  readonly wDims: readonly number[];
  readonly conv?: ConvAttrs;
  /** The exact kernels alone, ms per execution, in the scheme the modes ran ('auto': dot4 where it passed its probe). */
  readonly exactKernelMs: number;
  /** Side by side only: the same in each scheme, forced — 12-bit limbs, and packed dot products where the device runs them. */
  readonly limbsKernelMs?: number;
  readonly dot4KernelMs?: number;
  /** The scheme 'auto' runs this layer's request in (depthwise and small-batch Gemm: always limbs). */
  readonly scheme: WebGpuKernelPath;
  /** The same kernels in float32, ms per execution. */
  readonly f32KernelMs: number;
  readonly exactGmacPerS: number;
  /** i32 multiply-adds per second in the 12-bit-limb kernels (two per MAC: one per limb; from exactKernelMs when not side by side). */
  readonly int32MadPerS: number;
  /** One whole request: upload, kernels, read-back (median ms). */
  readonly requestMs: number;
}

export interface GpuModelRecord {
  readonly model: string;
  readonly inputDims: readonly number[];
  readonly macs: number;
  readonly loadMs: number;
  readonly ortFp32MsPerImage: number;
  readonly baselineMsPerImage: number;
  readonly precomputeMsPerImage?: number;
  readonly modes: readonly GpuModeRecord[];
  readonly layers: readonly GpuLayerRecord[];
  readonly exactKernelMs: number;
  /** Which scheme 'auto' chose on this device, and Σ kernel time per scheme (dot4 absent where the device cannot run it). */
  readonly kernelPath: WebGpuKernelPath;
  readonly limbsKernelMs?: number;
  readonly dot4KernelMs?: number;
  readonly f32KernelMs: number;
  /** exactKernelMs / f32KernelMs on the same device. */
  readonly exactnessTax: number;
  readonly exactGmacPerS: number;
  /** Σ of the per-layer request times: the accelerator's share of an inference, transfers included. */
  readonly requestMs: number;
}

export interface GpuMeasureOptions {
  readonly adapter: AdapterChoice;
  readonly tile?: TileConfig;
  readonly modes: readonly Mode[];
  readonly warmup: number;
  readonly runs: number;
  /** Kernel executions per timing of a layer (in one submission). */
  readonly repeats: number;
  readonly log: (msg: string) => void;
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

const same = (a: Float64Array, b: Float64Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

async function ortFp32(model: SlalomModel, input: Tensor, warmup: number, runs: number): Promise<number> {
  const session = await createReferenceSession(model.onnxBytes);
  try {
    for (let i = 0; i < warmup; i++) await session.run([input]);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push((await timed(() => session.run([input]))).ms);
    return median(ms);
  } finally {
    await session.close();
  }
}

async function modeRun(model: SlalomModel, mode: Mode, input: Tensor, baseline: Float64Array, o: GpuMeasureOptions, pads: { store: string; stateDir: string }): Promise<GpuModeRecord & { device: string }> {
  // A fresh accelerator per mode, as the CPU bench opens a protocol per mode; setup is timed apart.
  const setup = await timed(async () => {
    const { backend } = await resolveBackend([{ name: 'webgpu', options: { adapter: o.adapter, ...(o.tile ? { tile: o.tile } : {}) } }]);
    return { backend, protocol: await openProtocol(model, mode, { accelerator: backend, ...(PRIVATE.has(mode) ? { pads } : {}) }) };
  });
  const { backend, protocol } = setup.value;
  try {
    for (let i = 0; i < o.warmup; i++) await model.infer(input, { mode, protocol });
    const wall: number[] = [];
    const trusted: number[] = [];
    const accel: number[] = [];
    let match = true;
    for (let i = 0; i < o.runs; i++) {
      const { ms, value } = await timed(() => model.infer(input, { mode, protocol }));
      wall.push(ms);
      trusted.push(value.trustedMs);
      accel.push(value.acceleratorMs);
      match &&= same(value.logits, baseline);
    }
    const wallMs = median(wall);
    const acceleratorMs = median(accel);
    return {
      mode,
      device: backend.device ?? 'unknown adapter',
      warmup: o.warmup,
      runs: o.runs,
      setupMs: setup.ms,
      wallMsPerImage: wallMs,
      throughput: 1000 / wallMs,
      trustedMsPerImage: median(trusted),
      acceleratorMsPerImage: acceleratorMs,
      acceleratorShare: acceleratorMs / wallMs,
      logitsMatchBaseline: match,
      trustedMsSamples: trusted,
      wallMsSamples: wall,
    };
  } finally {
    await protocol.close?.();
  }
}

/**
 * Per-layer kernel and request times on engines of the bench's own: 'auto' (the scheme the modes ran)
 * for the float32 twin and the requests, and, side by side (the default), each exact scheme forced.
 */
export async function measureLayers(model: SlalomModel, o: Pick<GpuMeasureOptions, 'adapter' | 'tile' | 'repeats' | 'log'> & { readonly sideBySide?: boolean }): Promise<GpuLayerRecord[]> {
  const open = (kernel: 'auto' | WebGpuKernelPath): Promise<WebGpuEngine> => WebGpuEngine.open({ adapter: o.adapter, kernel, ...(o.tile ? { tile: o.tile } : {}) });
  const engine = await open('auto');
  const sideBySide = o.sideBySide ?? true;
  const limbs = sideBySide ? await open('limbs') : undefined;
  const dot4 = sideBySide
    ? await open('dot4').catch((e: unknown) => {
        o.log(`  dot4 kernels not measured: ${(e as Error).message}`);
        return undefined;
      })
    : undefined;
  const schemeMs = async (scheme: WebGpuEngine | undefined, layer: SlalomModel['quantized']['layers'][number]): Promise<number | undefined> => {
    if (scheme === undefined) return undefined;
    const registered = scheme.register(layer, layer.name);
    try {
      return await scheme.kernelMs(registered, layer.inDims, 'exact', o.repeats);
    } finally {
      scheme.release(registered);
    }
  };
  const out: GpuLayerRecord[] = [];
  try {
    for (const layer of model.quantized.layers) {
      const limbsKernelMs = await schemeMs(limbs, layer);
      const dot4KernelMs = await schemeMs(dot4, layer);
      const registered = engine.register(layer, layer.name);
      try {
        const scheme = engine.schemeOf(registered, layer.inDims);
        const exactKernelMs = (scheme === 'dot4' ? dot4KernelMs : limbsKernelMs) ?? (await engine.kernelMs(registered, layer.inDims, 'exact', o.repeats));
        const f32KernelMs = await engine.kernelMs(registered, layer.inDims, 'f32', o.repeats);
        const x = new Uint32Array(sizeOf(layer.inDims));
        for (let i = 0; i < x.length; i++) x[i] = (i * 2_654_435_761) % 16_777_213;
        await engine.run(registered, layer.inDims, x);
        const req: number[] = [];
        for (let i = 0; i < 3; i++) req.push((await timed(() => engine.run(registered, layer.inDims, x))).ms);
        out.push({
          name: layer.name,
          op: layer.op,
          family: registered.family,
          macs: layer.macs,
          inDims: layer.inDims,
          wDims: layer.w.dims,
          ...(layer.conv ? { conv: layer.conv } : {}),
          exactKernelMs,
          ...(limbsKernelMs !== undefined ? { limbsKernelMs } : {}),
          ...(dot4KernelMs !== undefined ? { dot4KernelMs } : {}),
          scheme,
          f32KernelMs,
          exactGmacPerS: layer.macs / exactKernelMs / 1e6,
          int32MadPerS: (2 * layer.macs) / ((limbsKernelMs ?? exactKernelMs) / 1000),
          requestMs: median(req),
        });
      } finally {
        engine.release(registered);
      }
    }
  } finally {
    await engine.close();
    await limbs?.close();
    await dot4?.close();
  }
  const sum = (f: (l: GpuLayerRecord) => number): string => out.reduce((s, l) => s + f(l), 0).toFixed(2);
  const schemes = `${limbs ? `; 12-bit limbs ${sum((l) => l.limbsKernelMs!)} ms` : ''}${dot4 ? `, dot4 ${sum((l) => l.dot4KernelMs!)} ms` : ''}`;
  o.log(`  layers: Σ exact kernels ${sum((l) => l.exactKernelMs)} ms (${engine.kernelConfig.path}${schemes}), Σ f32 ${sum((l) => l.f32KernelMs)} ms`);
  return out;
}

export async function measureGpuModel(name: string, o: GpuMeasureOptions): Promise<GpuModelRecord> {
  o.log(`[${name}] loading…`);
  const load = await timed(() => loadBenchModel(name));
  const model = load.value;
  const input = benchInput(model);
  const macs = model.quantized.layers.reduce((s, l) => s + l.macs, 0);
  const ortMs = await ortFp32(model, input, o.warmup, o.runs);
  o.log(`[${name}] onnxruntime fp32, one core: ${ortMs.toFixed(1)} ms`);
  // Baseline with the ort exact kernels, as bench/run.ts measures it; its first run is the warm-up and the reference logits.
  const trusted = await openProtocol(model, 'baseline', { kernels: 'ort' });
  let baseline: Float64Array;
  const baseMs: number[] = [];
  try {
    baseline = (await model.infer(input, { protocol: trusted })).logits;
    for (let i = 0; i < Math.min(o.runs, 3); i++) baseMs.push((await timed(() => model.infer(input, { protocol: trusted }))).ms);
  } finally {
    await trusted.close?.();
  }
  const baselineMs = median(baseMs);
  o.log(`[${name}] baseline (the whole network in the trusted runtime): ${baselineMs.toFixed(1)} ms`);
  const dir = mkdtempSync(join(tmpdir(), `slalom-bench-gpu-${name}-`));
  const pads = { store: join(dir, 'pads'), stateDir: join(dir, 'state') };
  const modes: GpuModeRecord[] = [];
  let precomputeMsPerImage: number | undefined;
  try {
    const privateModes = o.modes.filter((m) => PRIVATE.has(m)).length;
    if (privateModes > 0) {
      const count = privateModes * (o.warmup + o.runs);
      const kernels = await createExactKernels('ort');
      try {
        const r = await precomputePads(model.quantized, model, TrustedState.open(pads.stateDir), new PadStore(pads.store), count, kernels);
        precomputeMsPerImage = r.ms / count;
      } finally {
        await kernels.close();
      }
      o.log(`[${name}] precomputed ${count} pads (${precomputeMsPerImage.toFixed(1)} ms each)`);
    }
    for (const mode of o.modes) {
      const { device, ...r } = await modeRun(model, mode, input, baseline, o, pads);
      if (modes.length === 0) o.log(`[${name}] webgpu accelerator on ${device}`);
      o.log(`[${name}] ${mode}: ${r.wallMsPerImage.toFixed(1)} ms/image (${r.throughput.toFixed(2)} img/s), trusted ${r.trustedMsPerImage.toFixed(1)} ms, accelerator ${r.acceleratorMsPerImage.toFixed(1)} ms, logits ${r.logitsMatchBaseline ? '=' : '≠'} baseline`);
      modes.push(r);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const layers = await measureLayers(model, o);
  const exactKernelMs = layers.reduce((s, l) => s + l.exactKernelMs, 0);
  const limbs = layers.every((l) => l.limbsKernelMs !== undefined);
  const dot4 = layers.every((l) => l.dot4KernelMs !== undefined);
  const f32KernelMs = layers.reduce((s, l) => s + l.f32KernelMs, 0);
  return {
    model: name,
    inputDims: model.inputDims,
    macs,
    loadMs: load.ms,
    ortFp32MsPerImage: ortMs,
    baselineMsPerImage: baselineMs,
    ...(precomputeMsPerImage !== undefined ? { precomputeMsPerImage } : {}),
    modes,
    layers,
    exactKernelMs,
    kernelPath: layers.some((l) => l.scheme === 'dot4') ? 'dot4' : 'limbs',
    ...(limbs ? { limbsKernelMs: layers.reduce((s, l) => s + l.limbsKernelMs!, 0) } : {}),
    ...(dot4 ? { dot4KernelMs: layers.reduce((s, l) => s + l.dot4KernelMs!, 0) } : {}),
    f32KernelMs,
    exactnessTax: exactKernelMs / f32KernelMs,
    exactGmacPerS: macs / exactKernelMs / 1e6,
    requestMs: layers.reduce((s, l) => s + l.requestMs, 0),
  };
}
