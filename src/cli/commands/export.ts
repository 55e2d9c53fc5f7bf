/**
 * `slalom export --model m.onnx --out repo/`: writes a Triton-style model repository with one exact
 * ONNX model per linear layer (accel/http/export.ts), for `slalom accelerator serve --model-repository`
 * or any onnxruntime-backed inference server.
 */
import { exportModelRepository, type ExportableModel } from '../../accel/http/export.js';
import { publicLayers } from '../../runtime/session.js';
import type { SlalomModel } from '../../runtime/model.js';
import { loadModelFromFlags, type ModelFlags } from '../options.js';

interface ExportFlags extends ModelFlags {
  model: string;
  out: string;
  json?: boolean;
}

/** The public view of a loaded model that the exporter needs: its layers with their input dims. */
export function exportableModel(model: SlalomModel): ExportableModel {
  const dims = new Map(model.quantized.layers.map((l) => [l.index, l.inDims]));
  return {
    name: model.name,
    modelHash: model.weightsHash,
    layers: publicLayers(model.quantized).map((l) => ({ ...l, inDims: dims.get(l.id) })),
  };
}

export async function run(flags: ExportFlags): Promise<void> {
  const model = await loadModelFromFlags(flags.model, flags);
  const index = exportModelRepository(exportableModel(model), flags.out);
  if (flags.json) process.stdout.write(`${JSON.stringify(index)}\n`);
  else {
    process.stdout.write(`exported ${index.layers.length} linear layers of ${index.model} (model id ${index.modelId}) to ${flags.out}\n`);
    for (const d of index.details) process.stdout.write(`  ${d.model}  ${d.op} ${d.layer}  x [${d.inputDims.join(', ')}] → y [${d.outputDims.join(', ')}]\n`);
  }
}
