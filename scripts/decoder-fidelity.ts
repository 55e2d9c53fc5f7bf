/**
 * How closely slalom's quantized decoder follows onnxruntime fp32 on held-out text (the README's
 * fidelity numbers for models/fortunes-gpt.onnx):
 * - teacher forcing: over the held-out text in windows of the model's context, the share of positions
 *   where slalom's next-token top-1 equals onnxruntime's, and each one's perplexity of the true text;
 * - greedy continuations: from the first 32 characters of each held-out fortune, 64 greedy tokens by
 *   each; how many are identical, and where the others first differ.
 * slalom runs in `baseline` (every mode gives the same logits bit for bit: test/generate/).
 *
 *     npx tsx scripts/decoder-fidelity.ts [--model models/fortunes-gpt.onnx] [--prompts N] [--json out.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateTokens, scoreTokens } from '../src/generate/generation.js';
import { createDecoderSession, type DecoderSession } from '../src/reference/ort-decoder.js';
import { SlalomModel } from '../src/runtime/model.js';
import { trustedProtocol } from '../src/runtime/protocols/trusted.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'models/fortunes-gpt.onnx' }, heldout: { type: 'string' }, prompts: { type: 'string', default: '64' }, windows: { type: 'string' }, json: { type: 'string' } } });
const modelPath = values.model!;
const model = await SlalomModel.load(modelPath, { onProgress: (p) => process.stderr.write(`\rload: ${p.phase} ${p.done}/${p.total}   `) });
process.stderr.write('\n');
const tokenizer = model.tokenizer!;
const { maxPositions, vocab, heads, headDim, layers } = model.decoder!.config;
const text = readFileSync(values.heldout ?? modelPath.replace(/\.onnx$/, '.heldout.txt'), 'utf8');
const ids = tokenizer.encode(text);
const ort = await createDecoderSession(readFileSync(modelPath));
const protocol = trustedProtocol();

/** onnxruntime's logits [T, vocab] for tokens at positions start … start + T − 1 after `past` (its own present tensors). */
async function ortRun(session: DecoderSession, tokens: readonly number[], start: number, past: Map<string, Tensor> | undefined): Promise<{ logits: Tensor; present: Map<string, Tensor> }> {
  const feeds = new Map<string, Tensor>([
    ['input_ids', tensor([1, tokens.length], tokens)],
    ['position_ids', tensor([1, tokens.length], tokens.map((_, i) => start + i))],
  ]);
  for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) feeds.set(`past_${kv}_${l}`, past?.get(`present_${kv}_${l}`) ?? tensor([1, heads, 0, headDim], []));
  const out = await session.run(feeds);
  return { logits: out.get('logits')!, present: out };
}

const argmax = (v: Float64Array): number => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);
const logSoftmaxAt = (v: Float64Array, i: number): number => {
  const max = Math.max(...v);
  return v[i]! - max - Math.log(v.reduce((a, x) => a + Math.exp(x - max), 0));
};

// Teacher forcing over windows of the context (each window predicts its own next tokens).
let agree = 0;
let positions = 0;
let nllSlalom = 0;
let nllOrt = 0;
const windowCount = Math.min(Math.floor((ids.length - 1) / maxPositions), values.windows === undefined ? Infinity : Number(values.windows));
for (let w = 0; w < windowCount; w++) {
  const window = ids.slice(w * maxPositions, (w + 1) * maxPositions + 1);
  const input = window.slice(0, maxPositions);
  const ours = await scoreTokens(model, protocol, input);
  const theirs = (await ortRun(ort, input, 0, undefined)).logits;
  for (let t = 0; t < input.length; t++) {
    const a = ours.data.subarray(t * vocab, (t + 1) * vocab);
    const b = theirs.data.subarray(t * vocab, (t + 1) * vocab);
    if (argmax(a) === argmax(b)) agree++;
    nllSlalom -= logSoftmaxAt(a, window[t + 1]!);
    nllOrt -= logSoftmaxAt(b, window[t + 1]!);
    positions++;
  }
  process.stderr.write(`\rteacher forcing: window ${w + 1}/${windowCount}   `);
}
process.stderr.write('\n');

// Greedy continuations from the start of each held-out fortune.
const fortunes = text.split('\n%\n').filter((f) => f.length >= 32).slice(0, Number(values.prompts));
const prompts = fortunes.map((f) => tokenizer.encode(f.slice(0, 32)));
const CONTINUATION = 64;
const slalomRun = await generateTokens(model, protocol, prompts, { maxTokens: CONTINUATION });
let identical = 0;
const divergences: number[] = [];
for (const [k, prompt] of prompts.entries()) {
  const mine = slalomRun.sequences[k]!.tokens;
  const theirs: number[] = [];
  let step = await ortRun(ort, prompt, 0, undefined);
  for (;;) {
    const token = argmax(step.logits.data.subarray(step.logits.data.length - vocab));
    theirs.push(token);
    if (theirs.length === CONTINUATION) break;
    step = await ortRun(ort, [token], prompt.length + theirs.length - 1, step.present);
  }
  const first = theirs.findIndex((t, i) => t !== mine[i]);
  if (first < 0) identical++;
  else divergences.push(first);
  process.stderr.write(`\rgreedy continuations: ${k + 1}/${prompts.length}   `);
}
process.stderr.write('\n');
await ort.close();

const result = {
  model: modelPath,
  teacherForced: { positions, windows: windowCount, top1Agreement: agree / positions, perplexitySlalom: Math.exp(nllSlalom / positions), perplexityOrt: Math.exp(nllOrt / positions) },
  greedy: { prompts: prompts.length, tokens: CONTINUATION, identical, firstDivergence: divergences.sort((a, b) => a - b) },
};
const tf = result.teacherForced;
console.log(`teacher-forced next-token top-1 agreement with onnxruntime fp32: ${(100 * tf.top1Agreement).toFixed(2)} % of ${positions} positions`);
console.log(`perplexity of the held-out text: slalom ${tf.perplexitySlalom.toFixed(4)}, onnxruntime ${tf.perplexityOrt.toFixed(4)} (${(100 * (tf.perplexitySlalom / tf.perplexityOrt - 1)).toFixed(3)} %)`);
console.log(`${CONTINUATION}-token greedy continuations identical to onnxruntime's: ${identical} of ${prompts.length}${divergences.length > 0 ? `; the others first differ at token ${divergences.join(', ')}` : ''}`);
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
