/**
 * Measures one model in every requested mode, in one process, one after the other: load once,
 * onnxruntime fp32 reference, baseline, the offline precompute (private modes), then each
 * outsourcing mode with its own protocol (closed before the next), the service modes again against
 * a loopback `slalom accelerator serve` child process, and last the accelerator's exactness tax
 * layer by layer. Pads and trusted state live in a fresh temporary directory that is removed
 * afterwards (never ~/.slalom).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AcceleratorBackend } from '../../src/accel/backend.js';
import { HttpBackend } from '../../src/accel/http/client.js';
import { modelIdOf } from '../../src/accel/http/protocol.js';
import {
  buildZooModel,
  createExactKernels,
  inspect,
  openProtocol,
  PadStore,
  precomputePads,
  readNpy,
  SlalomModel,
  tensor,
  TrustedState,
  type Mode,
  type Tensor,
} from '../../src/index.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { PadPool } from '../../src/runtime/pad-pool.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { startAccelerator, stopAccelerator } from './accelerator-service.js';
import { measureExactnessTax, type ExactnessTax } from './exactness-tax.js';
import type { Bandwidth } from './membw.js';
import { RssSampler } from './rss.js';
import { fmtCount, median } from './stats.js';
import { BENCH_MODES, IN_FLIGHT, MEMORY_PAD_MODES, OUTSOURCING_MODES, PRIVATE_MODES, SERVICE_MODES, type BenchMode, type BenchRecord, type InFlightMeasurement, type ModelSummary, type ServiceMeasurement } from './types.js';

export interface MeasureOptions {
  readonly modes: readonly BenchMode[];
  readonly warmup: number;
  readonly runs: number;
  readonly bandwidth: Bandwidth;
  readonly log: (msg: string) => void;
  /** Called between modes so the previous mode's garbage does not count against the next. */
  readonly collect: () => void;
  readonly rss: RssSampler;
}

interface Sample {
  readonly trustedMs: number;
  readonly wallMs: number;
  readonly acceleratorMs: number;
  readonly timings: Record<string, number>;
  readonly logits: Float64Array;
}

/**
 * How many iterations a mode gets: at least `warmup` warm-ups and `runs` measured runs, and for fast
 * models more, until WARM_MIN_MS of warm-up (the JIT and onnxruntime's per-shape sessions settle)
 * and RUN_MIN_MS of measurement have passed, up to the caps. Private modes consume one pad per
 * inference, so their counts are fixed in advance (planned from the modes measured before them);
 * the loopback-service runs use the same fixed counts.
 */
const WARM_MIN_MS = 300;
const RUN_MIN_MS = 1000;
const WARM_CAP = 30;
const RUN_CAP = 100;
/** As many images in flight as the mode ran one at a time, in batches, up to this many. */
const IN_FLIGHT_BATCH_CAP = 25;

interface IterationPlan {
  readonly warmup: number;
  readonly runs: number;
  /** Keep going past the minimums while time allows (not for private modes). */
  readonly adaptive: boolean;
}

function planFixed(estimateMs: number | undefined, warmup: number, runs: number): IterationPlan {
  if (estimateMs === undefined || !(estimateMs > 0)) return { warmup, runs, adaptive: false };
  return {
    warmup: Math.max(warmup, Math.min(WARM_CAP, Math.ceil(WARM_MIN_MS / estimateMs))),
    runs: Math.max(runs, Math.min(RUN_CAP, Math.ceil(RUN_MIN_MS / estimateMs))),
    adaptive: false,
  };
}

interface ModeRun {
  readonly warmup: number;
  readonly samples: Sample[];
  readonly setupMs: number;
  readonly peakRssBytes: number;
  readonly soundnessLog2PerInference?: number;
  /** IN_FLIGHT images at a time: each batch's wall milliseconds and every image's logits. */
  readonly inFlight?: { readonly batchMs: readonly number[]; readonly logits: readonly Float64Array[] };
  /** Memory pads: the pool thread's milliseconds per pad. */
  readonly fillMs?: readonly number[];
}

