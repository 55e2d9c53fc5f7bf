/**
 * Time per generated token of a GPT-style decoder (issue #22's bench), side by side: onnxruntime fp32
 * on one thread with its own past key/values (what a TEE would otherwise run), and slalom's
 * `verified` and `private+verified` with the in-memory pad pool, each decoding against a prompt of
 * `promptTokens` tokens. Per slalom mode, the decoding steps' own phase timings (the prefill's are
 * left out) give the trusted milliseconds per token and where they go; the floor is what the trusted
 * side must at least touch per token at the measured memory bandwidth.
 */
import ort from 'onnxruntime-node';
import { inspect } from '../../src/api/inspect.js';
import { Session } from '../../src/api/session.js';
import type { StepRecord } from '../../src/generate/generation.js';
import { ortLogSeverity } from '../../src/kernels/ort/env.js';
import { PadPool } from '../../src/runtime/pad-pool.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { buildZooModel, isZooModelName } from '../../src/zoo/index.js';
import { schedstat } from './cpu.js';
import { CpuProfiler, cpuByCategory } from './cpu-profile.js';
import type { Bandwidth } from './membw.js';
import { median } from './stats.js';

/** The trusted side's per-token targets of issue #22: onnxruntime fp32 ms / trusted ms at least this. */
export const TARGETS = { verified: 30, 'private+verified': 15 } as const;
export type GenerateMode = keyof typeof TARGETS;

/**
 * The report's groups of the trusted runtime's phases (runtime/observer.ts, graph/decoder/step.ts).
 * `accelerator` is the wait for the reply: not trusted work. A phase not named here lands in 'other'.
 */
export const PHASE_GROUPS: Readonly<Record<string, string>> = {
  boundary: 'linear boundary',
  validate: 'linear boundary',
  verify: 'linear boundary',
  unblind: 'linear boundary',
  requantize: 'linear boundary',
  quantize: 'linear boundary',
  blind: 'linear boundary',
  transfer: 'linear boundary',
  accept: 'linear boundary',
  linear: 'linear boundary',
  attention: 'attention',
  norm: 'LayerNorm',
  activation: 'GELU',
  embed: 'embedding',
  pad: 'pads',
  keystream: 'pads',
  unseal: 'pads',
};
export const GROUPS = ['linear boundary', 'attention', 'LayerNorm', 'GELU', 'embedding', 'pads', 'other'] as const;

/** Why each group costs what it does (what the code does per token), for the report. */
export const GROUP_REASONS: Readonly<Record<(typeof GROUPS)[number], string>> = {
  'linear boundary':
    'per layer: quantize the row, copy it to the accelerator, check the reply (Freivalds) and dequantize; the head adds a row of vocab outputs',
  attention: 'a WebAssembly SIMD kernel (f32x4, graph/decoder/attention.ts) over the float32 cache in the arena: per head a dot product with each cached key, a softmax, a weighted sum of the cached values',
  LayerNorm: "the graph's LayerNormalization node evaluated per call on a copy of the row",
  GELU: "the graph's erf GELU nodes compiled into one scalar float64 loop (graph/decoder/elementwise.ts); most of it is erf, computed to double precision (Cody's rational approximations, two exp per value)",
  embedding: 'wte[token] + wpe[position]',
  pads: 'taking the pads and gathering each row’s r and u from the pool (keystream, unseal)',
  other: 'phases the report does not group',
};

export interface GenerateBenchOptions {
  /** A zoo decoder's name or an ONNX file's path. */
  readonly model: string;
  readonly promptTokens: number;
  /** Decoding steps measured (after `warmup` steps that are not). */
  readonly measured: number;
  readonly warmup: number;
  /** Calibration token ids (.npy [N, T]); default the loader's seeded tokens. */
  readonly calibration?: string;
  /** Runs V8's sampling profiler over this mode's measured steps (its timings then carry the profiler's cost). */
  readonly profile?: GenerateMode;
  readonly bandwidth: Bandwidth;
  readonly log: (msg: string) => void;
}

