/** `slalom infer --model m.onnx --input <image|.npy> [--mode …] [--json]`: top-k predictions and timings. */
import type { Command } from 'commander';
import type { AcceleratorBackend } from '../../accel/backend.js';
import { topK } from '../../api/predictions.js';
import { InvalidArgumentError } from '../../errors.js';
import { loadInputTensor } from '../../io/image.js';
import { isMode, MODES, type Mode } from '../../runtime/modes.js';
import { openProtocol } from '../../runtime/session.js';
import { formatMs } from '../format.js';
import { acceleratorFromFlags, addModelFlags, addSessionFlags, loadModelFromFlags, parsePositive, sessionOptionsFromFlags, type ModelFlags, type SessionFlags } from '../options.js';

interface InferFlags extends ModelFlags, SessionFlags {
  model: string;
  input: string;
  mode: string;
  json?: boolean;
  top: string;
}

export function registerInfer(program: Command): void {
  const cmd = addModelFlags(
    program
      .command('infer')
      .description('run one inference and print the top predictions and per-phase timings')
      .requiredOption('--model <file>', 'ONNX model file')
      .requiredOption('--input <file>', 'a PNG/JPEG image (resized, cropped, normalized) or a .npy tensor')
      .option('--mode <mode>', `one of ${MODES.join(', ')}`, 'baseline')
      .option('--top <k>', 'how many predictions to print', '5')
      .option('--json', 'print one JSON object'),
  );
  addSessionFlags(cmd).action(async (flags: InferFlags) => {
    if (!isMode(flags.mode)) throw new InvalidArgumentError(`--mode must be one of ${MODES.join(', ')}, got '${flags.mode}'`);
    const mode: Mode = flags.mode;
    const k = parsePositive(flags.top, '--top', true);
    const loadStart = performance.now();
    const model = await loadModelFromFlags(flags.model, flags);
    const loadMs = performance.now() - loadStart;
    const input = loadInputTensor(flags.input, { preprocess: model.info.preprocess, expectDims: model.inputDims });
    const outsourcing: { accelerator?: AcceleratorBackend } = mode === 'baseline' ? {} : await acceleratorFromFlags(flags, model);
    const accelerator = outsourcing.accelerator === undefined ? undefined : { backend: outsourcing.accelerator.name, ...(outsourcing.accelerator.device ? { device: outsourcing.accelerator.device } : {}) };
    const protocol = await openProtocol(model, mode, { ...sessionOptionsFromFlags(flags), ...outsourcing });
    let result;
    const start = performance.now();
    try {
      result = await model.infer(input, { mode, protocol });
    } finally {
      await protocol.close?.();
    }
    const totalMs = performance.now() - start;
    const top = topK(result.logits, Math.min(k, result.logits.length), model.info.labels);
    const timings = { load: loadMs, ...result.timings, total: totalMs };
    const incidents = protocol.incidents ?? [];
    const soundness = protocol.verifier?.soundnessLog2PerInference;
    if (flags.json) {
      const out = {
        model: model.name,
        mode,
        ...(result.insecure ? { insecure: true } : {}),
        logits: Array.from(result.logits),
        top,
        timings,
        trustedMs: result.trustedMs,
        acceleratorMs: result.acceleratorMs,
        ...(accelerator ? { accelerator } : {}),
        ...(protocol.verifier ? { verification: { variant: protocol.verifier.variant, repetitions: protocol.verifier.repetitions, soundnessLog2PerInference: soundness } } : {}),
        ...(incidents.length ? { incidents } : {}),
        layers: result.layers,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
      return;
    }
    const lines = [`${model.name}  mode ${mode}${result.insecure ? '  (INSECURE: no checks, accelerator sees plaintext — for measurement only)' : ''}`];
    for (const p of top) lines.push(`  ${String(p.index).padStart(4)}  ${(p.score * 100).toFixed(2).padStart(6)} %  ${p.label ?? ''}`);
    lines.push(`timings: ${Object.entries(timings).map(([phase, ms]) => `${phase} ${formatMs(ms)}`).join(', ')}`);
    lines.push(`trusted runtime ${formatMs(result.trustedMs)}, accelerator ${formatMs(result.acceleratorMs)}`);
    if (accelerator) lines.push(`accelerator: ${accelerator.backend}${accelerator.device ? ` — ${accelerator.device}` : ''}`);
    if (protocol.verifier) {
      const v = protocol.verifier;
      lines.push(`verified: ${v.variant} Freivalds, k = ${v.repetitions}, a wrong result goes undetected with probability ≤ 2^${soundness!.toFixed(1)} per inference`);
    }
    for (const i of incidents) lines.push(`WARNING ${i.layer}: ${i.message} — recomputed in the trusted runtime; accelerator distrusted for the rest of the run`);
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
