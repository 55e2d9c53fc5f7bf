/** The parsing of the flags cli/verbs.ts declares: into LoadOptions, session options, accelerators. */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { FileCounters, type MonotonicCounters } from '../blind/monotonic-counter.js';
import { aInt, aNumber, type IntRange } from '../util/assert.js';
import type { Preprocess } from '../io/preprocess.js';
import { SlalomModel, type LoadOptions, type PerInput } from '../runtime/model.js';
import { SEEDED_TOKENS } from '../quant/calibrate-decoder.js';
import { SEEDED_NORMAL } from '../runtime/model-inputs.js';
import { EXACT_KERNELS, type ExactKernelsName } from '../kernels/exact-linear.js';
import type { SessionOptions } from '../runtime/session.js';
import type { AttentionPlace } from '../runtime/attention-offload.js';
import type { AcceleratorBackend } from '../accel/backend.js';
import { ACCELERATOR_TOKEN_ENV, modelIdOf } from '../accel/http/protocol.js';
import { backendForms, backendRequest, resolveBackend, type BackendRequest } from '../accel/registry.js';
import { CHECK_VARIANTS, type CheckVariant } from '../verify/soundness.js';
import { loadProgress, progressBar, type ProgressFlags } from './progress.js';

export interface ModelFlags extends ProgressFlags, PreprocessFlags {
  inputShape?: string[];
  calibration?: string[];
  margin?: string;
  memoryBudgetMb?: string;
}

export interface PreprocessFlags {
  size?: string;
  resize?: string;
  crop?: string;
  mean?: string;
  std?: string;
  scale?: string;
  channels?: string;
  layout?: string;
}

function numbers(text: string, flag: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) throw new InvalidArgumentError(`${flag} must be numbers separated by commas, got '${text}'`);
  return values;
}

export function preprocessFromFlags(flags: PreprocessFlags): Partial<Preprocess> {
  const out: Partial<Preprocess> = {};
  if (flags.size !== undefined) {
    const [h, w, ...rest] = numbers(flags.size, '--size');
    if (rest.length > 0 || w === undefined || !Number.isInteger(h) || !Number.isInteger(w) || h! <= 0 || w <= 0) throw new InvalidArgumentError(`--size must be height,width, got '${flags.size}'`);
    out.size = [h!, w];
  }
  if (flags.resize !== undefined) {
    const r = Number(flags.resize);
    if (!Number.isInteger(r) || r < 0) throw new InvalidArgumentError(`--resize must be a non-negative integer, got '${flags.resize}'`);
    out.resize = r;
  }
  if (flags.crop !== undefined) {
    if (flags.crop !== 'center' && flags.crop !== 'none') throw new InvalidArgumentError(`--crop must be center or none, got '${flags.crop}'`);
    out.crop = flags.crop;
  }
  if (flags.mean !== undefined) out.mean = numbers(flags.mean, '--mean');
  if (flags.std !== undefined) out.std = numbers(flags.std, '--std');
  if (flags.scale !== undefined) out.scale = parsePositive(flags.scale, '--scale');
  if (flags.channels !== undefined) {
    if (flags.channels !== '1' && flags.channels !== '3') throw new InvalidArgumentError(`--channels must be 1 or 3, got '${flags.channels}'`);
    out.channels = Number(flags.channels) as 1 | 3;
  }
  if (flags.layout !== undefined) {
    const layout = flags.layout.toUpperCase();
    if (layout !== 'NCHW' && layout !== 'NHWC') throw new InvalidArgumentError(`--layout must be NCHW or NHWC, got '${flags.layout}'`);
    out.layout = layout;
  }
  // One mean/std value for all channels.
  const channels = out.channels;
  for (const key of ['mean', 'std'] as const) {
    const v = out[key];
    if (v !== undefined && v.length === 1 && channels === 3) out[key] = [v[0]!, v[0]!, v[0]!];
  }
  return out;
}

