/**
 * The WebGPU benchmark (issue 14; bench/README.md "WebGPU"): per model, every outsourcing mode end to
 * end with the `webgpu` accelerator against onnxruntime fp32 on one trusted core, and the exact
 * kernels layer by layer against the same kernels in float32 on the same device; the device's own
 * i32/f32 ceiling; optionally a sweep of tile shapes. Writes webgpu-results.json and the WebGPU
 * section of REPORT.md in --out.
 *
 *   npx tsx bench/gpu/run.ts [--adapter gpu|auto|software] [--models a,b] [--modes x,y] [--runs n]
 *                            [--warmup n] [--repeats n] [--tiles wXxwYxTMxTN,…] [--out dir] [--render]
 *
 * `npm run bench -- --webgpu <adapter>` runs the same after the CPU harness.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { ADAPTER_CHOICES, type AdapterChoice } from '../../src/accel/webgpu/device.js';
import { WebGpuEngine } from '../../src/accel/webgpu/engine.js';
import { checkTileConfig, type TileConfig } from '../../src/accel/webgpu/wgsl/tiled.js';
import type { Mode } from '../../src/index.js';
import { BENCH_MODELS } from '../lib/types.js';
import { GPU_MODES, measureGpuModel, measureLayers, type GpuModelRecord } from './measure.js';
import { measurePeak } from './peak.js';
import { GPU_RESULTS_FILE, renderGpuSection, spliceGpuSection, type GpuResults, type TileTiming } from './report.js';

export interface GpuBenchOptions {
  readonly adapter: AdapterChoice;
  readonly models: readonly string[];
  readonly modes: readonly Mode[];
  readonly warmup: number;
  readonly runs: number;
  readonly repeats: number;
  readonly tiles: readonly TileConfig[];
  readonly out: string;
  readonly argv: readonly string[];
  readonly log: (msg: string) => void;
}

/** Rewrites `<out>/REPORT.md`'s WebGPU section from `<out>/webgpu-results.json`, if there is one. */
export function refreshGpuSection(out: string): void {
  const results = join(out, GPU_RESULTS_FILE);
  const report = join(out, 'REPORT.md');
  if (!existsSync(results)) return;
  const section = renderGpuSection(JSON.parse(readFileSync(results, 'utf8')) as GpuResults);
  writeFileSync(report, spliceGpuSection(existsSync(report) ? readFileSync(report, 'utf8') : '# slalom benchmark\n', section));
}

/** Measures and writes; throws (with the reason) when the adapter cannot be opened. */
export async function runGpuBench(o: GpuBenchOptions): Promise<GpuResults> {
  const t0 = performance.now();
  const probe = await WebGpuEngine.open({ adapter: o.adapter, ...(o.tiles[0] ? { tile: o.tiles[0] } : {}) });
  const adapter = { name: probe.adapter.name, software: probe.adapter.software, limits: { ...probe.adapter.limits } };
  const kernels = probe.kernelConfig;
  await probe.close();
  o.log(`webgpu: ${adapter.name}`);
  const peak = await measurePeak(o.adapter);
  o.log(`webgpu: ceiling ${(peak.int32MadPerS / 1e9).toFixed(1)} G i32 MAD/s, ${(peak.f32FmaPerS / 1e9).toFixed(1)} G f32 FMA/s`);
  const cpu = cpus();
  const environment = { date: new Date().toISOString(), node: process.versions.node, platform: `${process.platform} ${process.arch}`, cpus: cpu[0]?.model.trim() ?? 'unknown CPU', cpuCount: cpu.length, argv: o.argv, adapter, kernels, peak };
  const models: GpuModelRecord[] = [];
  const tileSweep: { model: string; timings: TileTiming[] }[] = [];
  mkdirSync(o.out, { recursive: true });
  const write = (final: boolean): GpuResults => {
    const results: GpuResults = { environment: final ? { ...environment, wallSeconds: (performance.now() - t0) / 1000 } : environment, ...(tileSweep.length ? { tileSweep } : {}), models };
    writeFileSync(join(o.out, GPU_RESULTS_FILE), `${JSON.stringify(results, null, 2)}\n`);
    refreshGpuSection(o.out);
    return results;
  };
  for (const name of o.models) {
    if (o.tiles.length > 1) {
      const { loadBenchModel } = await import('../lib/measure.js');
      const model = await loadBenchModel(name);
      const timings: TileTiming[] = [];
      for (const tile of o.tiles) {
        try {
          const layers = await measureLayers(model, { adapter: o.adapter, tile, repeats: o.repeats, log: o.log, sideBySide: false });
          timings.push({ tile, exactKernelMs: layers.reduce((s, l) => s + l.exactKernelMs, 0), f32KernelMs: layers.reduce((s, l) => s + l.f32KernelMs, 0) });
        } catch (e) {
          o.log(`[${name}] tile ${JSON.stringify(tile)} not usable: ${(e as Error).message}`);
        }
      }
      tileSweep.push({ model: name, timings });
      write(false);
    }
    const best = tileSweep.find((s) => s.model === name)?.timings.reduce((a, b) => (b.exactKernelMs < a.exactKernelMs ? b : a))?.tile ?? o.tiles[0];
    models.push(await measureGpuModel(name, { adapter: o.adapter, ...(best ? { tile: best } : {}), modes: o.modes, warmup: o.warmup, runs: o.runs, repeats: o.repeats, log: o.log }));
    write(false);
  }
  return write(true);
}

