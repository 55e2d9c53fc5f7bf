/** `slalom inspect <model.onnx> [--json]`: the per-layer table and totals. */
import type { Command } from 'commander';
import { inspect, type InspectReport } from '../../api/inspect.js';
import { formatDims } from '../../tensor/tensor.js';
import { addModelFlags, loadModelFromFlags, type ModelFlags } from '../options.js';
import { formatCount, table } from '../format.js';

export function registerInspect(program: Command): void {
  addModelFlags(
    program
      .command('inspect')
      .description('per-layer table: op, shapes, MACs, parameters, scales, outsourced or trusted; totals')
      .argument('<model>', 'ONNX model file')
      .option('--json', 'print one JSON object'),
  ).action(async (path: string, flags: ModelFlags & { json?: boolean }) => {
    const report = inspect(await loadModelFromFlags(path, flags));
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
    l.placement,
  ]);
  return [
    `${r.model}  input ${formatDims(r.inputDims)}  sha256 ${r.modelHash.slice(0, 16)}…`,
    table(['layer', 'op', 'input', 'output', 'MACs', 'params', 'scale x / w', 'runs'], rows),
    `linear layers: ${r.linearLayers}   MACs: ${formatCount(r.macs)}   params: ${formatCount(r.params)}`,
    `Σ linear inputs: ${formatCount(r.linearInputElements)} elements   Σ linear outputs: ${formatCount(r.linearOutputElements)} elements`,
    '',
  ].join('\n');
}