export interface ModeMeasurement {
  readonly mode: GenerateMode;
  /** Median per decoding step: every phase but 'accelerator'. */
  readonly trustedMs: number;
  /** Median per decoding step: wall time between two streamed tokens. */
  readonly wallMs: number;
  /** Median per decoding step: the wall time less the accelerator's wait (the timed phases plus what no phase times: sampling, scaling, bookkeeping). */
  readonly wallLessAcceleratorMs: number;
  readonly acceleratorMs: number;
  /**
   * Median per decoding step: CPU time of the trusted runtime's thread (Linux schedstat, read at each streamed token; all
   * its work, timed phase or not, none of the accelerator's; exact to the thread's last switch, and a step switches at
   * every layer's wait), and its time ready but waiting for a CPU.
   */
  readonly trustedCpuMs?: number;
  readonly runQueueMs?: number;
  /** onnxruntime's CPU ms per token / trustedCpuMs: the ratio without what other jobs on the machine cost either side. */
  readonly ratioCpu?: number;
  /** Median ms per decoding step by phase. */
  readonly phases: Record<string, number>;
  /** Median ms per decoding step by group (GROUPS). */
  readonly groups: Record<string, number>;
  readonly trustedMsSamples: readonly number[];
  readonly trustedCpuMsSamples?: readonly number[];
  readonly wallMsSamples: readonly number[];
  /** The prefill step: its trusted and wall ms (prompt tokens fed at once). */
  readonly prefill: { readonly trustedMs: number; readonly wallMs: number };
  /** Session open (weights to the accelerator, the verifier's preparation), ms. */
  readonly openMs: number;
  /** Private modes: pads precomputed before the run, the time to fill the pool, and the median ms per pad. */
  readonly pool?: { readonly capacity: number; readonly fillMs: number; readonly msPerPad: number };
  readonly padsSpent?: number;
  /** With `profile`: the trusted thread's CPU ms per measured step by what it was doing (cpu-profile.ts). */
  readonly cpuProfile?: Record<string, number>;
  readonly tokens: readonly number[];
  readonly ratio: number;
  readonly target: number;
}

export interface GenerateBenchResult {
  readonly model: string;
  readonly config: { readonly layers: number; readonly d: number; readonly heads: number; readonly hidden: number; readonly vocab: number };
  readonly promptTokens: number;
  readonly measured: number;
  readonly warmup: number;
  readonly buildMs?: number;
  readonly loadMs: number;
  readonly calibration: string;
  readonly linearLayers: number;
  /** Multiply-accumulates of one token's linear layers, and of its attention against the cache (QKᵀ and ·V). */
  readonly macsPerToken: { readonly linear: number; readonly attention: number };
  readonly linearValuesPerToken: number;
  readonly floor: { readonly linearMs: number; readonly attentionMs: number; readonly totalMs: number; readonly bytesPerS: number; readonly attentionCacheBytes: number };
  readonly ort: { readonly wallMs: number; readonly cpuMs: number; readonly runQueueMs?: number; readonly gmacs: number; readonly wallMsSamples: readonly number[]; readonly prefillMs: number; readonly tokens: readonly number[] };
  readonly modes: readonly ModeMeasurement[];
}

