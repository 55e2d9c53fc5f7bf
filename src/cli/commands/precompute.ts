/** `slalom precompute --model m.onnx --count N --store <dir>`: the offline phase, with a progress bar. */
import cliProgress from 'cli-progress';
import { PadStore } from '../../blind/pad-store.js';
import { TrustedState } from '../../blind/trusted-state.js';
import { createExactKernels } from '../../kernels/exact-linear.js';
import { precomputePads } from '../../runtime/precompute.js';
import { formatMs } from '../format.js';
import { loadModelFromFlags, parseKernels, parsePositive, trustedStateOptions, type ModelFlags } from '../options.js';

interface PrecomputeFlags extends ModelFlags {
  model: string;
  count: string;
  store: string;
  state?: string;
  monotonicCounter?: string;
  kernels: string;
  json?: boolean;
}

export async function run(flags: PrecomputeFlags): Promise<void> {
  const count = parsePositive(flags.count, '--count', true);
  const model = await loadModelFromFlags(flags.model, flags);
  const state = TrustedState.open(flags.state, trustedStateOptions(flags));
  const kernels = await createExactKernels(parseKernels(flags.kernels));
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'precompute [{bar}] {value}/{total} pads  {rate} pads/s  ETA {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(count, 0, { rate: '0.00' });
  const start = performance.now();
  let result;
  try {
    result = await precomputePads(model.quantized, model, state, new PadStore(flags.store), count, kernels, ({ done }) =>
      bar.update(done, { rate: (done / ((performance.now() - start) / 1000)).toFixed(2) }),
    );
  } finally {
    bar.stop();
    await kernels.close();
  }
  const perPadMs = result.ms / count;
  const report = { model: model.name, storeId: result.storeId, from: result.from, to: result.to, pads: count, ms: result.ms, padsPerSecond: 1000 / perPadMs, bytesPerInference: result.bytesPerInference };
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    process.stdout.write(
      `precomputed pads ${result.from}…${result.to - 1} for ${model.name} in ${formatMs(result.ms)} ` +
        `(${report.padsPerSecond.toFixed(2)} pads/s, ${formatMs(perPadMs)} per inference, ${(result.bytesPerInference / 2 ** 20).toFixed(2)} MiB per inference)\n`,
    );
  }
}
