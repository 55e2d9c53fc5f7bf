/**
 * `slalom compare --model m.onnx|m.slalom --inputs <dir|.npy|fashion-mnist:test[:n]>`: fp32 reference
 * vs slalom. An ONNX model with no calibration of its own (no --calibration, no sidecar images) is
 * calibrated on a held-out part of the inputs, which the comparison then leaves out; it says so.
 */
import { readFileSync } from 'node:fs';
import { compare, heldOutForCalibration, type CompareReport } from '../../api/compare.js';
import { InvalidArgumentError, OverflowError } from '../../errors.js';
import type { LabeledInput } from '../../io/sources.js';
import { resolveInputs } from '../../io/sources.js';
import { isArtifactFile } from '../../runtime/model.js';
import { readSidecar } from '../../runtime/model-inputs.js';
import { table } from '../format.js';
import { loadModelFromFlags, parsePositive, type ModelFlags } from '../options.js';
import { progressBar } from '../progress.js';

interface CompareFlags extends ModelFlags {
  model: string;
  inputs: string;
  limit?: string;
  floatModel?: string;
  json?: boolean;
}

export async function run(flags: CompareFlags): Promise<void> {
  const limit = flags.limit === undefined ? undefined : parsePositive(flags.limit, '--limit', true);
  const limited = <T>(items: readonly T[]): readonly T[] => (limit === undefined ? items : items.slice(0, limit));
  // Held out for calibration: only for an ONNX model that has no calibration of its own.
  const holdOut = flags.calibration === undefined && !isArtifactFile(flags.model) && readSidecar(flags.model).calibration === undefined;
  let heldOut = new Set<number>();
  let listed = 0;
  const model = await loadModelFromFlags(flags.model, flags, holdOut
    ? {
        calibration: flags.inputs,
        calibrationItems: (items) => {
          const use = limited(items);
          listed = use.length;
          heldOut = heldOutForCalibration(use.length);
          return use.filter((_, i) => heldOut.has(i));
        },
        calibrationSource: `held out: part of ${flags.inputs}`,
      }
    : {});
  const all = limited(resolveInputs(flags.inputs, { preprocess: model.info.preprocess, expectDims: model.inputDims }));
  const inputs: readonly LabeledInput[] = holdOut && all.length > 1 ? all.filter((_, i) => !heldOut.has(i)) : all;
  if (holdOut) {
    const note = all.length > 1 ? `${heldOut.size} of ${listed} inputs, held out from the comparison` : 'the only input, which is also compared (nothing to hold out)';
    process.stderr.write(`compare: no calibration given: calibrating on ${note}; pass --calibration <dir|.npy> to choose\n`);
  }
  const floatModel = flags.floatModel === undefined ? undefined : readFloatModel(flags.floatModel);
  const bar = progressBar(flags);
  bar.start(inputs.length, 'compare (inputs)');
  let report: CompareReport;
  try {
    report = await compare(model, inputs, { onProgress: (done) => bar.update(done), ...(floatModel !== undefined ? { floatModel } : {}) });
  } finally {
    bar.stop();
  }
  const calibration = model.provenance.calibration;
  process.stdout.write(flags.json ? `${JSON.stringify({ ...report, calibration: { source: calibration.source, samples: calibration.samples } })}\n` : formatCompare(report));
  if (report.overflows !== undefined) {
    // After the summary: the exit status (3) and one line say the comparison is not clean.
    const { count, first } = report.overflows;
    throw new OverflowError(`${count} of ${report.count} inputs overflowed (counted as disagreeing); first, ${first.input}: ${first.message}`);
  }
}

function readFloatModel(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new InvalidArgumentError(`cannot read --float-model ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function formatCompare(r: CompareReport): string {
  const pct = (v: number): string => `${(v * 100).toFixed(2)} %`;
  const lines = [
    `inputs: ${r.count}   top-1 agreement with onnxruntime fp32: ${pct(r.top1Agreement)}`,
    `max |Δlogit|: ${r.maxAbsLogitError.toPrecision(4)}   relative to max |logit|: ${pct(r.maxRelLogitError)}`,
  ];
  if (r.accuracy) lines.push(`accuracy: fp32 ${pct(r.accuracy.float)}   slalom ${pct(r.accuracy.slalom)}`);
  if (r.overflows) lines.push(`overflowed: ${r.overflows.count} input(s)`);
  lines.push('', table(['linear layer', 'max |Δ|', 'max |fp32|', 'drift'], r.layers.map((l) => [l.name, l.maxAbsError.toPrecision(3), l.maxAbsReference.toPrecision(3), pct(l.relativeDrift)])), '');
  return lines.join('\n');
}
