/**
 * The committed decoder (models/fortunes-gpt.onnx, trained by scripts/train_decoder.py on Debian's
 * fortunes), end to end: 64 sampled tokens streamed in private+verified are baseline's, bit for bit,
 * with the same seed, one pad per token fed; on held-out text its next-token top-1 agrees with
 * onnxruntime fp32's and its perplexity is within 2 % (a short version of scripts/decoder-fidelity.ts);
 * its tokenizer refuses a character it does not know.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createSession, type StreamedToken } from '../../src/api/session.js';
import { hasErrorCode } from '../../src/errors.js';
import { scoreTokens } from '../../src/generate/generation.js';
import { createDecoderSession } from '../../src/reference/ort-decoder.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { trustedProtocol } from '../../src/runtime/protocols/trusted.js';
import { tensor } from '../../src/tensor/tensor.js';

const MODEL = 'models/fortunes-gpt.onnx';
const PROMPT = 'A fool and his money';

describe('fortunes-gpt', async () => {
  const model = await SlalomModel.load(MODEL);
  const tokenizer = model.tokenizer!;

  it('streams 64 tokens in private+verified, bit-identical to baseline with the same seed', async () => {
    const options = { maxTokens: 64, temperature: 0.8, seed: 11 };
    const base = await createSession(model, { mode: 'baseline' });
    const expected = await base.generate(PROMPT, options);
    await base.close();
    const s = await createSession(model, { mode: 'private+verified', pads: { source: 'memory', capacity: 16 } });
    const streamed: StreamedToken[] = [];
    const stream = s.stream(PROMPT, options);
    let next = await stream.next();
    for (; !next.done; next = await stream.next()) streamed.push(next.value);
    const result = next.value;
    await s.close();
    assert.equal(streamed.length, 64);
    assert.deepEqual(streamed.map((t) => t.token), expected.sequences[0]!.tokens);
    assert.equal(streamed.map((t) => t.text).join(''), expected.texts![0]);
    assert.deepEqual(result.sequences, expected.sequences);
    assert.equal(result.pads!.indices.length, PROMPT.length + 63);
    assert.ok(result.steps.every((step) => step.layers.every((l) => l.ran === 'accelerator+freivalds')));
  });

  it('follows onnxruntime fp32 on held-out text: top-1 agreement ≥ 99 %, perplexity within 2 %', async () => {
    const ids = tokenizer.encode(readFileSync('models/fortunes-gpt.heldout.txt', 'utf8'));
    const { vocab, maxPositions } = model.decoder!.config;
    const ort = await createDecoderSession(readFileSync(MODEL));
    const { heads, headDim, layers } = model.decoder!.config;
    let agree = 0;
    let n = 0;
    const nll = [0, 0];
    try {
      for (let w = 0; w < 3; w++) {
        const window = ids.slice(w * maxPositions, (w + 1) * maxPositions + 1);
        const input = window.slice(0, maxPositions);
        const feeds = new Map([
          ['input_ids', tensor([1, input.length], input)],
          ['position_ids', tensor([1, input.length], input.map((_, i) => i))],
        ]);
        for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) feeds.set(`past_${kv}_${l}`, tensor([1, heads, 0, headDim], []));
        const theirs = (await ort.run(feeds)).get('logits')!.data;
        const ours = (await scoreTokens(model, trustedProtocol(), input)).data;
        for (let t = 0; t < input.length; t++) {
          const [a, b] = [ours.subarray(t * vocab, (t + 1) * vocab), theirs.subarray(t * vocab, (t + 1) * vocab)];
          if (argmax(a) === argmax(b)) agree++;
          nll[0] -= logSoftmaxAt(a, window[t + 1]!);
          nll[1] -= logSoftmaxAt(b, window[t + 1]!);
          n++;
        }
      }
    } finally {
      await ort.close();
    }
    assert.ok(agree / n >= 0.99, `top-1 agreement ${agree}/${n}`);
    const [ours, theirs] = nll.map((v) => Math.exp(v / n));
    assert.ok(Math.abs(ours! / theirs! - 1) < 0.02, `perplexity ${ours} vs ${theirs}`);
  });

  it('its tokenizer round-trips text and refuses an unknown character', () => {
    assert.equal(tokenizer.decode(tokenizer.encode(PROMPT)), PROMPT);
    assert.throws(() => tokenizer.encode('naïve'), (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG') && /"ï" at position 2 is not in the model's vocabulary of 96 characters/.test((e as Error).message));
  });
});

function argmax(v: Float64Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

function logSoftmaxAt(v: Float64Array, i: number): number {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (const x of v) sum += Math.exp(x - max);
  return v[i]! - max - Math.log(sum);
}
