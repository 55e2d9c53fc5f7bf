/**
 * The slalom benchmark harness (docs/design.md §6): every model × mode side by side in one process on one
 * machine — onnxruntime fp32 on one thread (the reference), baseline (slalom's exact quantized
 * evaluation in the trusted runtime), and the four outsourcing modes with the embedded accelerator
 * (verified and private+verified also with a loopback `slalom accelerator serve` child process) —
 * plus the machine's memory bandwidth and the resulting physical floor of the trusted side, and the
 * accelerator's exactness tax (its exact kernels against onnxruntime fp32, layer by layer).
 *
 *   npx tsx bench/run.ts [--quick] [--models a,b] [--modes x,y] [--out dir] [--runs n] [--warmup n] [--render] [--webgpu gpu|auto|software|off]
 *
 * Progress goes to stderr, the final table to stdout; results.json, REPORT.md and chart.svg are
 * written to --out (default bench/) after every model, so an interrupted run keeps what it measured.
 * See bench/README.md for what each number means.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ADAPTER_CHOICES, type AdapterChoice } from '../src/accel/webgpu/device.js';
import { boundaryImplementation } from '../src/simd/boundary.js';
import { ZOO_DECODERS, ZOO_TRANSFORMERS } from '../src/zoo/index.js';
import { GPU_MODES } from './gpu/measure.js';
import { refreshGpuSection, runGpuBench } from './gpu/run.js';
import { renderChart } from './lib/chart.js';
import { measureCiphers } from './lib/ciphers.js';
import { cpuFeatures } from './lib/cpu.js';
import { measureBandwidth } from './lib/membw.js';
import { measureGeneration } from './lib/generate.js';
import { generateTable } from './lib/generate-report.js';
import { measureModel } from './lib/measure.js';
import { renderReport, stdoutTable } from './lib/report.js';
import { lifetimeMaxRss, RssSampler } from './lib/rss.js';
import { fmtBytes } from './lib/stats.js';
import { BENCH_MODELS, BENCH_MODES, type BenchEnvironment, type BenchMode, type BenchRecord, type BenchResults, type ModelSummary } from './lib/types.js';

const USAGE = `usage: npx tsx bench/run.ts [options]

  --quick            resnet18 + fashion-mnist, 2 warm-ups + 7 runs (a few minutes on 2 cores)
  --models a,b       models to run (default: ${BENCH_MODELS.join(',')}; also ${ZOO_TRANSFORMERS.join(', ')}, whose
                     own report with a per-op breakdown is bench/transformers.ts; and ${ZOO_DECODERS.join(', ')}: time per
                     generated token against a 256-token cache, bench/generate.ts, written to generate-<model>.json)
  --modes x,y        modes to run (default: all: ${BENCH_MODES.join(',')}); ort-fp32 always runs (it is the reference)
  --runs n           measured runs per model × mode (default 5; --quick 7); the median is reported
  --warmup n         warm-up runs per model × mode (default 1; --quick 2)
  --out dir          where results.json, REPORT.md and chart.svg go (default bench/)
  --render           measure nothing: rewrite REPORT.md and chart.svg from --out's results.json and results-meta.json
  --webgpu a         then the same models with the webgpu accelerator (bench/gpu/): gpu (default: a hardware GPU,
                     skipped with the reason if there is none), auto, software (Mesa's llvmpipe: slow), or off
  -h, --help         this text
`;

interface Args {
  quick: boolean;
  render: boolean;
  models: string[];
  modes: BenchMode[];
  runs: number;
  warmup: number;
  out: string;
  webgpu: AdapterChoice | 'off';
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  let quick = false;
  let render = false;
  let models: string[] | undefined;
  let modes: string[] | undefined;
  let runs: number | undefined;
  let warmup: number | undefined;
  let out = new URL('.', import.meta.url).pathname;
  let webgpu: AdapterChoice | 'off' = 'gpu';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith('--')) fail(`${flag} needs a value`);
      return v;
    };
    const count = (min: number): number => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) fail(`${flag} must be an integer ≥ ${min}, got '${v}'`);
      return n;
    };
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--render':
        render = true;
        break;
      case '--models':
        models = value().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--modes':
        modes = value().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--runs':
        runs = count(1);
        break;
      case '--warmup':
        warmup = count(0);
        break;
      case '--out':
        out = value();
        break;
      case '--webgpu': {
        const v = value();
        if (v !== 'off' && !(ADAPTER_CHOICES as readonly string[]).includes(v)) fail(`--webgpu must be off or one of ${ADAPTER_CHOICES.join(', ')}, got '${v}'`);
        webgpu = v as AdapterChoice | 'off';
        break;
      }
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
      // falls through (unreachable: exit)
      default:
        fail(`unknown option '${a}'`);
    }
  }
  models ??= quick ? ['resnet18', 'fashion-mnist'] : [...BENCH_MODELS];
  const known: readonly string[] = [...BENCH_MODELS, ...ZOO_TRANSFORMERS, ...ZOO_DECODERS];
  for (const m of models) if (!known.includes(m)) fail(`unknown model '${m}' (one of ${known.join(', ')})`);
  modes ??= [...BENCH_MODES];
  for (const m of modes) if (!(BENCH_MODES as readonly string[]).includes(m)) fail(`unknown mode '${m}' (one of ${BENCH_MODES.join(', ')})`);
  return { quick, render, models, modes: modes as BenchMode[], runs: runs ?? (quick ? 7 : 5), warmup: warmup ?? (quick ? 2 : 1), out: resolve(out), webgpu };
}

/** A garbage collection on demand (the flag can be turned on at run time), so one mode's or model's garbage does not weigh on the next. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  return typeof gc === 'function' ? () => gc() : () => {};
}

const args = parseArgs(process.argv.slice(2));
if (args.render) {
  const records = JSON.parse(readFileSync(join(args.out, 'results.json'), 'utf8')) as BenchRecord[];
  const meta = JSON.parse(readFileSync(join(args.out, 'results-meta.json'), 'utf8')) as Pick<BenchResults, 'environment' | 'models'>;
  const results: BenchResults = { environment: meta.environment, models: meta.models, records };
  writeFileSync(join(args.out, 'REPORT.md'), renderReport(results));
  refreshGpuSection(args.out);
  writeFileSync(join(args.out, 'chart.svg'), renderChart(results));
  process.stderr.write(`bench: rewrote ${join(args.out, 'REPORT.md')} and ${join(args.out, 'chart.svg')}\n`);
  process.stdout.write(stdoutTable(results));
  process.exit(0);
}
const t0 = performance.now();
const log = (msg: string): void => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
};
const collect = gcFunction();
const rss = new RssSampler();
mkdirSync(args.out, { recursive: true });

log(`bench: models ${args.models.join(', ')}; modes ${BENCH_MODES.filter((m) => m === 'ort-fp32' || args.modes.includes(m)).join(', ')}; ${args.warmup} warm-up + ${args.runs} runs; output ${args.out}`);
log('measuring memory bandwidth (256 MiB Float64Array)…');
const bandwidth = measureBandwidth();
collect();
log(`memory bandwidth: copy ${(bandwidth.copyBytesPerS / 1e9).toFixed(1)} GB/s, read ${(bandwidth.readBytesPerS / 1e9).toFixed(1)} GB/s`);

log('measuring the pad ciphers (node:crypto, 64 MiB each)…');
const ciphers = measureCiphers();
log(`ciphers: ${ciphers.map((c) => `${c.cipher} ${(c.bytesPerS / 1e9).toFixed(2)} GB/s (${Math.round(c.pieceBytes / 1024)} KiB)`).join(', ')}`);
const cpuList = cpus();
const environment: BenchEnvironment = {
  date: new Date().toISOString(),
  node: process.versions.node,
  platform: `${process.platform} ${process.arch}`,
  cpus: cpuList[0]?.model.trim() ?? 'unknown CPU',
  simd: cpuFeatures().simd,
  boundary: boundaryImplementation(),
  ciphers,
  cpuCount: cpuList.length,
  loadAvgAtStart: loadavg(),
  totalMemBytes: totalmem(),
  bandwidth,
  quick: args.quick,
  warmup: args.warmup,
  runs: args.runs,
  argv: ['bench/run.ts', ...process.argv.slice(2)],
};

const models: ModelSummary[] = [];
const records: BenchRecord[] = [];
let failed = 0;

function write(final: boolean): BenchResults {
  const results: BenchResults = {
    environment: final ? { ...environment, loadAvgAtEnd: loadavg(), wallSeconds: (performance.now() - t0) / 1000 } : environment,
    models,
    records,
  };
  writeFileSync(join(args.out, 'results.json'), `${JSON.stringify(records, null, 2)}\n`);
  writeFileSync(join(args.out, 'results-meta.json'), `${JSON.stringify({ environment: results.environment, models, lifetimeMaxRssBytes: lifetimeMaxRss() }, null, 2)}\n`);
  writeFileSync(join(args.out, 'REPORT.md'), renderReport(results));
  refreshGpuSection(args.out);
  writeFileSync(join(args.out, 'chart.svg'), renderChart(results));
  return results;
}

const generation: string[] = [];
for (const name of args.models) {
  try {
    if ((ZOO_DECODERS as readonly string[]).includes(name)) {
      // A decoder's measure is time per generated token (bench/generate.ts), not one inference.
      const result = await measureGeneration({ model: name, promptTokens: name === 'gpt-tiny' ? 16 : 256, measured: args.runs, warmup: args.warmup, bandwidth, log });
      writeFileSync(join(args.out, `generate-${name}.json`), `${JSON.stringify({ environment, result }, null, 2)}\n`);
      generation.push(generateTable(result));
    } else {
      const { summary, records: rs } = await measureModel(name, { modes: args.modes, warmup: args.warmup, runs: args.runs, bandwidth, log, collect, rss });
      models.push(summary);
      records.push(...rs);
      write(false);
    }
  } catch (e) {
    failed++;
    log(`[${name}] FAILED: ${(e as Error)?.stack ?? String(e)}`);
  }
  collect();
  log(`[${name}] done; RSS now ${fmtBytes(process.memoryUsage.rss())}, free memory ${fmtBytes(freemem())}`);
}
const perInference = args.models.filter((m) => !(ZOO_DECODERS as readonly string[]).includes(m));
if (args.webgpu !== 'off' && perInference.length > 0) {
  const modes = GPU_MODES.filter((m) => args.modes.includes(m));
  try {
    await runGpuBench({ adapter: args.webgpu, models: perInference, modes, warmup: args.warmup, runs: Math.min(args.runs, 5), repeats: 5, tiles: [], out: args.out, argv: ['bench/run.ts', ...process.argv.slice(2)], log });
  } catch (e) {
    log(`webgpu: not run (${(e as Error)?.message ?? String(e)})`);
  }
}
rss.stop();
// Only decoders: their generate-<model>.json is the result; the per-inference report stays as it was.
if (perInference.length > 0) {
  const results = write(true);
  log(`wrote ${['results.json', 'results-meta.json', 'REPORT.md', 'chart.svg'].map((f) => join(args.out, f)).join(', ')} in ${(results.environment.wallSeconds ?? 0).toFixed(0)} s`);
  process.stdout.write(stdoutTable(results));
}
for (const table of generation) process.stdout.write(`\n${table}`);
process.exitCode = failed > 0 ? 1 : 0;
