/**
 * Progress bars for the long phases (loading, calibration, comparison, precomputation), with
 * cli-progress on stderr: shown on a terminal, or anywhere with `--progress`; never with `--json`
 * unless `--progress` asks for it (the JSON on stdout stays clean either way).
 */
import cliProgress from 'cli-progress';
import type { LoadProgress } from '../runtime/model.js';

export interface ProgressFlags {
  progress?: boolean;
  json?: boolean;
}

/** Whether to draw bars: `--progress` / `--no-progress` win; else on a terminal and without `--json`. */
export function showProgress(flags: ProgressFlags): boolean {
  return flags.progress ?? (process.stderr.isTTY === true && !flags.json);
}

export interface Bar {
  start(total: number, label: string): void;
  update(done: number): void;
  stop(): void;
}

/** One bar whose label and total can change between phases; a no-op when not shown. */
export function progressBar(flags: ProgressFlags, format = '{label} [{bar}] {value}/{total}  {eta_formatted} left'): Bar {
  if (!showProgress(flags)) return { start() {}, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format, hideCursor: true, noTTYOutput: true, notTTYSchedule: 2000, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  // A bar hides the cursor: a Ctrl-C while it runs (and nothing else handles the signal) shows it
  // again before the process dies of the signal as it would have.
  const onSignal = (signal: NodeJS.Signals): void => {
    bar.stop();
    process.kill(process.pid, signal);
  };
  const watch = (on: boolean): void => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      if (!on) process.off(signal, onSignal);
      else if (process.listenerCount(signal) === 0) process.once(signal, onSignal);
    }
  };
  return {
    start(total, label) {
      if (running) bar.stop();
      watch(true);
      bar.start(total, 0, { label });
      running = true;
    },
    update(done) {
      if (running) bar.update(done);
    },
    stop() {
      if (running) bar.stop();
      running = false;
      watch(false);
    },
  };
}

const PHASES: Readonly<Record<LoadProgress['phase'], string>> = {
  read: 'reading the artifact (MiB)',
  import: 'importing the ONNX model',
  calibrate: 'calibrating on onnxruntime (inputs)',
  quantize: 'quantizing',
};

/** A `LoadOptions.onProgress` that drives a bar through the load's phases. */
export function loadProgress(bar: Bar): (p: LoadProgress) => void {
  let phase: LoadProgress['phase'] | undefined;
  return (p) => {
    const scale = p.phase === 'read' ? 2 ** 20 : 1;
    if (p.phase !== phase) {
      phase = p.phase;
      bar.start(Math.max(1, Math.round(p.total / scale)), PHASES[p.phase]);
    }
    bar.update(Math.round(p.done / scale));
  };
}
