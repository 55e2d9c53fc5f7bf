/** `slalom precompute --model m.onnx --count N --store <dir>`: the offline phase, with a progress bar. */
import cliProgress from 'cli-progress';
import { PadStore } from '../../blind/pad-store.js';
import { TrustedState } from '../../blind/trusted-state.js';
import { createExactKernels } from '../../kernels/exact-linear.js';
import { precomputePads } from '../../runtime/precompute.js';
import { formatMs } from '../format.js';
import { loadModelFromFlags, parseKernels, parsePositive, trustedStateOptions, type ModelFlags } from '../options.js';
import { showProgress } from '../progress.js';

interface PrecomputeFlags extends ModelFlags {
  model: string;
  count: string;
  store: string;
  state?: string;
  monotonicCounter?: string;
  kernels: string;
  json?: boolean;
}

/** Resolves with the exit status: 0, or 130 when a signal stopped it early. */
export async function run(flags: PrecomputeFlags): Promise<number> {
  const count = parsePositive(flags.count, '--count', true);
  const model = await loadModelFromFlags(flags.model, flags);
  const state = TrustedState.open(flags.state, trustedStateOptions(flags));
  const kernels = await createExactKernels(parseKernels(flags.kernels));
  // Ctrl-C (or SIGTERM) stops after the pad being written, so the run can say what it saved; a second one exits at once.
  // The handlers are in place before the bar hides the cursor.
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) {
      progress.stop();
      process.exit(130);
    }
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = precomputeProgress(flags, count);
  let result;
  try {
    result = await precomputePads(model.quantized, model, state, new PadStore(flags.store), count, kernels, ({ done }) => progress.update(done), stop.signal);
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await kernels.close();
  }
  const saved = result.to - result.from;
  if (result.interrupted === true) {
    process.stderr.write(`interrupted: saved ${saved} pads${saved > 0 ? ` (indices ${result.from}..${result.to - 1})` : ''} of ${count}; they are usable, and \`slalom precompute\` again adds more\n`);
    return 130;
  }
  const perPadMs = result.ms / count;
  const report = { model: model.name, storeId: result.storeId, from: result.from, to: result.to, pads: count, ms: result.ms, padsPerSecond: 1000 / perPadMs, bytesPerInference: result.bytesPerInference };
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    // A decoder's pad covers one token fed to it (prompt tokens included), not a whole inference.
    const unit = model.decoder !== undefined ? 'token' : 'inference';
    process.stdout.write(
      `precomputed pads ${result.from}…${result.to - 1} for ${model.name} in ${formatMs(result.ms)} ` +
        `(${report.padsPerSecond.toFixed(2)} pads/s, ${formatMs(perPadMs)} per ${unit}, ${(result.bytesPerInference / 2 ** 20).toFixed(2)} MiB per ${unit})\n`,
    );
  }
  return 0;
}

/**
 * The precompute progress on stderr: a bar on a terminal (or with --progress), else a plain line per
 * tenth of the run (a log file or a pipe gets no bar's control characters); none with --no-progress
 * or --json.
 */
function precomputeProgress(flags: PrecomputeFlags, count: number): { update(done: number): void; stop(): void } {
  const start = performance.now();
  const rate = (done: number): string => (done / ((performance.now() - start) / 1000)).toFixed(2);
  if (showProgress(flags)) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: 'precompute [{bar}] {value}/{total} pads  {rate} pads/s  ETA {eta_formatted}', hideCursor: true, noTTYOutput: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(count, 0, { rate: '0.00' });
    let running = true;
    return {
      update: (done) => bar.update(done, { rate: rate(done) }),
      // cli-progress shows the cursor again on stop.
      stop: () => {
        if (running) bar.stop();
        running = false;
      },
    };
  }
  if (flags.progress === false || flags.json === true) return { update() {}, stop() {} };
  let shown = 0;
  return {
    update(done) {
      const tenth = Math.floor((10 * done) / count);
      if (tenth === shown && done !== count) return;
      shown = tenth;
      process.stderr.write(`precompute: ${done}/${count} pads, ${rate(done)} pads/s\n`);
    },
    stop() {},
  };
}