const FASHION_MNIST_PATH = new URL('../../models/fashion-mnist.onnx', import.meta.url).pathname;

export async function loadBenchModel(name: string): Promise<SlalomModel> {
  if (name === 'fashion-mnist') return SlalomModel.load(FASHION_MNIST_PATH);
  return SlalomModel.load(buildZooModel(name as Parameters<typeof buildZooModel>[0], { seed: 1 }));
}

/** A realistic input: the first shipped calibration image for models that have them, else seeded N(0, 1) (what the zoo is calibrated on). */
export function benchInput(model: SlalomModel): Tensor {
  const dims = model.inputDims;
  let n = 1;
  for (const d of dims) n *= d;
  const images = model.info.calibration?.images;
  if (images !== undefined) {
    const all = readNpy(new Uint8Array(readFileSync(images)));
    const { mean, std, scale } = model.info.preprocess;
    const channelSize = n / dims[1]!;
    return tensor(
      dims,
      Float64Array.from(all.data.subarray(0, n), (v, k) => {
        const c = Math.floor(k / channelSize);
        return (v / scale - mean[c % mean.length]!) / std[c % std.length]!;
      }),
    );
  }
  const rng = new Rng(0xbe7c);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal();
  return tensor(dims, data);
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function sameLogits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function measureModel(name: string, options: MeasureOptions): Promise<{ summary: ModelSummary; records: BenchRecord[] }> {
  const { log, warmup, runs, bandwidth } = options;
  const modes = BENCH_MODES.filter((m) => m === 'ort-fp32' || options.modes.includes(m)); // ort-fp32 always: it is the reference
  log(`[${name}] loading (import, calibration, quantization)…`);
  const loadStart = performance.now();
  let model: SlalomModel | undefined = await loadBenchModel(name);
  const loadMs = performance.now() - loadStart;
  const report = inspect(model);
  const floorTrafficBytes = 8 * (report.linearInputElements + report.linearOutputElements);
  const floorMs = (floorTrafficBytes / bandwidth.bestBytesPerS) * 1000;
  // What the embedded worker carries: 4-byte residues (u32) in and out of every linear layer.
  const boundaryBytes = 4 * (report.linearInputElements + report.linearOutputElements);
  const packedBytes = 3 * (report.linearInputElements + report.linearOutputElements);
  log(
    `[${name}] loaded in ${(loadMs / 1000).toFixed(1)} s: ${report.linearLayers} linear layers, ${fmtCount(report.macs)} MACs, ` +
      `${fmtCount(report.linearInputElements)} linear inputs + ${fmtCount(report.linearOutputElements)} outputs`,
  );
  const input = benchInput(model);
  const scratch = mkdtempSync(join(tmpdir(), `slalom-bench-${name}-`));
  const stateDir = join(scratch, 'state');
  const storeDir = join(scratch, 'pads');
  const results = new Map<BenchMode, ModeRun>();
  const serviceModes = modes.filter((m) => SERVICE_MODES.has(m));
  const serviceRuns = new Map<BenchMode, ModeRun>();
  const serviceNotRun = new Map<BenchMode, string>();
  let precompute: ModelSummary['precompute'];
  let fixed: IterationPlan | undefined;
  // Planned once, when first needed, from the slowest outsourcing mode measured so far (else baseline): the pads are counted from it.
  const fixedPlan = (): IterationPlan => {
    if (fixed !== undefined) return fixed;
    const before = [...results.entries()].filter(([m]) => OUTSOURCING_MODES.has(m)).map(([, r]) => median(r.samples.map((x) => x.wallMs)));
    const base = results.get('baseline');
    const estimate = before.length > 0 ? Math.max(...before) : base ? median(base.samples.map((x) => x.wallMs)) : undefined;
    return (fixed = planFixed(estimate, warmup, runs));
  };
  try {
    for (const mode of modes) {
      options.collect();
      if (PRIVATE_MODES.has(mode) && precompute === undefined) {
        const plan = fixedPlan();
        // One pad per inference of every private mode, embedded and loopback service.
        const privateRuns = modes.filter((m) => PRIVATE_MODES.has(m)).length + serviceModes.filter((m) => PRIVATE_MODES.has(m)).length;
        const pads = privateRuns * (plan.warmup + plan.runs);
        log(`[${name}] precompute: ${pads} pads (offline phase)…`);
        const state = TrustedState.open(stateDir);
        const kernels = await createExactKernels('ort');
        try {
          let lastLog = performance.now();
          const r = await precomputePads(model.quantized, model, state, new PadStore(storeDir), pads, kernels, ({ done, total }) => {
            if (done < total && performance.now() - lastLog > 2000) {
              lastLog = performance.now();
              log(`[${name}] precompute: pad ${done}/${total}`);
            }
          });
          precompute = { pads, ms: r.ms, msPerImage: r.ms / pads, padBytesPerImage: r.bytesPerInference };
          log(`[${name}] precompute: ${(r.ms / pads).toFixed(1)} ms per image, ${(r.bytesPerInference / 2 ** 20).toFixed(2)} MiB per pad`);
        } finally {
          await kernels.close();
        }
        options.collect();
      }
      // Pads are consumed (store) or made one per inference (pool): counted in advance.
      const plan = PRIVATE_MODES.has(mode) || MEMORY_PAD_MODES.has(mode) ? fixedPlan() : { warmup, runs, adaptive: true };
      results.set(mode, await measureMode(model, name, mode, input, plan, { ...options, stateDir, storeDir }));
    }
    if (serviceModes.length > 0) await measureService(model, name, serviceModes, input, fixedPlan(), { ...options, stateDir, storeDir }, serviceRuns, serviceNotRun);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  options.collect();
  const tax = await measureTax(model, name, log);
  model = undefined; // the caller collects garbage before the next model

  const ort = results.get('ort-fp32')!;
  const ortMs = median(ort.samples.map((s) => s.trustedMs));
  const ortTop1 = argmax(ort.samples[0]!.logits);
  const baselineRun = results.get('baseline');
  const baselineMs = baselineRun ? median(baselineRun.samples.map((s) => s.trustedMs)) : undefined;
  const referenceLogits = (baselineRun ?? [...results.entries()].find(([m]) => m !== 'ort-fp32')?.[1])?.samples[0]!.logits;
  const records: BenchRecord[] = [];
  for (const [mode, run] of results) {
    const trusted = run.samples.map((s) => s.trustedMs);
    const wall = run.samples.map((s) => s.wallMs);
    const trustedMs = median(trusted);
    const wallMs = median(wall);
    const phases = new Set(run.samples.flatMap((s) => Object.keys(s.timings)));
    const phasesMs: Record<string, number> = {};
    for (const p of phases) phasesMs[p] = median(run.samples.map((s) => s.timings[p] ?? 0));
    const outsourcing = OUTSOURCING_MODES.has(mode);
    records.push({
      model: name,
      mode,
      warmup: run.warmup,
      runs: run.samples.length,
      trustedMsPerImage: trustedMs,
      trustedMsBest: Math.min(...trusted),
      ortFp32MsPerImage: ortMs,
      ratioVsOrt: ortMs / trustedMs,
      ratioVsBaseline: baselineMs === undefined ? null : baselineMs / trustedMs,
      wallMsPerImage: wallMs,
      throughput: 1000 / wallMs,
      acceleratorMsPerImage: median(run.samples.map((s) => s.acceleratorMs)),
      bytesPerImage: outsourcing ? boundaryBytes : 0,
      packedBytesPerImage: outsourcing ? packedBytes : 0,
      phasesMs,
      peakRssBytes: run.peakRssBytes,
      setupMs: run.setupMs,
      ...(PRIVATE_MODES.has(mode) && precompute ? { precomputeMsPerImage: precompute.msPerImage, padBytesPerImage: precompute.padBytesPerImage } : {}),
      ...(run.fillMs !== undefined && run.fillMs.length > 0 ? { precomputeMsPerImage: median([...run.fillMs]) } : {}),
      ...(run.inFlight !== undefined ? { inFlight: inFlightRecord(run.inFlight, referenceLogits) } : {}),
      ...(run.soundnessLog2PerInference !== undefined ? { soundnessLog2PerInference: run.soundnessLog2PerInference } : {}),
      floorMs,
      vsFloor: trustedMs / floorMs,
      ...(mode !== 'ort-fp32' && referenceLogits ? { logitsMatchBaseline: run.samples.every((s) => sameLogits(s.logits, referenceLogits)) } : {}),
      top1MatchesOrt: argmax(run.samples[0]!.logits) === ortTop1,
      trustedMsSamples: trusted,
      wallMsSamples: wall,
      ...serviceFields(serviceRuns.get(mode), serviceNotRun.get(mode), referenceLogits),
    });
  }
  const summary: ModelSummary = {
    model: name,
    inputDims: report.inputDims,
    linearLayers: report.linearLayers,
    macs: report.macs,
    linearInputElements: report.linearInputElements,
    linearOutputElements: report.linearOutputElements,
    loadMs,
    floorTrafficBytes,
    floorMs,
    ...(precompute ? { precompute } : {}),
    ...(tax ? { exactLinearMs: tax.exactLinearMs, fp32LinearMs: tax.fp32LinearMs, exactnessTax: tax.tax, exactnessLayers: tax.layers } : {}),
  };
  return { summary, records };
}

function inFlightRecord(run: NonNullable<ModeRun['inFlight']>, referenceLogits: Float64Array | undefined): InFlightMeasurement {
  const wallMsPerBatch = median([...run.batchMs]);
  return {
    images: IN_FLIGHT,
    batches: run.batchMs.length,
    wallMsPerBatch,
    throughput: (1000 * IN_FLIGHT) / wallMsPerBatch,
    logitsMatchBaseline: referenceLogits !== undefined && run.logits.every((l) => sameLogits(l, referenceLogits)),
  };
}

/** A service mode's record fields: its measurement, or why there is none. */
function serviceFields(run: ModeRun | undefined, notRun: string | undefined, referenceLogits: Float64Array | undefined): { service?: ServiceMeasurement; serviceNotRun?: string } {
  if (run === undefined) return notRun === undefined ? {} : { serviceNotRun: notRun };
  const trusted = run.samples.map((s) => s.trustedMs);
  const wall = run.samples.map((s) => s.wallMs);
  const wallMs = median(wall);
  return {
    service: {
      warmup: run.warmup,
      runs: run.samples.length,
      wallMsPerImage: wallMs,
      throughput: 1000 / wallMs,
      trustedMsPerImage: median(trusted),
      acceleratorMsPerImage: median(run.samples.map((s) => s.acceleratorMs)),
      setupMs: run.setupMs,
      // Without a reference there is nothing to match: a failure, not a pass.
      logitsMatchBaseline: referenceLogits !== undefined && run.samples.every((s) => sameLogits(s.logits, referenceLogits)),
      trustedMsSamples: trusted,
      wallMsSamples: wall,
    },
  };
}

/**
 * The service modes again, each with its own HttpBackend to one `slalom accelerator serve` child
 * process (stopped, killed if need be, whatever happens). A mode that fails is logged and noted in
 * `notRun`, so the model keeps its other records.
 */
async function measureService(
  model: SlalomModel,
  name: string,
  modes: readonly BenchMode[],
  input: Tensor,
  plan: IterationPlan,
  options: MeasureOptions & { stateDir: string; storeDir: string },
  runs: Map<BenchMode, ModeRun>,
  notRun: Map<BenchMode, string>,
): Promise<void> {
  const { log } = options;
  const failed = (mode: BenchMode, e: unknown): void => {
    const message = (e as Error)?.message ?? String(e);
    log(`[${name}] ${mode} (service) FAILED: ${(e as Error)?.stack ?? message}`);
    notRun.set(mode, `failed: ${message.split('\n')[0]}`);
  };
  options.collect();
  log(`[${name}] loopback service: starting \`slalom accelerator serve\` (onnxruntime, 1 thread, --max-batch 1, 127.0.0.1)…`);
  // --max-batch 1: one sequential client has nothing to batch with; the batching window (2 ms) would only add waiting to every layer.
  const server = await startAccelerator(name, { maxBatch: 1 }).catch((e: unknown) => {
    for (const mode of modes) failed(mode, e);
    return undefined;
  });
  if (server === undefined) return;
  try {
    for (const mode of modes) {
      options.collect();
      const accelerator = new HttpBackend({ urls: [server.url], clientId: 'bench', modelId: modelIdOf(model.name, model.weightsHash) });
      try {
        runs.set(mode, await measureMode(model, name, mode, input, plan, { ...options, accelerator }));
      } catch (e) {
        failed(mode, e);
        await accelerator.close(); // idempotent: the protocol may have closed it already
      }
    }
  } finally {
    await stopAccelerator(server);
  }
}

/** The exactness tax, or undefined (logged) if it fails: an extra figure must not cost the modes' records. */
async function measureTax(model: SlalomModel, name: string, log: (msg: string) => void): Promise<ExactnessTax | undefined> {
  log(`[${name}] exactness tax: exact kernels vs onnxruntime fp32, layer by layer…`);
  let lastLog = performance.now();
  try {
    const tax = await measureExactnessTax(model.quantized.layers, (done, total) => {
      if (done < total && performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(`[${name}] exactness tax: layer ${done}/${total}`);
      }
    });
    log(
      `[${name}] exactness tax: exact kernels ${tax.exactLinearMs.toFixed(1)} ms vs onnxruntime fp32 ${tax.fp32LinearMs.toFixed(1)} ms ` +
        `over ${tax.layers.length} linear layers = ${tax.tax.toFixed(2)}× (target ≤ 1.4)`,
    );
    return tax;
  } catch (e) {
    log(`[${name}] exactness tax FAILED: ${(e as Error)?.stack ?? String(e)}`);
    return undefined;
  }
}

async function measureMode(
  model: SlalomModel,
  name: string,
  mode: BenchMode,
  input: Tensor,
  plan: IterationPlan,
  options: MeasureOptions & { stateDir: string; storeDir: string; accelerator?: AcceleratorBackend },
): Promise<ModeRun> {
  const { log, rss } = options;
  const label = options.accelerator ? `${mode} (service)` : mode;
  const samples: Sample[] = [];
  rss.reset();
  const setupStart = performance.now();
  let setupMs = 0;
  let soundness: number | undefined;
  let inFlight: ModeRun['inFlight'];
  let infer: () => Promise<Omit<Sample, 'wallMs'>>;
  let close: () => Promise<void>;
  /** The memory pool of a `:memory` mode: refilled between runs, outside the timing (it fills in idle time). */
  let pool: PadPool | undefined;
  const fillMs: number[] = [];
  if (mode === 'ort-fp32') {
    const session = await createReferenceSession(model.onnxBytes, { threads: 1 });
    infer = async () => {
      const t0 = performance.now();
      const out = await session.run([input]);
      const ms = performance.now() - t0;
      return { trustedMs: ms, acceleratorMs: 0, timings: { onnxruntime: ms }, logits: [...out.values()][0]!.data };
    };
    close = () => session.close();
  } else {
    const slalomMode = mode.replace(/:memory$/, '') as Mode;
    // The bench opens the memory pool itself, to fill it outside the timing and to record what each pad cost.
    pool = MEMORY_PAD_MODES.has(mode) ? PadPool.open(model.quantized, { capacity: IN_FLIGHT, kernels: 'ort', onFilled: (ms) => fillMs.push(ms) }) : undefined;
    await pool?.filled();
    const protocol = await openProtocol(model, slalomMode, {
      kernels: 'ort',
      ...(options.accelerator ? { accelerator: options.accelerator } : {}),
      ...(PRIVATE_MODES.has(mode) ? { pads: { store: options.storeDir, stateDir: options.stateDir } } : {}),
      ...(pool !== undefined ? { pads: { source: 'shared' as const, from: pool } } : {}),
    });
    soundness = protocol.verifier?.soundnessLog2PerInference;
    infer = async () => {
      const r = await model.infer(input, { mode: slalomMode, protocol });
      return { trustedMs: r.trustedMs, acceleratorMs: r.acceleratorMs, timings: { ...r.timings }, logits: r.logits };
    };
    close = async () => {
      await protocol.close?.();
      await pool?.close(); // a shared source is the caller's to close
    };
  }
  setupMs = performance.now() - setupStart;
  let warmups = 0;
  try {
    const warmStart = performance.now();
    while (warmups < plan.warmup || (plan.adaptive && warmups < WARM_CAP && performance.now() - warmStart < WARM_MIN_MS)) {
      if (warmups < plan.warmup && (plan.warmup <= 10 || warmups === 0)) log(`[${name}] ${label}: warm-up ${warmups + 1}/${plan.warmup}`);
      await pool?.filled();
      await infer();
      warmups++;
      rss.sample();
    }
    if (warmups > plan.warmup) log(`[${name}] ${label}: ${warmups} warm-ups in all`);
    const runStart = performance.now();
    while (samples.length < plan.runs || (plan.adaptive && samples.length < RUN_CAP && performance.now() - runStart < RUN_MIN_MS)) {
      const k = samples.length + 1;
      if (k <= plan.runs && (plan.runs <= 10 || k % 10 === 0 || k === plan.runs)) log(`[${name}] ${label}: run ${k}/${plan.runs}`);
      await pool?.filled();
      const t0 = performance.now();
      const r = await infer();
      const wallMs = performance.now() - t0;
      rss.sample();
      samples.push({ ...r, wallMs });
    }
    if (samples.length > plan.runs) log(`[${name}] ${label}: ${samples.length} runs in all`);
    // Several images at once on the same protocol (store pads excepted: each would cost a precomputed pad more).
    if (OUTSOURCING_MODES.has(mode) && !PRIVATE_MODES.has(mode) && options.accelerator === undefined) {
      inFlight = await measureInFlight(infer, Math.max(2, Math.min(IN_FLIGHT_BATCH_CAP, Math.ceil(samples.length / IN_FLIGHT))), pool, (msg) => log(`[${name}] ${label}: ${msg}`));
      rss.sample();
    }
  } finally {
    await close();
  }
  return {
    warmup: warmups,
    samples,
    setupMs,
    peakRssBytes: rss.peak(),
    ...(soundness !== undefined ? { soundnessLog2PerInference: soundness } : {}),
    ...(inFlight !== undefined ? { inFlight } : {}),
    ...(pool !== undefined ? { fillMs } : {}),
  };
}

/** `batches` batches of IN_FLIGHT inferences started at once; a pool is filled before each batch, outside the timing. */
async function measureInFlight(infer: () => Promise<Omit<Sample, 'wallMs'>>, batches: number, pool: PadPool | undefined, log: (msg: string) => void): Promise<NonNullable<ModeRun['inFlight']>> {
  const batchMs: number[] = [];
  const logits: Float64Array[] = [];
  for (let b = 0; b < batches; b++) {
    log(`${IN_FLIGHT} in flight, batch ${b + 1}/${batches}`);
    await pool?.filled();
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: IN_FLIGHT }, () => infer()));
    batchMs.push(performance.now() - t0);
    logits.push(...rs.map((r) => r.logits));
  }
  return { batchMs, logits };
}