/** Measures one model: onnxruntime fp32, then each slalom mode, one after the other in this process. */
export async function measureGeneration(o: GenerateBenchOptions): Promise<GenerateBenchResult> {
  const { log } = o;
  let bytes: Uint8Array | string = o.model;
  let buildMs: number | undefined;
  if (isZooModelName(o.model)) {
    log(`[${o.model}] building the zoo model (seed 1)…`);
    const t = performance.now();
    bytes = buildZooModel(o.model, { seed: 1 });
    buildMs = performance.now() - t;
  }
  log(`[${o.model}] loading (import, calibration on ${o.calibration ?? 'seeded tokens'}, quantization)…`);
  const loadStart = performance.now();
  const phases = new Map<string, number>();
  let phaseStart = loadStart;
  let lastPhase = '';
  const model = await SlalomModel.load(bytes, {
    ...(o.calibration !== undefined ? { calibration: o.calibration } : {}),
    onProgress: (p) => {
      if (p.phase === lastPhase) return;
      const now = performance.now();
      if (lastPhase !== '') phases.set(lastPhase, now - phaseStart);
      [lastPhase, phaseStart] = [p.phase, now];
    },
  });
  const loadMs = performance.now() - loadStart;
  if (lastPhase !== '') phases.set(lastPhase, performance.now() - phaseStart);
  log(`[${o.model}] loaded in ${(loadMs / 1000).toFixed(1)} s (${[...phases].map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)} s`).join(', ')})`);
  const decoder = model.decoder;
  if (decoder === undefined) throw new Error(`${o.model} is not a decoder (no input_ids)`);
  const { layers, d, heads, hidden, vocab, maxPositions } = decoder.config;
  const steps = o.warmup + o.measured;
  if (o.promptTokens + steps + 1 > maxPositions) throw new Error(`a prompt of ${o.promptTokens} tokens and ${steps} decoding steps exceed the model's ${maxPositions} positions`);
  const rng = new Rng(0x6e7);
  const prompt = Array.from({ length: o.promptTokens }, () => Math.floor(rng.uniform() * vocab));

  const info = inspect(model);
  const linearValues = info.linearInputElements + info.linearOutputElements;
  const cacheLen = o.promptTokens + o.warmup + Math.ceil(o.measured / 2); // the median step's cache
  // The cache is float32 (graph/decoder/kv-cache.ts).
  const attentionCacheBytes = layers * 2 * cacheLen * d * 4;
  const bw = o.bandwidth.bestBytesPerS;
  const floor = {
    linearMs: ((4 * linearValues) / bw) * 1000,
    attentionMs: (attentionCacheBytes / bw) * 1000,
    totalMs: 0,
    bytesPerS: bw,
    attentionCacheBytes,
  };
  floor.totalMs = floor.linearMs + floor.attentionMs;
  const macsPerToken = { linear: info.macs, attention: layers * 2 * cacheLen * d };

  log(`[${o.model}] onnxruntime fp32, one thread: prefill ${o.promptTokens} tokens, ${o.warmup} + ${o.measured} decoding steps…`);
  const ortRun = await measureOrt(model.onnxBytes, decoder.config, prompt, o.warmup, o.measured);
  const ortGmacs = (macsPerToken.linear + macsPerToken.attention) / (ortRun.wallMs / 1000) / 1e9;
  log(`[${o.model}] onnxruntime: ${ortRun.wallMs.toFixed(1)} ms per token (CPU ${ortRun.cpuMs.toFixed(1)} ms, waited ${ortRun.runQueueMs?.toFixed(1) ?? '?'} ms for a CPU), prefill ${ortRun.prefillMs.toFixed(0)} ms`);

  const modes: ModeMeasurement[] = [];
  for (const mode of Object.keys(TARGETS) as GenerateMode[]) {
    modes.push(await measureMode(model, mode, prompt, o, ortRun.wallMs, ortRun.cpuMs));
    const m = modes.at(-1)!;
    log(`[${o.model}] ${mode}: trusted ${m.trustedMs.toFixed(1)} ms per token (its thread's CPU ${m.trustedCpuMs?.toFixed(1) ?? '?'} ms), wall ${m.wallMs.toFixed(1)} ms; ${m.ratio.toFixed(2)}× onnxruntime (target ${m.target}×)`);
  }
  return {
    model: o.model,
    config: { layers, d, heads, hidden, vocab },
    promptTokens: o.promptTokens,
    measured: o.measured,
    warmup: o.warmup,
    ...(buildMs !== undefined ? { buildMs } : {}),
    loadMs,
    calibration: `${model.provenance.calibration.source} (${model.provenance.calibration.samples} sequences; calibration ${((phases.get('calibrate') ?? 0) / 1000).toFixed(1)} s)`,
    linearLayers: info.linearLayers,
    macsPerToken,
    linearValuesPerToken: linearValues,
    floor,
    ort: { ...ortRun, gmacs: ortGmacs },
    modes,
  };
}

/**
 * onnxruntime fp32 on one intra-op and one inter-op thread: the prompt with an empty past, then one
 * token per step (its greedy choice) at the next position with the previous step's present tensors
 * as the past, kept as onnxruntime's own tensors (no conversion inside the timing).
 */
