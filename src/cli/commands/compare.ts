/** `slalom compare --model m.onnx --inputs <dir|.npy|fashion-mnist:test[:n]>`: fp32 reference vs slalom. */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { compare, type CompareReport } from '../../api/compare.js';
import { resolveInputs } from '../../io/sources.js';
import { table } from '../format.js';
import { addModelFlags, loadModelFromFlags, parsePositive, type ModelFlags } from '../options.js';

interface CompareFlags extends ModelFlags {
  model: string;
  inputs: string;
  limit?: string;
  json?: boolean;
}

export function registerCompare(program: Command): void {
  addModelFlags(
    program
      .command('compare')
      .description('run the model in onnxruntime fp32 and in slalom; report top-1 agreement, logit error and per-layer drift')
      .requiredOption('--model <file>', 'ONNX model file')
      .requiredOption('--inputs <source>', 'a directory of images/.npy, a (batched) .npy, or fashion-mnist:test[:<count>]')
      .option('--limit <n>', 'use at most n inputs')
      .option('--json', 'print one JSON object'),
  ).action(async (flags: CompareFlags) => {
    const model = await loadModelFromFlags(flags.model, flags);
    let inputs = resolveInputs(flags.inputs, { preprocess: model.info.preprocess, expectDims: model.inputDims });
    if (flags.limit !== undefined) inputs = inputs.slice(0, parsePositive(flags.limit, '--limit', true));
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: 'compare [{bar}] {value}/{total} inputs  {eta_formatted} left', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(inputs.length, 0);
    let report: CompareReport;
    try {
      report = await compare(model, inputs, { onProgress: (done) => bar.update(done) });
    } finally {
      bar.stop();
    }
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatCompare(report));
  });
}

function formatCompare(r: CompareReport): string {
  const pct = (v: number): string => `${(v * 100).toFixed(2)} %`;
  const lines = [
    `inputs: ${r.count}   top-1 agreement with onnxruntime fp32: ${pct(r.top1Agreement)}`,
    `max |Δlogit|: ${r.maxAbsLogitError.toPrecision(4)}   relative to max |logit|: ${pct(r.maxRelLogitError)}`,
  ];
  if (r.accuracy) lines.push(`accuracy: fp32 ${pct(r.accuracy.float)}   slalom ${pct(r.accuracy.slalom)}`);
  lines.push('', table(['linear layer', 'max |Δ|', 'max |fp32|', 'drift'], r.layers.map((l) => [l.name, l.maxAbsError.toPrecision(3), l.maxAbsReference.toPrecision(3), pct(l.relativeDrift)])), '');
  return lines.join('\n');
}