/**
 * Values of a repeatable per-input flag: one plain value (the first input's), or `name=value` for
 * each input (a name holds no '/': `./a=b.npy` is a path).
 */
export function perInputFlag<T>(values: readonly string[] | undefined, flag: string, parse: (text: string) => T): PerInput<T> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const named = values.map((v) => /^([^=/]+)=(.*)$/.exec(v));
  if (values.length === 1 && named[0] === null) return parse(values[0]!);
  const out: Record<string, T> = {};
  named.forEach((m, i) => {
    if (m === null) throw new InvalidArgumentError(`${flag} given several times needs name=value each time, got '${values[i]}'`);
    if (m[1]! in out) throw new InvalidArgumentError(`${flag} names input '${m[1]}' twice`);
    out[m[1]!] = parse(m[2]!);
  });
  return out;
}

export function parseDims(text: string): number[] {
  const dims = text.split(/[,x×]/).map((s) => Number(s.trim()));
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new InvalidArgumentError(`--input-shape must be positive integers separated by commas, got '${text}'`);
  }
  return dims;
}

/**
 * Numeric flags are checked by util/assert, the library's own checks, under the flag's name in the
 * library's spelling (`--max-body-mb` → `maxBodyMb`); main.ts's error line turns it back into the
 * flag. Text that is no number is passed on as text, so the error quotes what was typed.
 */
const argumentOf = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const numberOf = (text: string): number | string => {
  const v = text.trim() === '' ? Number.NaN : Number(text);
  return Number.isNaN(v) ? text : v;
};

export function parsePositive(text: string, flag: string, integer = false): number {
  return integer ? aInt(numberOf(text), argumentOf(flag), { min: 1 }) : aNumber(numberOf(text), argumentOf(flag), { positive: true });
}

/** An integer flag in `range` (default: any safe integer), e.g. `{ min: 0 }` for a count that may be zero. */
export function parseInteger(text: string, flag: string, range: IntRange = {}): number {
  return aInt(numberOf(text), argumentOf(flag), range);
}

/** Loads `path` (ONNX or artifact) as the flags say, with a progress bar through its phases. */
export async function loadModelFromFlags(path: string, flags: ModelFlags, extra: Pick<LoadOptions, 'sample' | 'calibrationItems' | 'calibrationSource' | 'calibration'> = {}): Promise<SlalomModel> {
  const options: LoadOptions = {
    inputDims: perInputFlag(flags.inputShape, '--input-shape', parseDims),
    margin: flags.margin === undefined ? undefined : parsePositive(flags.margin, '--margin'),
    memoryBudgetMb: flags.memoryBudgetMb === undefined ? undefined : parsePositive(flags.memoryBudgetMb, '--memory-budget-mb'),
    calibration: perInputFlag(flags.calibration, '--calibration', (s) => s),
    info: { preprocess: preprocessFromFlags(flags) },
    ...extra,
  };
  const bar = progressBar(flags);
  let model: SlalomModel;
  try {
    model = await SlalomModel.load(path, { ...options, onProgress: loadProgress(bar) });
  } finally {
    bar.stop();
  }
  warnIfSyntheticCalibration(model);
  return model;
}

/**
 * One stderr line when the model was just calibrated on seeded random inputs (no --calibration, no
 * sidecar images): its scales then fit noise, and real inputs may overflow or lose accuracy.
 */
function warnIfSyntheticCalibration(model: SlalomModel): void {
  if (model.format !== 'onnx') return;
  const { source, samples } = model.provenance.calibration;
  if (source === SEEDED_NORMAL) {
    process.stderr.write(
      `warning: ${model.name} was calibrated on ${samples} seeded random inputs, not real data: real inputs may overflow or lose accuracy; give --calibration <dir|.npy> with inputs like yours (or quantize once: slalom quantize --calibration …)\n`,
    );
  } else if (source === SEEDED_TOKENS) {
    process.stderr.write(
      `warning: ${model.name} was calibrated on ${samples} sequences of seeded random tokens, not real text: real prompts may overflow or lose accuracy; give --calibration <ids.npy> with token ids [N, T] of text like yours (or quantize once: slalom quantize --calibration …)\n`,
    );
  }
}

