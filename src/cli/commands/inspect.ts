/** `slalom inspect <model.onnx> [--json]`: the per-layer table and totals. */
import { inspect, type InspectReport } from '../../api/inspect.js';
import { formatDims } from '../../tensor/tensor.js';
import { loadModelFromFlags, parseVerifyFlags, type ModelFlags } from '../options.js';
import { formatCount, table } from '../format.js';

export async function run(path: string, flags: ModelFlags & { json?: boolean; check: string; repetitions?: string; soundnessBits: string }): Promise<void> {
  const verify = parseVerifyFlags(flags);
  const report = inspect(await loadModelFromFlags(path, flags), { variant: verify.variant, repetitions: verify.repetitions, soundnessBits: verify.soundnessBits });
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatInspect(report));
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
    `boundary pass: ${r.boundary}`,
    '',
  ].join('\n');
}
