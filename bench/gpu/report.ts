/**
 * The WebGPU section of bench/REPORT.md, rendered from webgpu-results.json and kept between the
 * markers below, so the CPU harness (bench/run.ts) and the GPU harness (bench/gpu/run.ts) can each
 * rewrite their part of one report.
 */
import { fmtCount, fmtMs, mdTable } from '../lib/stats.js';
import type { GpuModelRecord } from './measure.js';
import type { PeakRates } from './peak.js';
import type { DenseConfig } from '../../src/accel/webgpu/wgsl/dense.js';
import type { TileConfig } from '../../src/accel/webgpu/wgsl/tiled.js';

export const GPU_RESULTS_FILE = 'webgpu-results.json';
const BEGIN = '<!-- webgpu:begin -->';
const END = '<!-- webgpu:end -->';

export interface GpuEnvironment {
  readonly date: string;
  readonly node: string;
  readonly platform: string;
  readonly cpus: string;
  readonly cpuCount: number;
  readonly argv: readonly string[];
  readonly adapter: { readonly name: string; readonly software: boolean; readonly limits: Record<string, number> };
  readonly kernels: { readonly tile: TileConfig; readonly dense: DenseConfig };
  readonly peak: PeakRates;
  readonly wallSeconds?: number;
}

export interface TileTiming {
  readonly tile: TileConfig;
  readonly exactKernelMs: number;
  readonly f32KernelMs: number;
}

export interface GpuResults {
  readonly environment: GpuEnvironment;
  readonly tileSweep?: readonly { readonly model: string; readonly timings: readonly TileTiming[] }[];
  readonly models: readonly GpuModelRecord[];
}

const rate = (perS: number): string => `${fmtCount(perS)}/s`;
const tileName = (t: TileConfig): string => `${t.wgX}×${t.wgY} threads, ${t.tm}×${t.tn} per thread`;

function modelSection(m: GpuModelRecord, peak: PeakRates): string {
  const modes = mdTable(
    ['mode', 'wall / image', 'images/s', 'trusted', 'accelerator', 'accelerator share', 'setup', '= baseline'],
    m.modes.map((r) => [r.mode, fmtMs(r.wallMsPerImage), r.throughput.toFixed(2), fmtMs(r.trustedMsPerImage), fmtMs(r.acceleratorMsPerImage), `${(100 * r.acceleratorShare).toFixed(0)} %`, fmtMs(r.setupMs), r.logitsMatchBaseline ? 'yes' : '**NO**']),
    [false, true, true, true, true, true, true, false],
  );
  const top = [...m.layers].sort((a, b) => b.macs - a.macs).slice(0, 8);
  const layers = mdTable(
    ['layer', 'kernel', 'MACs', 'exact kernel', '12-bit limbs', 'dot4', 'fp32 kernel', 'tax', 'exact GMAC/s', 'limbs i32 MAD/s (of peak)', 'request'],
    top.map((l) => [
      l.name,
      `${l.op}/${l.family}${l.scheme === 'dot4' ? ' (dot4)' : ''}`,
      fmtCount(l.macs),
      fmtMs(l.exactKernelMs),
      l.limbsKernelMs !== undefined ? fmtMs(l.limbsKernelMs) : '—',
      l.dot4KernelMs !== undefined ? fmtMs(l.dot4KernelMs) : '—',
      fmtMs(l.f32KernelMs),
      `${(l.exactKernelMs / l.f32KernelMs).toFixed(2)}×`,
      l.exactGmacPerS.toFixed(2),
      `${rate(l.int32MadPerS)} (${((100 * l.int32MadPerS) / peak.int32MadPerS).toFixed(0)} %)`,
      fmtMs(l.requestMs),
    ]),
    [false, false, true, true, true, true, true, true, true, true, true],
  );
  return [
    `### ${m.model} (input ${m.inputDims.join('×')}, ${fmtCount(m.macs)} MACs)`,
    '',
    `onnxruntime fp32 on one trusted core: **${fmtMs(m.ortFp32MsPerImage)}**; \`baseline\` (the whole network exact in the trusted runtime): ${fmtMs(m.baselineMsPerImage)}` +
      (m.precomputeMsPerImage !== undefined ? `; offline pad precomputation (CPU): ${fmtMs(m.precomputeMsPerImage)} per image` : '') +
      '.',
    '',
    modes,
    '',
    `Exact kernels alone (${m.kernelPath === 'dot4' ? 'packed 4×8-bit dot products in the tiled kernels' : '12-bit limbs'}, as the modes ran): Σ ${fmtMs(m.exactKernelMs)} over ${m.layers.length} layers (${m.exactGmacPerS.toFixed(2)} GMAC/s; 12-bit limbs forced: ${m.limbsKernelMs !== undefined ? fmtMs(m.limbsKernelMs) : '—'}, dot4 forced: ${m.dot4KernelMs !== undefined ? fmtMs(m.dot4KernelMs) : 'not measured'}); the same kernels in float32 on this device: ${fmtMs(m.f32KernelMs)} — exactness tax **${m.exactnessTax.toFixed(2)}×**. ` +
      `Σ of one request per layer (upload, kernels, read-back): ${fmtMs(m.requestMs)}. The largest layers:`,
    '',
    layers,
  ].join('\n');
}

export function renderGpuSection(r: GpuResults): string {
  const e = r.environment;
  const label = e.adapter.software
    ? `**Software adapter — these numbers measure correctness, not speed.** Adapter: ${e.adapter.name}; Mesa's llvmpipe runs the WGSL kernels on the CPU (${e.cpus}, ${e.cpuCount} cores, shared with the trusted runtime and other processes). A GPU run is what the targets are about (bench/gpu/README.md).`
    : `Adapter: **${e.adapter.name}**; trusted CPU: ${e.cpus} (${e.cpuCount} cores).`;
  const sweep =
    r.tileSweep === undefined || r.tileSweep.length === 0
      ? ''
      : `\n\nTile sweep (Σ exact kernel time over the model's layers):\n\n${mdTable(
          ['model', 'tile', 'exact', 'fp32'],
          r.tileSweep.flatMap((s) => s.timings.map((t) => [s.model, tileName(t.tile), fmtMs(t.exactKernelMs), fmtMs(t.f32KernelMs)])),
          [false, false, true, true],
        )}`;
  return [
    BEGIN,
    '## WebGPU accelerator',
    '',
    `Measured ${e.date.slice(0, 10)} by \`${e.argv.join(' ')}\` (bench/gpu/, method in bench/README.md). ${label}`,
    '',
    `Kernels: tiled ${tileName(e.kernels.tile)}; dense ${JSON.stringify(e.kernels.dense)}. This path's own ceiling (bench/gpu/peak.ts): ${rate(e.peak.int32MadPerS)} independent i32 multiply-adds, ${rate(e.peak.f32FmaPerS)} f32 FMAs. ` +
      'Every mode runs end to end with the embedded `webgpu` accelerator (a worker thread owning the device), one image at a time; "accelerator" is the time the trusted runtime waited on it (kernels, transfers, the worker), "setup" starting it, uploading the weights and opening the protocol.' +
      sweep,
    '',
    r.models.map((m) => modelSection(m, e.peak)).join('\n\n'),
    END,
  ].join('\n');
}

/** `markdown` with its WebGPU section replaced by `section` (appended when it has none). */
export function spliceGpuSection(markdown: string, section: string): string {
  const a = markdown.indexOf(BEGIN);
  const b = markdown.indexOf(END);
  if (a >= 0 && b > a) return `${markdown.slice(0, a)}${section}${markdown.slice(b + END.length)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}