/** The flags that choose the accelerators (`--accelerator`, its timeout and fallback, `--kernels`). */
export type AcceleratorFlags = Pick<SessionFlags, 'accelerator' | 'acceleratorTimeoutMs' | 'acceleratorFallback' | 'kernels'>;

export interface SessionFlags {
  check: string;
  repetitions?: string;
  soundnessBits: string;
  onFailure: string;
  attention?: string;
  pads: string;
  padPool: string;
  store?: string;
  state?: string;
  monotonicCounter?: string;
  onExhausted: string;
  lowWater: string;
  kernels: string;
  accelerator?: string;
  acceleratorTimeoutMs?: string;
  acceleratorFallback: string;
}

export function parseKernels(name: string): ExactKernelsName {
  if (!(EXACT_KERNELS as readonly string[]).includes(name)) throw new InvalidArgumentError(`--kernels must be one of ${EXACT_KERNELS.join(', ')}, got '${name}'`);
  return name as ExactKernelsName;
}

/** The forms `--accelerator` takes: each registered backend the trusted runtime can start, http as its URLs. */
const acceleratorForms = (): string => [...backendForms('create').filter((f) => f !== 'http'), 'or http://host:port URLs'].join(', ');

/**
 * `--accelerator`: backends to try in order, comma-separated (a run of consecutive URLs is one
 * `http` backend over those services): `worker` (the default), `webgpu` (a GPU, else an error —
 * unless SLALOM_WEBGPU_ADAPTER names another policy),
 * `webgpu:auto` (a GPU, else the software adapter), `webgpu:software`, `local`, `http://host:port…`.
 * When several are listed, one that fails to start is reported and the next tried.
 */
export function acceleratorRequests(flags: AcceleratorFlags, model: { name: string; weightsHash: string }, fallback?: AcceleratorBackend): BackendRequest[] {
  const text = flags.accelerator ?? 'worker';
  const tokens = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (tokens.length === 0) throw new InvalidArgumentError(`--accelerator needs ${acceleratorForms()}, got '${text}'`);
  const kernels = parseKernels(flags.kernels);
  const requests: BackendRequest[] = [];
  let urls: string[] = [];
  const flushUrls = (): void => {
    if (urls.length === 0) return;
    const timeoutMs = parsePositive(flags.acceleratorTimeoutMs ?? '60000', '--accelerator-timeout-ms');
    const onEvent = (e: { kind: string; url: string; message: string }): void => {
      if (e.kind !== 'busy') process.stderr.write(`warning: accelerator ${e.url}: ${e.message}\n`);
    };
    const token = process.env[ACCELERATOR_TOKEN_ENV];
    // The client id is unguessable: a service lets only the client that loaded a layer unload it.
    const clientId = `slalom-${process.pid}-${randomBytes(6).toString('hex')}`;
    requests.push({ name: 'http', options: { urls, timeoutMs, clientId, modelId: modelIdOf(model.name, model.weightsHash), ...(token ? { token } : {}), ...(fallback ? { fallback } : {}), onEvent } });
    urls = [];
  };
  for (const token of tokens) {
    if (/^https?:\/\//i.test(token)) {
      urls.push(token);
      continue;
    }
    flushUrls();
    const [name, variant, ...rest] = token.split(':');
    try {
      if (rest.length > 0 || name === 'http') throw new InvalidArgumentError(`'${token}'`);
      requests.push(backendRequest(name!, variant, { kernels }, 'create'));
    } catch {
      throw new InvalidArgumentError(`--accelerator: '${token}' is not one of ${acceleratorForms()}`);
    }
  }
  flushUrls();
  return requests;
}

