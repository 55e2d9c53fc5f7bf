/**
 * `slalom infer --model m.onnx|m.slalom --input <image|.npy> [--mode …] [--json]`: one prediction list
 * per batch item, the outputs' shapes and per-phase timings. Runs through a session (api/session.ts),
 * so the mode printed is the mode that ran.
 */
import { attentionPlaceFor } from '../../runtime/attention-offload.js';
import type { AcceleratorBackend } from '../../accel/backend.js';
import { createSession, type RunResult } from '../../api/session.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, PadsExhaustedError } from '../../errors.js';
import { finiteInput } from '../../io/npy.js';
import { isMode, MODES, type Mode } from '../../runtime/modes.js';
import { boundaryImplementation } from '../../simd/boundary.js';
import { formatDims } from '../../tensor/tensor.js';
import { formatMs } from '../format.js';
import {
  acceleratorFromFlags,
  loadModelFromFlags,
  parsePositive,
  perInputFlag,
  sessionOptionsFromFlags,
  type ModelFlags,
  type SessionFlags,
} from '../options.js';

interface InferFlags extends ModelFlags, SessionFlags {
  model: string;
  input: string[];
  mode: string;
  json?: boolean;
  top: string;
}

export async function run(flags: InferFlags): Promise<void> {
  if (!isMode(flags.mode)) throw new InvalidArgumentError(`--mode must be one of ${MODES.join(', ')}, got '${flags.mode}'`);
  const mode: Mode = flags.mode;
  const top = parsePositive(flags.top, '--top', true);
  const files = perInputFlag(flags.input, '--input', (s) => s)!;
  attentionPlaceFor(mode, flags.attention);
  checkStoreHasPads(flags, mode);
  const loadStart = performance.now();
  const model = await loadModelFromFlags(flags.model, flags, { sample: files });
  const loadMs = performance.now() - loadStart;
  const input = typeof files === 'string' ? finiteInput(await model.loadInput(files), files) : await model.loadInput(files);
  if (typeof files !== 'string') for (const [name, t] of Object.entries(input)) finiteInput(t, files[name]!);
  const outsourcing: { accelerator?: AcceleratorBackend } = mode === 'baseline' ? {} : await acceleratorFromFlags(flags, model);
  const accelerator = acceleratorInfo(outsourcing.accelerator);
  // Registering the weights with the accelerator (an upload, for a remote one) happens once per
  // session, before the inference: its own phase, not hidden between `load` and `total`.
  const setupStart = performance.now();
  const session = await createSession(model, { mode, top, ...sessionOptionsFromFlags(flags), ...outsourcing });
  const setupMs = performance.now() - setupStart;
  const start = performance.now();
  let result: RunResult;
  try {
    result = await session.run(input);
  } finally {
    await session.close();
  }
  const timings = { load: loadMs, ...(outsourcing.accelerator !== undefined ? { acceleratorSetup: setupMs } : {}), ...result.timings, total: performance.now() - start };
  process.stdout.write(flags.json ? `${JSON.stringify(inferJson(model.name, result, timings, accelerator))}\n` : formatInfer(model.name, result, timings, accelerator));
}

/**
 * A private mode reading a store that was never filled (a missing directory: a typo, or the first
 * run) fails before the model loads, with the whole command that fills it. Under
 * `--on-exhausted local` a store without pads is allowed: the inference runs in the trusted runtime.
 */
function checkStoreHasPads(flags: InferFlags, mode: Mode): void {
  if (!mode.startsWith('private') || flags.pads !== 'store' || flags.store === undefined || flags.onExhausted !== 'fail') return;
  if (existsSync(join(flags.store, 'manifest.json'))) return;
  const what = existsSync(flags.store) ? 'holds no pads yet' : 'does not exist';
  const state = flags.state !== undefined ? ` --state ${flags.state}` : '';
  throw new PadsExhaustedError(`the pad store ${flags.store} ${what}: fill it first with \`slalom precompute --model ${flags.model} --count 16 --store ${flags.store}${state}\``);
}

interface AcceleratorInfo {
  readonly backend: string;
  readonly device?: string;
}

