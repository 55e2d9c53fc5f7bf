/**
 * Time per generated token of a GPT-style decoder: onnxruntime fp32 on one thread with its own past
 * key/values against slalom's `verified` and `private+verified` (memory pad pool), decoding against
 * a prompt of 256 tokens (bench/lib/generate.ts measures; this prints and writes the report).
 *
 *   npx tsx bench/generate.ts [--quick] [--model gpt2-small|file.onnx] [--prompt 256] [--tokens 8]
 *       [--warmup 2] [--calibration tokens.npy] [--profile mode] [--out bench/out] [--md bench/GENERATE.md]
 *
 * `--quick` is gpt-tiny with a 16-token prompt and 4 measured tokens (seconds). The full run
 * (gpt2-small) writes `<out>/generate.json` and the markdown report `bench/GENERATE.md`; the quick
 * run writes `<out>/generate-quick.json` and no markdown unless `--md` names one. `--render <json>`
 * rewrites the table and the markdown from a written result.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuFeatures } from './lib/cpu.js';
import { measureGeneration, TARGETS, type GenerateBenchResult, type GenerateMode } from './lib/generate.js';
import { generateMarkdown, generateTable, type GenerateEnvironment } from './lib/generate-report.js';
import { measureBandwidth } from './lib/membw.js';

const USAGE = `usage: npx tsx bench/generate.ts [options]

  --quick              gpt-tiny, a 16-token prompt, 1 + 4 decoding steps (seconds)
  --model m            a zoo decoder (gpt2-small, gpt-tiny) or an ONNX file with past key/values (default gpt2-small)
  --prompt n           prompt tokens: the cache the measured steps decode against (default 256; --quick 16)
  --tokens n           decoding steps measured (default 8; --quick 4)
  --warmup n           decoding steps run first and not measured (default 2; --quick 1)
  --calibration f      calibration token ids, a .npy [N, T] (default: the loader's seeded tokens)
  --out dir            where generate.json goes (default bench/out)
  --md file            the markdown report (default bench/GENERATE.md for a full run, none for --quick)
  --profile mode       V8's sampling profiler over that mode's measured steps (verified or private+verified): the
                       trusted thread's CPU by what it did, beside the phases (that mode's timings carry its cost)
  --render file        measure nothing: print the table and write --md (default bench/GENERATE.md) from a generate.json
  -h, --help           this text
`;

function fail(msg: string): never {
  process.stderr.write(`bench/generate: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]) {
  const flags = new Map<string, string>();
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (['--model', '--prompt', '--tokens', '--warmup', '--calibration', '--out', '--md', '--render', '--profile'].includes(a)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) fail(`${a} needs a value`);
      flags.set(a, v);
    } else fail(`unknown option '${a}'`);
  }
  const count = (flag: string, fallback: number, min: number): number => {
    const v = flags.get(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`${flag} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
  const here = new URL('.', import.meta.url).pathname;
  return {
    quick,
    model: flags.get('--model') ?? (quick ? 'gpt-tiny' : 'gpt2-small'),
    promptTokens: count('--prompt', quick ? 16 : 256, 1),
    measured: count('--tokens', quick ? 4 : 8, 1),
    warmup: count('--warmup', quick ? 1 : 2, 0),
    calibration: flags.get('--calibration'),
    out: resolve(flags.get('--out') ?? join(here, 'out')),
    md: flags.get('--md') ?? (quick ? undefined : join(here, 'GENERATE.md')),
    render: flags.get('--render'),
    profile: profileMode(flags.get('--profile')),
  };
}

function profileMode(v: string | undefined): GenerateMode | undefined {
  if (v !== undefined && !(v in TARGETS)) fail(`--profile must be one of ${Object.keys(TARGETS).join(', ')}, got '${v}'`);
  return v as GenerateMode | undefined;
}

const args = parseArgs(process.argv.slice(2));
if (args.render !== undefined) {
  const { environment, result } = JSON.parse(readFileSync(args.render, 'utf8')) as { environment: GenerateEnvironment; result: GenerateBenchResult };
  if (args.md !== undefined) writeFileSync(args.md, generateMarkdown(result, environment));
  process.stdout.write(generateTable(result));
  process.exit(0);
}
const t0 = performance.now();
const log = (msg: string): void => void process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const cpu = cpuFeatures();
const loadAvgAtStart = loadavg();
log(`bench/generate: ${args.model}, prompt ${args.promptTokens} tokens, ${args.warmup} + ${args.measured} decoding steps; ${cpu.model} × ${cpus().length}; load ${loadAvgAtStart.map((l) => l.toFixed(2)).join(' ')}`);
log('measuring memory bandwidth (256 MiB Float64Array)…');
const bandwidth = measureBandwidth();
log(`memory bandwidth: copy ${(bandwidth.copyBytesPerS / 1e9).toFixed(1)} GB/s, read ${(bandwidth.readBytesPerS / 1e9).toFixed(1)} GB/s`);
const { calibration, profile, ...rest } = args;
const result = await measureGeneration({ ...rest, ...(calibration !== undefined ? { calibration } : {}), ...(profile !== undefined ? { profile } : {}), bandwidth, log });
const environment = {
  date: new Date().toISOString(),
  node: process.versions.node,
  cpu: cpu.model,
  simd: cpu.simd,
  cpuCount: cpus().length,
  bandwidth,
  loadAvgAtStart,
  loadAvgAtEnd: loadavg(),
  wallSeconds: (performance.now() - t0) / 1000,
  argv: ['bench/generate.ts', ...process.argv.slice(2)],
};
mkdirSync(args.out, { recursive: true });
const json = join(args.out, args.quick ? 'generate-quick.json' : 'generate.json');
writeFileSync(json, `${JSON.stringify({ environment, result }, null, 2)}\n`);
if (args.md !== undefined) writeFileSync(args.md, generateMarkdown(result, environment));
log(`wrote ${json}${args.md !== undefined ? ` and ${args.md}` : ''}`);
process.stdout.write(generateTable(result));