/** The accelerator `--accelerator` names (default: the embedded worker), started; skipped backends are warned about on stderr. */
export async function acceleratorFromFlags(flags: AcceleratorFlags, model: { name: string; weightsHash: string }): Promise<{ accelerator: AcceleratorBackend }> {
  if (flags.acceleratorFallback !== 'fail' && flags.acceleratorFallback !== 'local') throw new InvalidArgumentError(`--accelerator-fallback must be fail or local, got '${flags.acceleratorFallback}'`);
  const usesHttp = (flags.accelerator ?? '').split(',').some((t) => /^\s*https?:\/\//i.test(t));
  const fallback = usesHttp && flags.acceleratorFallback === 'local' ? (await resolveBackend([{ name: 'local', options: { kernels: parseKernels(flags.kernels) } }])).backend : undefined;
  const requests = acceleratorRequests(flags, model, fallback);
  const { backend, failures } = await resolveBackend(requests, { fallthrough: requests.length > 1 });
  for (const f of failures) process.stderr.write(`warning: accelerator ${f.name} did not start (${f.reason}); trying the next\n`);
  return { accelerator: backend };
}

export function parseVerifyFlags(flags: { check: string; repetitions?: string; soundnessBits: string }): { variant: CheckVariant; repetitions?: number; soundnessBits: number } {
  if (!(CHECK_VARIANTS as readonly string[]).includes(flags.check)) {
    throw new InvalidArgumentError(`--check must be one of ${CHECK_VARIANTS.join(', ')}, got '${flags.check}'`);
  }
  return {
    variant: flags.check as CheckVariant,
    repetitions: flags.repetitions === undefined ? undefined : parsePositive(flags.repetitions, '--repetitions', true),
    soundnessBits: parsePositive(flags.soundnessBits, '--soundness-bits'),
  };
}

/** `--monotonic-counter <dir>`: the counters the trusted state's ledgers are bound to (docs/rollback.md). */
export function trustedStateOptions(flags: { readonly monotonicCounter?: string }): { counters?: MonotonicCounters } {
  return flags.monotonicCounter === undefined ? {} : { counters: new FileCounters(flags.monotonicCounter) };
}

/** `--pads`: store or memory; `--store` goes with store only. */
export function parsePadSource(pads: string, hasStore: boolean): 'store' | 'memory' {
  if (pads !== 'store' && pads !== 'memory') throw new InvalidArgumentError(`--pads must be store or memory, got '${pads}'`);
  if (pads === 'memory' && hasStore) throw new InvalidArgumentError('--store names a pad store: it goes with --pads store, not --pads memory');
  return pads;
}

export function sessionOptionsFromFlags(flags: SessionFlags): SessionOptions {
  if (flags.onFailure !== 'abort' && flags.onFailure !== 'recompute') throw new InvalidArgumentError(`--on-failure must be abort or recompute, got '${flags.onFailure}'`);
  if (flags.onExhausted !== 'fail' && flags.onExhausted !== 'local') throw new InvalidArgumentError(`--on-exhausted must be fail or local, got '${flags.onExhausted}'`);
  const lowWater = parseInteger(flags.lowWater, '--low-water', { min: 0 });
  parsePadSource(flags.pads, flags.store !== undefined);
  return {
    kernels: parseKernels(flags.kernels),
    verify: parseVerifyFlags(flags),
    ...(flags.pads === 'memory' ? { pads: { source: 'memory' as const, capacity: parsePositive(flags.padPool, '--pad-pool', true), onExhausted: flags.onExhausted } } : {}),
    ...(flags.pads === 'store' && flags.store !== undefined
      ? {
          pads: {
            store: flags.store,
            stateDir: flags.state,
            ...trustedStateOptions(flags),
            onExhausted: flags.onExhausted,
            lowWater,
            onLowPads: (remaining: number) => process.stderr.write(`warning: only ${remaining} pads left (low-water mark ${lowWater}); run \`slalom precompute\`\n`),
          },
        }
      : {}),
    onFailure: flags.onFailure,
    ...(flags.attention !== undefined ? { attention: flags.attention as AttentionPlace } : {}),
  };
}