async function measureOrt(
  onnx: Uint8Array,
  config: { layers: number; heads: number; headDim: number; vocab: number },
  prompt: readonly number[],
  warmup: number,
  measured: number,
): Promise<{ wallMs: number; cpuMs: number; runQueueMs?: number; wallMsSamples: number[]; prefillMs: number; tokens: number[] }> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: ortLogSeverity() });
  try {
    const ids = (values: readonly number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), [1, values.length]);
    const empty = new ort.Tensor('float32', new Float32Array(0), [1, config.heads, 0, config.headDim]);
    let past: Record<string, ort.Tensor> = {};
    for (let i = 0; i < config.layers; i++) past[`past_key_${i}`] = past[`past_value_${i}`] = empty;
    const tokens: number[] = [];
    /** One session.run, timed alone (wall and this process's CPU); then its presents become the past and its greedy token is kept. */
    const step = async (input: readonly number[], position: number): Promise<{ wall: number; cpu: number; queued?: number }> => {
      const feeds = { input_ids: ids(input), position_ids: ids(input.map((_, k) => position + k)), ...past };
      // onnxruntime-node computes on this thread: the process's CPU time is its own, and this thread's wait for a CPU is the run's.
      const c = process.cpuUsage();
      const q0 = schedstat();
      const t = performance.now();
      const out = await session.run(feeds);
      const wall = performance.now() - t;
      const q1 = schedstat();
      const used = process.cpuUsage(c);
      const next: Record<string, ort.Tensor> = {};
      for (let i = 0; i < config.layers; i++) {
        next[`past_key_${i}`] = out[`present_key_${i}`]!;
        next[`past_value_${i}`] = out[`present_value_${i}`]!;
      }
      past = next;
      const logits = out['logits']!.data as Float32Array;
      tokens.push(argmax(logits.subarray(logits.length - config.vocab)));
      return { wall, cpu: (used.user + used.system) / 1000, ...(q0 !== undefined && q1 !== undefined ? { queued: q1.waitMs - q0.waitMs } : {}) };
    };
    const prefillMs = (await step(prompt, 0)).wall;
    const wall: number[] = [];
    const cpu: number[] = [];
    const queued: number[] = [];
    for (let s = 0; s < warmup + measured; s++) {
      const m = await step([tokens.at(-1)!], prompt.length + s);
      if (s < warmup) continue;
      wall.push(m.wall);
      cpu.push(m.cpu);
      if (m.queued !== undefined) queued.push(m.queued);
    }
    return { wallMs: median(wall), cpuMs: median(cpu), ...(queued.length === wall.length ? { runQueueMs: median(queued) } : {}), wallMsSamples: wall, prefillMs, tokens };
  } finally {
    await session.release();
  }
}