/** "16x16x4x4" → { wgX: 16, wgY: 16, tm: 4, tn: 4 }. */
export function parseTile(text: string): TileConfig {
  const [wgX, wgY, tm, tn, ...rest] = text.split(/[x×]/).map(Number);
  const tile = { wgX: wgX!, wgY: wgY!, tm: tm!, tn: tn! };
  if (rest.length > 0) throw new RangeError(`tile '${text}' is not wgX×wgY×tm×tn`);
  checkTileConfig(tile);
  return tile;
}

const USAGE = `usage: npx tsx bench/gpu/run.ts [options]

  --adapter a     gpu (default: a hardware GPU, else fail), auto (a GPU, else the software adapter), software
  --models a,b    default vgg16,resnet50 (software adapter: fashion-mnist,resnet18); any of ${BENCH_MODELS.join(', ')}
  --modes x,y     default ${GPU_MODES.join(',')}
  --runs n        measured inferences per mode (default 3); --warmup n (default 1)
  --repeats n     kernel executions per layer timing (default 5)
  --tiles list    tiled-kernel shapes to sweep, e.g. 16x16x4x4,16x16x8x4 (wgX×wgY×tm×tn); the fastest runs the modes
  --out dir       where webgpu-results.json and REPORT.md go (default bench/)
  --render        measure nothing: rewrite REPORT.md's WebGPU section from --out's webgpu-results.json
`;

async function main(argv: readonly string[]): Promise<void> {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (flag: string, def: number, min: number): number => {
    const v = get(flag) === undefined ? def : Number(get(flag));
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${flag} must be an integer ≥ ${min}`);
    return v;
  };
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return;
  }
  const out = resolve(get('--out') ?? new URL('..', import.meta.url).pathname);
  if (argv.includes('--render')) {
    refreshGpuSection(out);
    process.stderr.write(`bench/gpu: rewrote the WebGPU section of ${join(out, 'REPORT.md')} from ${join(out, GPU_RESULTS_FILE)}\n`);
    return;
  }
  const adapter = (get('--adapter') ?? 'gpu') as AdapterChoice;
  if (!ADAPTER_CHOICES.includes(adapter)) throw new RangeError(`--adapter must be one of ${ADAPTER_CHOICES.join(', ')}`);
  const models = (get('--models') ?? (adapter === 'software' ? 'fashion-mnist,resnet18' : 'vgg16,resnet50')).split(',').filter(Boolean);
  for (const m of models) if (!(BENCH_MODELS as readonly string[]).includes(m)) throw new RangeError(`unknown model '${m}' (one of ${BENCH_MODELS.join(', ')})`);
  const modes = (get('--modes') ?? GPU_MODES.join(',')).split(',').filter(Boolean) as Mode[];
  for (const m of modes) if (!(GPU_MODES as readonly string[]).includes(m)) throw new RangeError(`unknown mode '${m}' (one of ${GPU_MODES.join(', ')})`);
  const tiles = (get('--tiles') ?? '').split(',').filter(Boolean).map(parseTile);
  const start = performance.now();
  const log = (msg: string): void => void process.stderr.write(`[${((performance.now() - start) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
  await runGpuBench({ adapter, models, modes, warmup: int('--warmup', 1, 0), runs: int('--runs', 3, 1), repeats: int('--repeats', 5, 1), tiles, out, argv: ['bench/gpu/run.ts', ...argv], log });
  log(`wrote ${join(out, GPU_RESULTS_FILE)} and the WebGPU section of ${join(out, 'REPORT.md')}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`bench/gpu: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
