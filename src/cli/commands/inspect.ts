/** `slalom inspect <model.onnx> [--json]`: the per-layer table and totals. */
import type { Command } from 'commander';
import { inspect, type InspectReport } from '../../api/inspect.js';
import { formatDims } from '../../tensor/tensor.js';
import { CHECK_VARIANTS, DEFAULT_SOUNDNESS_BITS } from '../../verify/soundness.js';
import { addModelFlags, loadModelFromFlags, parseVerifyFlags, type ModelFlags } from '../options.js';
import { formatCount, table } from '../format.js';

export function registerInspect(program: Command): void {
  addModelFlags(
    program
      .command('inspect')
      .description('per-layer table: op, shapes, MACs, parameters, scales, outsourced or trusted; totals')
      .argument('<model>', 'ONNX model or quantized artifact (slalom quantize)')
      .option('--json', 'print one JSON object'),
  )
    .option('--check <variant>', `Freivalds variant whose cost and soundness to report: ${CHECK_VARIANTS.join(', ')}`, 'preprocessed')
    .option('--repetitions <k>', 'repetitions per check (default: the fewest that reach --soundness-bits)')
    .option('--soundness-bits <bits>', 'soundness target per inference', String(DEFAULT_SOUNDNESS_BITS))
    .action(async (path: string, flags: ModelFlags & { json?: boolean; check: string; repetitions?: string; soundnessBits: string }) => {
    const verify = parseVerifyFlags(flags);
    const report = inspect(await loadModelFromFlags(path, flags), { variant: verify.variant, repetitions: verify.repetitions, soundnessBits: verify.soundnessBits });
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatInspect(report));
  });
}

function formatInspect(r: InspectReport): string {
  const rows = r.layers.map((l) => [
    l.name,
    l.op,
    formatDims(l.inputDims),
    formatDims(l.outputDims),
    l.macs ? formatCount(l.macs) : '',
    l.params ? formatCount(l.params) : '',
    l.lx === undefined ? '' : `2^${l.lx} / 2^${l.lw}`,
    l.checkMults === undefined ? '' : `${formatCount(l.checkMults)} (${((100 * l.checkMults) / l.macs).toFixed(2)} %)`,
    l.placement,
  ]);
  return [
    `${r.model}  input ${formatDims(r.inputDims)}  sha256 ${r.modelHash.slice(0, 16)}…  (${r.format === 'artifact' ? 'quantized artifact' : 'ONNX'}; calibrated on ${r.calibration.samples} input(s) from ${r.calibration.source}, margin ${r.margin})`,
    table(['layer', 'op', 'input', 'output', 'MACs', 'params', 'scale x / w', 'check cost (of MACs)', 'runs'], rows),
    `linear layers: ${r.linearLayers}   MACs: ${formatCount(r.macs)}   params: ${formatCount(r.params)}`,
    `Σ linear inputs: ${formatCount(r.linearInputElements)} elements   Σ linear outputs: ${formatCount(r.linearOutputElements)} elements`,
    `verification: ${r.verification.variant} Freivalds, k = ${r.verification.repetitions}, ${formatCount(r.verification.checkMults)} multiplications ` +
      `(${((100 * r.verification.checkMults) / r.macs).toFixed(3)} % of the MACs); a wrong result passes an inference with probability ≤ 2^${r.soundnessLog2PerInference.toFixed(1)}`,
    '',
  ].join('\n');
}