/** Which accelerator ran the linear layers, and on what device (a GPU adapter, say), for the output. */
function acceleratorInfo(a: AcceleratorBackend | undefined): AcceleratorInfo | undefined {
  return a === undefined ? undefined : { backend: a.name, ...(a.device ? { device: a.device } : {}) };
}

/** Whether the accelerator's results were checked: only the verified modes check them (README, threat model); baseline has none. */
const isVerified = (r: RunResult): boolean => r.mode === 'baseline' || r.verification !== undefined;

function inferJson(model: string, r: RunResult, timings: Record<string, number>, accelerator: AcceleratorInfo | undefined): object {
  const first = r.outputs[r.outputNames[0]!]!;
  return {
    model,
    mode: r.mode,
    verified: isVerified(r),
    ...(r.insecure ? { insecure: true } : {}),
    items: r.items,
    // One top-k list per item; absent when the first output is not a class distribution.
    ...(r.predictions !== undefined ? { predictions: r.predictions } : {}),
    outputs: r.outputNames.map((name) => ({ name, dims: r.outputs[name]!.dims, data: Array.from(r.outputs[name]!.data) })),
    logits: Array.from(first.data),
    timings,
    trustedMs: r.trustedMs,
    boundary: boundaryImplementation(),
    acceleratorMs: r.acceleratorMs,
    ...(accelerator ? { accelerator } : {}),
    ...(r.verification !== undefined ? { verification: r.verification } : {}),
    ...(r.incidents.length > 0 ? { incidents: r.incidents } : {}),
    ...(r.ranLocally !== undefined ? { ranLocally: r.ranLocally } : {}),
    layers: r.layers,
  };
}

function formatInfer(model: string, r: RunResult, timings: Record<string, number>, accelerator: AcceleratorInfo | undefined): string {
  const notice = r.insecure
    ? '  (INSECURE: no checks, accelerator sees plaintext — for measurement only)'
    : isVerified(r)
      ? ''
      : "  (not verified: the accelerator's results are used unchecked; --mode private+verified checks them)";
  const lines = [`${model}  mode ${r.mode}${notice}`];
  if (r.predictions !== undefined) {
    r.predictions.forEach((list, item) => {
      if (r.items > 1) lines.push(`item ${item}:`);
      for (const p of list) lines.push(`  ${String(p.index).padStart(4)}  ${(p.score * 100).toFixed(2).padStart(6)} %  ${p.label ?? ''}`);
    });
  }
  for (const name of r.outputNames) {
    const o = r.outputs[name]!;
    const head = Array.from(o.data.subarray(0, 6), (v) => v.toPrecision(4)).join(', ');
    lines.push(`output ${name} ${formatDims(o.dims)}: ${head}${o.data.length > 6 ? ', …' : ''}`);
  }
  const { load, acceleratorSetup, ...inference } = timings;
  lines.push(`model load ${formatMs(load!)}${acceleratorSetup !== undefined ? `; accelerator setup (weights registered or uploaded, once per session) ${formatMs(acceleratorSetup)}` : ''}`);
  lines.push(`timings: ${Object.entries(inference).map(([phase, ms]) => `${phase} ${formatMs(ms)}`).join(', ')}`);
  lines.push(`trusted runtime ${formatMs(r.trustedMs)} (boundary pass: ${boundaryImplementation()}), accelerator ${formatMs(r.acceleratorMs)}`);
  if (accelerator) lines.push(`accelerator: ${accelerator.backend}${accelerator.device ? ` — ${accelerator.device}` : ''}`);
  if (r.verification !== undefined) {
    const v = r.verification;
    lines.push(`verified: ${v.variant} Freivalds, k = ${v.repetitions}, a wrong result goes undetected with probability ≤ 2^${v.soundnessLog2PerInference.toFixed(1)} per inference`);
  }
  // Each incident's message says what was done about it (recomputed, retried, skipped, ran locally).
  for (const i of r.incidents) lines.push(`WARNING ${i.layer}: ${i.message}`);
  return `${lines.join('\n')}\n`;
}
