/** `slalom zoo <name> --out f.onnx`: writes an architecture-faithful model with seeded random weights. */
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../errors.js';
import { buildZooModel, isZooModelName, ZOO_MODELS } from '../../zoo/index.js';
import { parsePositive } from '../options.js';

export async function run(name: string, flags: { out: string; seed: string }): Promise<void> {
  if (!isZooModelName(name)) throw new InvalidArgumentError(`unknown zoo model '${name}'; choose one of ${ZOO_MODELS.join(', ')}`);
  const bytes = buildZooModel(name, { seed: parsePositive(flags.seed, '--seed', true) });
  writeFileSync(flags.out, bytes);
  process.stderr.write(`wrote ${name} (${(bytes.length / 2 ** 20).toFixed(1)} MiB) to ${flags.out}\n`);
}
