/** The generation bench's text table and markdown report (bench/generate.ts), from one measurement. */
import type { Bandwidth } from './membw.js';
import { GROUP_REASONS, GROUPS, type GenerateBenchResult, type ModeMeasurement } from './generate.js';
import { fmtBytes, fmtCount, mdTable, textTable } from './stats.js';

export interface GenerateEnvironment {
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly simd: readonly string[];
  readonly cpuCount: number;
  readonly bandwidth: Bandwidth;
  readonly loadAvgAtStart: readonly number[];
  readonly loadAvgAtEnd: readonly number[];
  readonly wallSeconds: number;
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 0.1 || v === 0 ? v.toFixed(2) : v.toPrecision(2));
const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(0)} %`;

/** Each mode against its target: the ratio, and the distance when missed (how many times too slow, and the per-token budget). */
function verdict(m: ModeMeasurement, ortMs: number): string {
  const budget = ortMs / m.target;
  if (m.ratio >= m.target) return `met (budget ${ms(budget)} ms)`;
  return `missed: ${(m.target / m.ratio).toFixed(1)}× too slow (budget ${ms(budget)} ms, ${ms(m.trustedMs - budget)} ms over)`;
}

function summaryRows(r: GenerateBenchResult): string[][] {
  const opt = (v: number | undefined): string => (v === undefined ? '—' : ms(v));
  return [
    ['onnxruntime fp32 (1 thread)', ms(r.ort.wallMs), ms(r.ort.cpuMs), opt(r.ort.runQueueMs), ms(r.ort.wallMs), '', '', '1×', '1×', '', `${r.ort.gmacs.toFixed(2)} GMAC/s by wall time, ${(((r.macsPerToken.linear + r.macsPerToken.attention) / (r.ort.cpuMs)) / 1e6).toFixed(2)} by CPU time`],
    ...r.modes.map((m) => [
      m.mode === 'private+verified' ? 'private+verified (memory pool)' : m.mode,
      ms(m.trustedMs),
      opt(m.trustedCpuMs),
      opt(m.runQueueMs),
      ms(m.wallMs),
      ms(m.acceleratorMs),
      ms(m.wallLessAcceleratorMs),
      `${m.ratio.toFixed(2)}×`,
      m.ratioCpu === undefined ? '—' : `${m.ratioCpu.toFixed(2)}×`,
      `${m.target}×`,
      verdict(m, r.ort.wallMs),
    ]),
    ['floor (trusted side)', ms(r.floor.totalMs), '', '', '', '', '', `${(r.ort.wallMs / r.floor.totalMs).toFixed(0)}×`, `${((r.ort.cpuMs) / r.floor.totalMs).toFixed(0)}×`, '', `linear ${ms(r.floor.linearMs)} + attention ${ms(r.floor.attentionMs)} ms`],
  ];
}

const SUMMARY_HEADER = ['ms per token', 'trusted', 'CPU', 'run queue', 'wall', 'accelerator', 'wall − accel.', 'ORT / trusted', 'ORT CPU / CPU', 'target', 'distance'];
const SUMMARY_RIGHT = [false, true, true, true, true, true, true, true, true, true, false];

function groupRows(r: GenerateBenchResult): string[][] {
  const floorOf: Record<string, number> = { 'linear boundary': r.floor.linearMs, attention: r.floor.attentionMs };
  return GROUPS.filter((g) => r.modes.some((m) => (m.groups[g] ?? 0) > 0)).map((g) => [
    g,
    ...r.modes.flatMap((m) => [ms(m.groups[g] ?? 0), pct(m.groups[g] ?? 0, m.trustedMs)]),
    floorOf[g] !== undefined ? ms(floorOf[g]!) : '',
  ]);
}

const groupHeader = (r: GenerateBenchResult): string[] => ['phase group', ...r.modes.flatMap((m) => [`${m.mode} ms`, 'share']), 'floor ms'];

/** The greedy tokens: each mode's against onnxruntime's (same prompt), and the private mode's against verified's (they must be identical). */
function agreement(r: GenerateBenchResult): string {
  const prefix = (a: readonly number[], b: readonly number[]): number => {
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    return k;
  };
  const [v, pv] = [r.modes.find((m) => m.mode === 'verified'), r.modes.find((m) => m.mode === 'private+verified')];
  const parts = r.modes.map((m) => `${m.mode} agrees with onnxruntime fp32 on the first ${prefix(m.tokens, r.ort.tokens)} of ${m.tokens.length}`);
  if (v !== undefined && pv !== undefined) parts.push(`private+verified ${prefix(v.tokens, pv.tokens) === v.tokens.length && v.tokens.length === pv.tokens.length ? 'gives the same tokens as' : 'DIFFERS from'} verified`);
  return `greedy tokens: ${parts.join('; ')}`;
}

/** The profiled mode's CPU by what the trusted thread did, beside its phase timings. */
function profileLines(r: GenerateBenchResult, md: boolean): string[] {
  const m = r.modes.find((x) => x.cpuProfile !== undefined);
  if (m === undefined) return [];
  const rows = Object.entries(m.cpuProfile!)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => [k, ms(v)]);
  const total = Object.values(m.cpuProfile!).reduce((a, b) => a + b, 0);
  const title = `CPU of the trusted thread per token by what it did (${m.mode}, V8's sampling profiler over the measured steps, ${ms(total)} ms in all; this mode's timings above carry the profiler's cost):`;
  return md ? [`## ${title}`, '', mdTable(['what', 'ms per token'], rows, [false, true]), ''] : [title, textTable(['what', 'ms per token'], rows, [false, true]), ''];
}

