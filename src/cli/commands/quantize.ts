/**
 * `slalom quantize --model m.onnx --calibration <dir|.npy|images> --out m.slalom`: calibrate once and
 * write the quantized artifact (quant/artifact.ts) that every other command loads in a fraction of
 * the time, without onnxruntime and without the float weights.
 */
import { InvalidArgumentError } from '../../errors.js';
import { isArtifactFile } from '../../runtime/model.js';
import { formatMs } from '../format.js';
import { loadModelFromFlags, type ModelFlags } from '../options.js';

interface QuantizeFlags extends ModelFlags {
  model: string;
  out: string;
  includeOnnx?: boolean;
  json?: boolean;
}

export async function run(flags: QuantizeFlags): Promise<void> {
  if (isArtifactFile(flags.model)) throw new InvalidArgumentError(`${flags.model} is a quantized artifact already: quantize the ONNX model it came from`);
  const start = performance.now();
  const model = await loadModelFromFlags(flags.model, flags);
  const bytes = model.save(flags.out, { includeOnnx: flags.includeOnnx === true });
  const ms = performance.now() - start;
  const { calibration, margin } = model.provenance;
  const report = {
    model: model.name,
    out: flags.out,
    bytes,
    linearLayers: model.quantized.layers.length,
    inputs: model.inputs,
    calibration,
    margin,
    modelHash: model.modelHash,
    weightsHash: model.weightsHash,
    includesOnnx: flags.includeOnnx === true,
    ms,
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    process.stdout.write(
      `quantized ${model.name} (${report.linearLayers} linear layers, input ${model.inputs.map((i) => `${i.name} [${i.dims.join(', ')}]`).join(', ')}) ` +
        `on ${calibration.samples} calibration input(s) from ${calibration.source}, margin ${margin}\n` +
        `wrote ${flags.out}: ${(bytes / 2 ** 20).toFixed(2)} MiB${report.includesOnnx ? ' (with the ONNX file)' : ''}, weights hash ${model.weightsHash.slice(0, 16)}…, in ${formatMs(ms)}\n`,
    );
  }
}