/** The largest value's index (the lowest on a tie), as slalom's greedy sampling picks. */
function argmax(xs: Float32Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

async function measureMode(model: SlalomModel, mode: GenerateMode, prompt: readonly number[], o: GenerateBenchOptions, ortMs: number, ortCpuMs: number): Promise<ModeMeasurement> {
  const steps = o.warmup + o.measured;
  let pool: PadPool | undefined;
  let poolInfo: ModeMeasurement['pool'];
  if (mode === 'private+verified') {
    // One pad per token fed: the prompt's, then one per decoding step. The bench opens the pool itself to
    // time its filling (the offline phase) and keeps it from refilling during the run (a long idleMs).
    const capacity = prompt.length + steps;
    o.log(`[${o.model}] ${mode}: precomputing ${capacity} pads into the memory pool…`);
    const perPad: number[] = [];
    const t = performance.now();
    pool = PadPool.open(model.quantized, { capacity, kernels: 'ort', idleMs: 600_000, onFilled: (ms) => perPad.push(ms) });
    await pool.filled();
    poolInfo = { capacity, fillMs: performance.now() - t, msPerPad: median(perPad) };
    o.log(`[${o.model}] ${mode}: ${capacity} pads in ${(poolInfo.fillMs / 1000).toFixed(1)} s (${poolInfo.msPerPad.toFixed(1)} ms per pad)`);
  }
  const openStart = performance.now();
  const session = await Session.open(model, { mode, kernels: 'ort', ...(pool !== undefined ? { pads: { source: 'shared' as const, from: pool } } : {}) });
  const openMs = performance.now() - openStart;
  try {
    o.log(`[${o.model}] ${mode}: prefill ${prompt.length} tokens, ${o.warmup} + ${o.measured} decoding steps…`);
    const at: number[] = [];
    const sched: (ReturnType<typeof schedstat>)[] = [];
    const profiler = o.profile === mode ? new CpuProfiler() : undefined;
    let profiling: Promise<void> | undefined;
    const start = performance.now();
    const run = await session.generate([prompt], {
      maxTokens: steps + 1,
      onToken: (e) => {
        at.push(performance.now());
        sched.push(schedstat());
        if (e.index === o.warmup) profiling = profiler?.start(); // the measured steps start here
      },
    });
    await profiling;
    const cpuProfile = profiler === undefined ? undefined : cpuByCategory(await profiler.stop(), o.measured);
    if (run.steps.length !== steps + 1) throw new Error(`${mode}: expected ${steps + 1} steps, got ${run.steps.length} (finish ${run.sequences[0]?.finish})`);
    // Token k comes after step k: step 0 is the prefill, the wall time of step k ≥ 1 is between tokens k−1 and k.
    const decoding = run.steps.slice(1 + o.warmup);
    const walls = at.slice(1 + o.warmup).map((t, k) => t - at[o.warmup + k]!);
    const trusted = decoding.map(trustedOf);
    const lessAccel = decoding.map((s, k) => walls[k]! - (s.timings['accelerator'] ?? 0));
    const names = new Set(decoding.flatMap((s) => Object.keys(s.timings)));
    const phases: Record<string, number> = {};
    for (const p of names) phases[p] = median(decoding.map((s) => s.timings[p] ?? 0));
    const groups: Record<string, number> = {};
    for (const g of GROUPS) groups[g] = median(decoding.map((s) => groupsOf(s)[g] ?? 0));
    const trustedMs = median(trusted);
    const perStep = (f: (s: NonNullable<ReturnType<typeof schedstat>>) => number): number[] | undefined => {
      const out: number[] = [];
      for (let k = 1 + o.warmup; k < sched.length; k++) {
        const [a, b] = [sched[k - 1], sched[k]];
        if (a === undefined || b === undefined) return undefined;
        out.push(f(b) - f(a));
      }
      return out;
    };
    const cpu = perStep((s) => s.cpuMs);
    const queued = perStep((s) => s.waitMs);
    return {
      mode,
      trustedMs,
      wallMs: median(walls),
      wallLessAcceleratorMs: median(lessAccel),
      acceleratorMs: median(decoding.map((s) => s.timings['accelerator'] ?? 0)),
      ...(cpu !== undefined && queued !== undefined ? { trustedCpuMs: median(cpu), runQueueMs: median(queued), ratioCpu: ortCpuMs / median(cpu), trustedCpuMsSamples: cpu } : {}),
      phases,
      groups,
      trustedMsSamples: trusted,
      wallMsSamples: walls,
      prefill: { trustedMs: trustedOf(run.steps[0]!), wallMs: at[0]! - start },
      openMs,
      ...(poolInfo !== undefined ? { pool: poolInfo } : {}),
      ...(run.pads !== undefined ? { padsSpent: run.pads.indices.length } : {}),
      ...(cpuProfile !== undefined ? { cpuProfile } : {}),
      tokens: run.sequences[0]!.tokens,
      ratio: ortMs / trustedMs,
      target: TARGETS[mode],
    };
  } finally {
    await session.close();
    await pool?.close();
  }
}

/** Every phase but the accelerator's wait. */
export function trustedOf(step: Pick<StepRecord, 'timings'>): number {
  return Object.entries(step.timings).reduce((sum, [p, ms]) => (p === 'accelerator' ? sum : sum + ms), 0);
}

/** A step's trusted milliseconds by report group. */
export function groupsOf(step: Pick<StepRecord, 'timings'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [p, ms] of Object.entries(step.timings)) {
    if (p === 'accelerator') continue;
    const g = PHASE_GROUPS[p] ?? 'other';
    out[g] = (out[g] ?? 0) + ms;
  }
  return out;
}