/** When onnxruntime's process CPU exceeds its wall time, other threads ran meanwhile: its computing thread had at most wall − wait. */
function ortCpuNote(r: GenerateBenchResult): string[] {
  if (r.ort.cpuMs <= r.ort.wallMs) return [];
  const own = r.ort.wallMs - (r.ort.runQueueMs ?? 0);
  const ratios = r.modes.filter((m) => m.trustedCpuMs !== undefined).map((m) => `${m.mode} ${(own / m.trustedCpuMs!).toFixed(2)}×`);
  return [
    `onnxruntime's process CPU (${ms(r.ort.cpuMs)} ms) exceeds its wall time (${ms(r.ort.wallMs)} ms): threads besides the one computing (V8's background work) ran meanwhile, ` +
      `so the ratio by CPU time flatters slalom; the computing thread had at most wall − run queue = ${ms(own)} ms, by which the ratios are ${ratios.join(', ')}.`,
  ];
}

/** Per missed target: each group's milliseconds against the whole per-token budget, and why it costs that. */
function reasons(r: GenerateBenchResult): string[] {
  const lines: string[] = [];
  for (const m of r.modes) {
    if (m.ratio >= m.target) continue;
    const budget = r.ort.wallMs / m.target;
    lines.push(`${m.mode}: ${m.ratio.toFixed(2)}× of the ${m.target}× target; the whole token may take ${ms(budget)} ms, it takes ${ms(m.trustedMs)} ms:`);
    if (m.trustedCpuMs !== undefined && m.ratioCpu !== undefined) {
      lines.push(
        `  - by CPU time (other jobs on the machine left out on both sides): the trusted thread computed ${ms(m.trustedCpuMs)} ms per token and waited ${ms(m.runQueueMs ?? 0)} ms for a CPU; ` +
          `onnxruntime computed ${ms(r.ort.cpuMs)} ms: ${m.ratioCpu.toFixed(2)}×, ${m.ratioCpu >= m.target ? 'the target met' : `${(m.target / m.ratioCpu).toFixed(1)}× short of the target`}`,
      );
    }
    for (const g of GROUPS) {
      const v = m.groups[g] ?? 0;
      if (v <= 0) continue;
      const transfer = g === 'linear boundary' && m.phases['transfer'] !== undefined ? ` (of which 'transfer' ${ms(m.phases['transfer'])} ms: the synchronous copy and post of each layer's request, which on a busy machine also holds the time the trusted thread loses to the accelerator's thread it just woke)` : '';
      lines.push(`  - ${g}: ${ms(v)} ms (${pct(v, m.trustedMs)}; ${(v / budget).toFixed(2)}× the budget)${transfer}: ${GROUP_REASONS[g]}`);
    }
    if (r.floor.totalMs > budget) lines.push(`  - even the floor (${ms(r.floor.totalMs)} ms) exceeds the budget: the float32 cache alone is ${fmtBytes(r.floor.attentionCacheBytes)} to read per token`);
  }
  return lines;
}

function header(r: GenerateBenchResult): string {
  return (
    `${r.model}: ${r.config.layers} layers, d ${r.config.d}, ${r.config.heads} heads, vocab ${r.config.vocab}; prompt ${r.promptTokens} tokens, ` +
    `${r.warmup} warm-up + ${r.measured} measured decoding steps (medians); ${r.linearLayers} linear layers, ` +
    `${fmtCount(r.macsPerToken.linear)} linear + ${fmtCount(r.macsPerToken.attention)} attention MACs per token, ` +
    `${fmtCount(r.linearValuesPerToken)} linear values per token (${(r.macsPerToken.linear / r.linearValuesPerToken).toFixed(0)} MACs per value)`
  );
}

