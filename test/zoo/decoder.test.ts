/**
 * The zoo's GPT-2 style decoders (gpt-tiny; gpt2-small's full-size build only in its shape checks):
 * in onnxruntime fp32 the cache variant run with an empty past equals the cache-less variant; a prefill
 * then one step on the returned cache gives the full sequence's last logits; logits are causal; the
 * graph has the decoder contract's names, shapes and node forms; a seed fixes the bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto, type TypeProto_Tensor, type ValueInfoProto } from 'onnx-buf';
import ort from 'onnxruntime-node';
import { buildDecoder, decoderInputNames, decoderOutputNames, GPT2_SMALL, GPT_TINY, type DecoderConfig } from '../../src/zoo/decoder.js';
import { buildZooModel, ZOO_DECODERS } from '../../src/zoo/index.js';

const C = GPT_TINY;
const HEAD_DIM = C.d / C.heads;
const SEED = 7;
const TOKENS = [3, 17, 0, 39, 8, 22];

type Feeds = Record<string, ort.Tensor>;

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

/** input_ids and position_ids for `tokens` at positions past … past+len−1 (batch 1). */
function idFeeds(tokens: readonly number[], past: number): Feeds {
  return {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map((_, i) => BigInt(past + i))), [1, tokens.length]),
  };
}

function emptyCache(c: DecoderConfig): Feeds {
  const feeds: Feeds = {};
  for (const name of decoderInputNames(c, { withPast: true }).slice(2)) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, c.heads, 0, c.d / c.heads]);
  return feeds;
}

/** The present_* outputs of `out` as the next step's past_* feeds. */
function cacheFrom(out: ort.InferenceSession.OnnxValueMapType): Feeds {
  const feeds: Feeds = {};
  for (let i = 0; i < C.layers; i++) {
    feeds[`past_key_${i}`] = out[`present_key_${i}`]!;
    feeds[`past_value_${i}`] = out[`present_value_${i}`]!;
  }
  return feeds;
}

const logitsOf = (out: ort.InferenceSession.OnnxValueMapType): Float32Array => out['logits']!.data as Float32Array;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe(`${C.name} (${C.layers} blocks, d ${C.d}, ${C.heads} heads, vocab ${C.vocab}) in onnxruntime fp32`, () => {
  const withPast = buildDecoder(C, SEED, { withPast: true });
  const noPast = buildDecoder(C, SEED, { withPast: false });

  it('with an empty past equals the cache-less model, and returns the sequence as the cache', async () => {
    const [a, b] = [await session(withPast), await session(noPast)];
    try {
      const cached = await a.run({ ...idFeeds(TOKENS, 0), ...emptyCache(C) });
      const plain = await b.run(idFeeds(TOKENS, 0));
      assert.deepEqual(cached['logits']!.dims, [1, TOKENS.length, C.vocab]);
      assert.deepEqual(plain['logits']!.dims, [1, TOKENS.length, C.vocab]);
      assert.ok(maxAbsDiff(logitsOf(cached), logitsOf(plain)) < 1e-6);
      for (const name of decoderOutputNames(C, { withPast: true }).slice(1)) assert.deepEqual(cached[name]!.dims, [1, C.heads, TOKENS.length, HEAD_DIM], name);
      const spread = logitsOf(plain).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(spread > 0.1 && spread < 20, `max |logit| = ${spread}`);
    } finally {
      await a.release();
      await b.release();
    }
  });

  it('a 5-token prefill, then one step on the returned cache, gives the 6-token sequence\'s last logits', async () => {
    const s = await session(withPast);
    try {
      const full = logitsOf(await s.run({ ...idFeeds(TOKENS, 0), ...emptyCache(C) }));
      const prefill = await s.run({ ...idFeeds(TOKENS.slice(0, 5), 0), ...emptyCache(C) });
      assert.ok(maxAbsDiff(logitsOf(prefill), full.subarray(0, 5 * C.vocab)) < 1e-5, 'prefill logits');
      const step = await s.run({ ...idFeeds(TOKENS.slice(5), 5), ...cacheFrom(prefill) });
      assert.deepEqual(step['logits']!.dims, [1, 1, C.vocab]);
      assert.deepEqual(step['present_key_0']!.dims, [1, C.heads, 6, HEAD_DIM]);
      assert.ok(maxAbsDiff(logitsOf(step), full.subarray(5 * C.vocab)) < 1e-5, 'step logits');
      // A multi-token chunk against a non-empty cache masks within the chunk too (query i sees keys ≤ past + i).
      const head = await s.run({ ...idFeeds(TOKENS.slice(0, 2), 0), ...emptyCache(C) });
      const chunk = await s.run({ ...idFeeds(TOKENS.slice(2), 2), ...cacheFrom(head) });
      assert.ok(maxAbsDiff(logitsOf(chunk), full.subarray(2 * C.vocab)) < 1e-5, 'chunk logits');
    } finally {
      await s.release();
    }
  });

  it('is causal: a later token changes no earlier logit, and does change its own', async () => {
    const s = await session(noPast);
    try {
      const a = logitsOf(await s.run(idFeeds(TOKENS, 0)));
      const b = logitsOf(await s.run(idFeeds([...TOKENS.slice(0, 4), 1, TOKENS[5]!], 0)));
      assert.deepEqual(Array.from(b.subarray(0, 4 * C.vocab)), Array.from(a.subarray(0, 4 * C.vocab)));
      assert.ok(maxAbsDiff(a.subarray(4 * C.vocab), b.subarray(4 * C.vocab)) > 1e-3);
    } finally {
      await s.release();
    }
  });

  it('batches: two sequences in one run give each one\'s own logits', async () => {
    const s = await session(noPast);
    try {
      const other = [5, 5, 12, 30, 1, 2];
      const one = logitsOf(await s.run(idFeeds(TOKENS, 0)));
      const two = logitsOf(await s.run(idFeeds(other, 0)));
      const both = await s.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from([...TOKENS, ...other].map(BigInt)), [2, 6]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5].map(BigInt)), [2, 6]),
      });
      const n = 6 * C.vocab;
      assert.ok(maxAbsDiff(logitsOf(both).subarray(0, n), one) < 1e-6);
      assert.ok(maxAbsDiff(logitsOf(both).subarray(n), two) < 1e-6);
    } finally {
      await s.release();
    }
  });
});

