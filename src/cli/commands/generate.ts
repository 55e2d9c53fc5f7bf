/**
 * `slalom generate --model m.onnx|m.slalom --prompt <text> [--mode …] [--max-tokens 64] [--json]`:
 * token-by-token generation with a decoder (generate/generation.ts) through a session, so the mode
 * printed is the mode that ran. One prompt streams its tokens to stdout as each step is accepted;
 * several prompts (--prompt repeated, or --tokens) are batched into one request per layer per step
 * and printed when done. A caught lie ends the command with exit 4 and no further token.
 */
import type { AcceleratorBackend } from '../../accel/backend.js';
import { createSession, type GenerateResult, type Prompt } from '../../api/session.js';
import { EXIT_CODES, InvalidArgumentError } from '../../errors.js';
import { attentionPlaceFor } from '../../runtime/attention-offload.js';
import { isMode, MODES, type Mode } from '../../runtime/modes.js';
import { formatMs } from '../format.js';
import { acceleratorFromFlags, loadModelFromFlags, parsePositive, sessionOptionsFromFlags, type ModelFlags, type SessionFlags } from '../options.js';

interface GenerateFlags extends ModelFlags, SessionFlags {
  model: string;
  prompt?: string[];
  tokens?: string[];
  mode: string;
  maxTokens: string;
  temperature: string;
  topK?: string;
  seed: string;
  json?: boolean;
}

export async function run(flags: GenerateFlags): Promise<number> {
  if (!isMode(flags.mode)) throw new InvalidArgumentError(`--mode must be one of ${MODES.join(', ')}, got '${flags.mode}'`);
  const mode: Mode = flags.mode;
  attentionPlaceFor(mode, flags.attention);
  const prompts: Prompt[] = [...(flags.prompt ?? []), ...(flags.tokens ?? []).map(parseTokenIds)];
  if (prompts.length === 0) throw new InvalidArgumentError('give a prompt: --prompt <text> (a model with a tokenizer) or --tokens <id,id,…>');
  const maxTokens = parsePositive(flags.maxTokens, '--max-tokens', true);
  const temperature = Number(flags.temperature);
  const topK = flags.topK === undefined ? undefined : parsePositive(flags.topK, '--top-k', true);
  const seed = Number(flags.seed);
  if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`--seed must be an integer, got '${flags.seed}'`);
  const model = await loadModelFromFlags(flags.model, flags);
  if (model.decoder === undefined) throw new InvalidArgumentError(`${model.name} is not a decoder (it takes no input_ids): use \`slalom infer\``);
  const outsourcing: { accelerator?: AcceleratorBackend } = mode === 'baseline' ? {} : await acceleratorFromFlags(flags, model);
  const session = await createSession(model, { mode, ...sessionOptionsFromFlags(flags), ...outsourcing });
  const stream = !flags.json && prompts.length === 1;
  const tokenizer = model.tokenizer;
  let result: GenerateResult;
  try {
    if (stream) process.stdout.write(typeof prompts[0] === 'string' ? prompts[0] : '');
    result = await session.generate(prompts, {
      maxTokens,
      temperature,
      seed,
      ...(topK !== undefined ? { topK } : {}),
      ...(stream ? { onToken: (e) => process.stdout.write(tokenizer !== undefined ? tokenizer.decode([e.token]) : `${e.index === 0 ? '' : ' '}${e.token}`) } : {}),
    });
  } finally {
    await session.close();
  }
  if (stream) process.stdout.write('\n');
  if (flags.json) process.stdout.write(`${JSON.stringify(generateJson(model.name, result))}\n`);
  else process.stderr.write(formatSummary(result, stream));
  // A generation cut short by an empty pad source printed what it had; its exit status says so.
  return result.sequences.some((s) => s.finish === 'no-pads') ? EXIT_CODES.SLALOM_ERR_PADS_EXHAUSTED : 0;
}

function parseTokenIds(list: string): number[] {
  const ids = list.split(',').map((s) => Number(s.trim()));
  if (ids.some((t) => !Number.isSafeInteger(t) || t < 0)) throw new InvalidArgumentError(`--tokens takes comma-separated token ids, got '${list}'`);
  return ids;
}

function generateJson(model: string, r: GenerateResult): object {
  return {
    model,
    mode: r.mode,
    ...(r.insecure ? { insecure: true } : {}),
    sequences: r.sequences.map((s, k) => ({ ...s, ...(r.texts !== undefined ? { text: r.texts[k] } : {}) })),
    steps: r.steps.length,
    tokensFed: r.steps.reduce((a, s) => a + s.tokens, 0),
    ...(r.pads !== undefined ? { pads: r.pads } : {}),
    ...(r.verification !== undefined ? { verification: r.verification } : {}),
    ...(r.incidents.length > 0 ? { incidents: r.incidents } : {}),
    timings: r.timings,
    trustedMs: r.trustedMs,
    acceleratorMs: r.acceleratorMs,
    wallMs: r.wallMs,
  };
}

function formatSummary(r: GenerateResult, streamed: boolean): string {
  const lines: string[] = [];
  if (!streamed) r.sequences.forEach((s, k) => lines.push(`[${k}] ${r.texts?.[k] ?? s.tokens.join(' ')}`));
  const generated = r.sequences.reduce((a, s) => a + s.tokens.length, 0);
  const finishes = [...new Set(r.sequences.map((s) => s.finish))].join(', ');
  lines.push(`mode ${r.mode}: ${generated} token(s) in ${r.steps.length} step(s), ${formatMs(r.wallMs)} (${formatMs(r.wallMs / Math.max(1, generated))} per token); trusted ${formatMs(r.trustedMs)}, accelerator ${formatMs(r.acceleratorMs)}; finish: ${finishes}`);
  if (r.pads !== undefined) lines.push(`pads: ${r.pads.indices.length} (one per token fed), ${r.pads.source} ${r.pads.id.slice(0, 12)}`);
  if (r.verification !== undefined) lines.push(`verified: ${r.verification.variant} Freivalds, k = ${r.verification.repetitions}, ≤ 2^${r.verification.soundnessLog2PerInference.toFixed(1)} per step`);
  for (const i of r.incidents) lines.push(`WARNING ${i.layer}: ${i.message}`);
  return `${lines.join('\n')}\n`;
}