export function generateTable(r: GenerateBenchResult): string {
  const lines = [
    header(r),
    textTable(SUMMARY_HEADER, summaryRows(r), SUMMARY_RIGHT),
    '',
    'where the trusted time per token goes (medians per group):',
    textTable(groupHeader(r), groupRows(r), [false, ...r.modes.flatMap(() => [true, true]), true]),
    '',
    agreement(r),
    ...ortCpuNote(r),
    ...profileLines(r, false),
    ...r.modes.map((m) => `${m.mode} phases: ${Object.entries(m.phases).map(([p, v]) => `${p} ${ms(v)}`).join(', ')}; wall − accelerator ${ms(m.wallLessAcceleratorMs)} ms`),
    ...reasons(r),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

export function generateMarkdown(r: GenerateBenchResult, env: GenerateEnvironment): string {
  const pool = r.modes.find((m) => m.pool !== undefined)?.pool;
  const load = (l: readonly number[]): string => l.map((v) => v.toFixed(2)).join(', ');
  return `# Time per generated token

Written by \`npm run bench:generate\` (bench/generate.ts) on ${env.date.slice(0, 10)}. ${header(r)}.

**Machine.** ${env.cpu}, ${env.cpuCount} cores (SIMD: ${env.simd.join(' ') || 'unknown'}), Node ${env.node}; memory
bandwidth on one thread: copy ${(env.bandwidth.copyBytesPerS / 1e9).toFixed(1)} GB/s, read ${(env.bandwidth.readBytesPerS / 1e9).toFixed(1)} GB/s.
Load average ${load(env.loadAvgAtStart)} at the start and ${load(env.loadAvgAtEnd)} at the end: the machine was shared
with other jobs, so single numbers are noisy; the JSON keeps every sample. The whole run took ${env.wallSeconds.toFixed(0)} s.

**What runs.** onnxruntime-node fp32, one intra-op and one inter-op thread, graph optimizations on: the prompt with
an empty past, then one token per step at the next position with the previous step's present key/values as its past
(onnxruntime's own tensors, no conversion in the timing); its time is the wall time of \`session.run\`. slalom:
\`session.generate\` with the same prompt and greedy sampling, the embedded worker accelerator, exact kernels \`ort\`;
the decoding steps' own phase timings (the prefill step is left out), trusted = every phase but the wait for the
accelerator. Loading (import, calibration on ${r.calibration}, quantization) took ${(r.loadMs / 1000).toFixed(1)} s${r.buildMs !== undefined ? `, building the zoo model ${(r.buildMs / 1000).toFixed(1)} s` : ''}.
${pool !== undefined ? `The memory pool held ${pool.capacity} pads (one per token fed: the prompt's and every decoding step's), precomputed before the run in ${(pool.fillMs / 1000).toFixed(1)} s (${ms(pool.msPerPad)} ms per pad), and was kept from refilling during it.\n` : ''}
${mdTable(SUMMARY_HEADER, summaryRows(r), SUMMARY_RIGHT)}
${ortCpuNote(r).length > 0 ? `\n${ortCpuNote(r)[0]}\n` : ''}
Columns: *trusted* is the sum of the trusted runtime's timed phases (wall clock, so it includes time the thread lost to
other threads); *CPU* is the CPU time of the thread that ran them (Linux schedstat: every piece of its work, timed
phase or not, including what it does while a step waits for the accelerator: receiving each reply, V8's own tasks; so it
can exceed *wall − accel.*), *run queue* the time it was ready but waiting for a CPU; for onnxruntime (which computes on the calling thread)
the process's CPU time and that thread's wait. *ORT / trusted* compares wall-clock times, *ORT CPU / CPU* CPU times. The
embedded accelerator's thread computes every linear layer exactly on the same cores (*accelerator* is the trusted
thread's wait for it), so on this 2-core machine it competes with the trusted thread; on a real deployment it is elsewhere.

**The floor** is what the trusted side must touch per token at the measured bandwidth (${(r.floor.bytesPerS / 1e9).toFixed(1)} GB/s):
each linear layer's input and output row at 4 bytes per value (${fmtCount(r.linearValuesPerToken)} values: ${ms(r.floor.linearMs)} ms),
and the attention's read of the float32 key/value cache (${r.config.layers} layers × 2 × ${r.promptTokens + r.warmup + Math.ceil(r.measured / 2)} positions × ${r.config.d} × 4 bytes = ${fmtBytes(r.floor.attentionCacheBytes)}: ${ms(r.floor.attentionMs)} ms).

## Where the trusted time goes

${mdTable(groupHeader(r), groupRows(r), [false, ...r.modes.flatMap(() => [true, true]), true])}

${r.modes.map((m) => `- ${m.mode}: ${Object.entries(m.phases).map(([p, v]) => `${p} ${ms(v)}`).join(', ')} ms per token; wall less the accelerator's wait ${ms(m.wallLessAcceleratorMs)} ms (what no phase times: sampling, scaling, bookkeeping); prefill of ${r.promptTokens} tokens: trusted ${ms(m.prefill.trustedMs)} ms, wall ${ms(m.prefill.wallMs)} ms`).join('\n')}
- onnxruntime: prefill of ${r.promptTokens} tokens ${ms(r.ort.prefillMs)} ms.
- ${agreement(r)} (random weights: near-equal logits make a greedy choice sensitive to quantization).

${profileLines(r, true).join('\n')}
${reasons(r).length > 0 ? `## Targets missed\n\n${reasons(r).join('\n')}\n` : '## Targets\n\nBoth targets met.\n'}`;
}