describe('decoder graph', () => {
  const model = (bytes: Uint8Array): ModelProto => fromBinary(ModelProtoSchema, bytes);
  const dimsOf = (v: ValueInfoProto): (string | number)[] => {
    const t = v.type!.value.value as TypeProto_Tensor;
    return t.shape!.dim.map((d) => (d.value.case === 'dimParam' ? d.value.value : Number(d.value.value)));
  };

  it('has the contract\'s inputs, outputs, opset 17 and node forms', () => {
    const m = model(buildDecoder(C, SEED, { withPast: true }));
    const g = m.graph!;
    assert.equal(Number(m.opsetImport[0]!.version), 17);
    assert.deepEqual(g.input.map((i) => i.name), ['input_ids', 'position_ids', 'past_key_0', 'past_value_0', 'past_key_1', 'past_value_1']);
    assert.deepEqual(g.output.map((o) => o.name), ['logits', 'present_key_0', 'present_value_0', 'present_key_1', 'present_value_1']);
    assert.deepEqual(dimsOf(g.input[0]!), ['batch', 'seq']);
    assert.deepEqual(dimsOf(g.input[2]!), ['batch', C.heads, 'past', HEAD_DIM]);
    assert.deepEqual(dimsOf(g.output[0]!), ['batch', 'seq', C.vocab]);
    const count = (op: string): number => g.node.filter((n) => n.opType === op).length;
    assert.equal(count('LayerNormalization'), 2 * C.layers + 1);
    assert.equal(count('Split'), C.layers);
    assert.equal(count('Erf'), C.layers);
    assert.equal(count('Softmax'), C.layers);
    assert.equal(count('Gather') - 2 * C.layers, 2, 'two embedding Gathers besides the masks\' shape reads');
    const weights = new Map(g.initializer.map((t) => [t.name, t.dims.map(Number)]));
    assert.deepEqual(weights.get('transformer.h.0.attn.c_attn.weight'), [C.d, 3 * C.d]);
    assert.deepEqual(weights.get('lm_head.weight'), [C.d, C.vocab]);
    assert.deepEqual(weights.get('transformer.wte.weight'), [C.vocab, C.d]);
    assert.ok(!weights.has('lm_head.bias'));
    const head = g.node.find((n) => n.output[0] === 'logits')!;
    assert.deepEqual([head.opType, head.input[1]], ['MatMul', 'lm_head.weight']);
    const noPast = model(buildDecoder(C, SEED, { withPast: false })).graph!;
    assert.deepEqual(noPast.input.map((i) => i.name), ['input_ids', 'position_ids']);
    assert.deepEqual(noPast.output.map((o) => o.name), ['logits']);
  });

  it('a seed fixes the bytes; another seed changes them; the zoo builds the cache variant', () => {
    const a = buildDecoder(C, SEED, { withPast: true });
    assert.equal(Buffer.compare(a, buildDecoder(C, SEED, { withPast: true })), 0);
    assert.notEqual(Buffer.compare(a, buildDecoder(C, SEED + 1, { withPast: true })), 0);
    assert.equal(Buffer.compare(buildZooModel('gpt-tiny', { seed: SEED }), a), 0);
    assert.deepEqual([...ZOO_DECODERS], ['gpt2-small', 'gpt-tiny']);
  });

  it('holds GPT-2\'s parameters plus an untied head: gpt-tiny as built, gpt2-small by the same count', () => {
    const params = (c: DecoderConfig): number => {
      const { layers, d, hidden, vocab, maxPositions } = c;
      const perBlock = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d);
      return vocab * d + maxPositions * d + layers * perBlock + 2 * d + d * vocab;
    };
    const g = model(buildDecoder(C, SEED, { withPast: true })).graph!;
    const built = g.initializer.filter((t) => t.dataType === 1 && !t.name.startsWith('const.')).reduce((n, t) => n + t.dims.reduce((a, x) => a * Number(x), 1), 0);
    assert.equal(built, params(C));
    // Hugging Face gpt2's 124 439 808 (lm_head tied to wte) plus lm_head's own d × vocab.
    assert.equal(params(GPT2_SMALL), 124_439_808 + GPT2_SMALL.d * GPT2_SMALL.vocab);
  });
});
