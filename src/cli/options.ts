/** Flags shared by the commands that load a model, and their parsing into LoadOptions. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import { SlalomModel } from '../runtime/model.js';
import { createExactKernels, EXACT_KERNELS, type ExactKernelsName } from '../kernels/exact-linear.js';
import type { SessionOptions } from '../runtime/session.js';
import { HttpBackend } from '../accel/http/client.js';
import { modelIdOf } from '../accel/http/protocol.js';
import { LocalBackend } from '../accel/local.js';
import { CHECK_VARIANTS, DEFAULT_SOUNDNESS_BITS, type CheckVariant } from '../verify/soundness.js';

export interface ModelFlags {
  inputShape?: string;
  calibration?: string;
  margin?: string;
}

export function addModelFlags(cmd: Command): Command {
  return cmd
    .option('--input-shape <dims>', 'concrete input shape for models with symbolic sizes, e.g. 1,3,224,224')
    .option('--calibration <source>', 'calibration inputs: a directory, a .npy, or fashion-mnist:train:<n> (default: the images named by <model>.slalom.json, else seeded normal inputs)')
    .option('--margin <factor>', 'headroom between calibrated maxima and p/2', '4');
}

export function parseDims(text: string): number[] {
  const dims = text.split(/[,x×]/).map((s) => Number(s.trim()));
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new InvalidArgumentError(`--input-shape must be positive integers separated by commas, got '${text}'`);
  }
  return dims;
}

export function parsePositive(text: string, flag: string, integer = false): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new InvalidArgumentError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${text}'`);
  }
  return v;
}

export async function loadModelFromFlags(path: string, flags: ModelFlags): Promise<SlalomModel> {
  return SlalomModel.load(path, {
    inputDims: flags.inputShape === undefined ? undefined : parseDims(flags.inputShape),
    margin: flags.margin === undefined ? undefined : parsePositive(flags.margin, '--margin'),
    calibration: flags.calibration,
  });
}

export interface SessionFlags {
  check: string;
  repetitions?: string;
  soundnessBits: string;
  onFailure: string;
  store?: string;
  state?: string;
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

/** Flags of the outsourcing modes: checks, failure policy, pads. */
export function addSessionFlags(cmd: Command): Command {
  return cmd
    .option('--store <dir>', 'pad store for the private modes (filled by `slalom precompute`)')
    .option('--state <dir>', 'trusted state directory (keys, pad ledger); default $SLALOM_STATE_DIR or ~/.slalom/state')
    .option('--on-exhausted <policy>', 'when no pad is left: fail, or local (run that inference in the trusted runtime)', 'fail')
    .option('--low-water <n>', 'warn when fewer pads remain', '10')
    .option('--kernels <impl>', `exact kernels of the trusted runtime and the embedded accelerator: ${EXACT_KERNELS.join(', ')}`, 'ort')
    .option('--check <variant>', `Freivalds variant: ${CHECK_VARIANTS.join(', ')}`, 'preprocessed')
    .option('--repetitions <k>', 'repetitions per check (default: the fewest that reach --soundness-bits)')
    .option('--soundness-bits <bits>', 'a wrong result may pass an inference with probability at most 2^-bits', String(DEFAULT_SOUNDNESS_BITS))
    .option(
      '--on-failure <policy>',
      'after a failed check or an invalid reply: abort (IntegrityError/exit 4, no output — always, whatever --accelerator-fallback says), or recompute (the same request on another accelerator, else the layer in the trusted runtime, distrusting the accelerator)',
      'abort',
    )
    .option('--accelerator <urls>', 'accelerator services (Open Inference Protocol), comma-separated: http://host:port[,http://host2:port…] (default: the embedded worker)')
    .option('--accelerator-timeout-ms <ms>', 'per-request timeout of --accelerator before failing over', '60000')
    .option('--accelerator-fallback <policy>', 'when no --accelerator is reachable: fail, or local (compute in the trusted runtime); only for unreachable accelerators, never a second opinion on a failed check under --on-failure abort', 'fail');
}

/** `--accelerator`: the HTTP client for `model` (its layers are `${modelIdOf(name, hash)}.l<i>`), or nothing for the embedded worker. */
export async function acceleratorFromFlags(flags: SessionFlags, model: { name: string; weightsHash: string }): Promise<Pick<SessionOptions, 'accelerator'>> {
  if (flags.accelerator === undefined) return {};
  const urls = flags.accelerator.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) throw new InvalidArgumentError(`--accelerator needs at least one http://host:port, got '${flags.accelerator}'`);
  if (flags.acceleratorFallback !== 'fail' && flags.acceleratorFallback !== 'local') throw new InvalidArgumentError(`--accelerator-fallback must be fail or local, got '${flags.acceleratorFallback}'`);
  const timeoutMs = parsePositive(flags.acceleratorTimeoutMs ?? '60000', '--accelerator-timeout-ms');
  let fallback;
  if (flags.acceleratorFallback === 'local') {
    const kernels = await createExactKernels(parseKernels(flags.kernels));
    const local = new LocalBackend(kernels);
    fallback = { name: 'local', loadWeights: local.loadWeights.bind(local), linear: local.linear.bind(local), close: () => kernels.close() };
  }
  const onEvent = (e: { kind: string; url: string; message: string }): void => {
    if (e.kind !== 'busy') process.stderr.write(`warning: accelerator ${e.url}: ${e.message}\n`);
  };
  return { accelerator: new HttpBackend({ urls, timeoutMs, clientId: `slalom-${process.pid}`, modelId: modelIdOf(model.name, model.weightsHash), fallback, onEvent }) };
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

export function sessionOptionsFromFlags(flags: SessionFlags): SessionOptions {
  if (flags.onFailure !== 'abort' && flags.onFailure !== 'recompute') throw new InvalidArgumentError(`--on-failure must be abort or recompute, got '${flags.onFailure}'`);
  if (flags.onExhausted !== 'fail' && flags.onExhausted !== 'local') throw new InvalidArgumentError(`--on-exhausted must be fail or local, got '${flags.onExhausted}'`);
  const lowWater = Number(flags.lowWater);
  if (!Number.isInteger(lowWater) || lowWater < 0) throw new InvalidArgumentError(`--low-water must be a non-negative integer, got '${flags.lowWater}'`);
  return {
    kernels: parseKernels(flags.kernels),
    verify: parseVerifyFlags(flags),
    ...(flags.store !== undefined
      ? {
          pads: {
            store: flags.store,
            stateDir: flags.state,
            onExhausted: flags.onExhausted,
            lowWater,
            onLowPads: (remaining: number) => process.stderr.write(`warning: only ${remaining} pads left (low-water mark ${lowWater}); run \`slalom precompute\`\n`),
          },
        }
      : {}),
    onFailure: flags.onFailure,
  };
}
