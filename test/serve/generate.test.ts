/**
 * Served generation (src/serve/generate.ts, routes.ts, served-model.ts) with the zoo's gpt-tiny built
 * in-process: `generate` and `generate_stream` give the very ids `session.generate` gives in
 * baseline with the same seed (private+verified, memory pool and sealed store; the sealed HPKE
 * request too); the stream has one event per token, then the whole result; the generation receipt
 * covers the sequence and verifies, an edited one does not (library and `slalom client
 * verify-receipt`); pads run out mid-way under each --on-empty policy (fail: finish 'no-pads'; local:
 * steps in the trusted runtime; wait: the pool refills) and the result and receipt say so; a lying
 * accelerator ends the stream with an error event after which no token comes; the endpoints refuse
 * the wrong kind of model and too many tokens; `slalom client generate` prints the verified tokens;
 * a model with a tokenizer takes text_input and gives text_output; a client that goes away stops the
 * generation.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { AcceleratorBackend, LinearRequest } from '../../src/accel/backend.js';
import { LocalBackend } from '../../src/accel/local.js';
import { createSession } from '../../src/api/session.js';
import { REQUEST_CONTENT_TYPE } from '../../src/attest/channel.js';
import { signGenerationReceipt, tokenIdsHash, type GenerationReceipt } from '../../src/attest/generation-receipt.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { SlalomClient, verifyGeneratedAnswer, verifyGenerationReceipt } from '../../src/client/client.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { TrustedServer } from '../../src/serve/server.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { CheatingBackend } from '../accel/cheating.js';
import { sample, scrape } from '../helpers/prometheus.js';

const run = promisify(execFile);
const PROMPT = [1, 2, 3];
const FORTUNES = 'models/fortunes-gpt.onnx';
const SAMPLING = { temperature: 0.9, topK: 8, seed: 7 };
const PARAMS = { temperature: 0.9, top_k: 8, seed: 7 };
/** gpt-tiny's linear layers per step (2 blocks × 4, and the head). */
const LAYERS_PER_STEP = 9;

async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  return { status: res.status, json: await res.json() };
}

/** The events of a generate_stream answer, in order, each with the chunk it arrived in. */
async function streamEvents(url: string, body: unknown): Promise<{ status: number; type: string; events: any[] }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  const events = text
    .split('\n\n')
    .filter((b) => b.startsWith('data: '))
    .map((b) => JSON.parse(b.slice(6)));
  return { status: res.status, type: res.headers.get('content-type') ?? '', events };
}

/** An accelerator that answers honestly for `honest` requests, then lies (off by one) on every reply. */
function lateLiar(honest: number): AcceleratorBackend & { liar: CheatingBackend } {
  const liar = new CheatingBackend(new LocalBackend(), 'off-by-one');
  liar.enabled = false;
  let seen = 0;
  return {
    liar,
    name: 'late liar',
    loadWeights: (layers) => liar.loadWeights(layers),
    close: () => liar.close(),
    linear(request: LinearRequest) {
      if (++seen > honest) liar.enabled = true;
      return liar.linear(request);
    },
  };
}

describe('slalom serve: generation with a decoder', () => {
  let model: SlalomModel;
  let expected: number[];
  let dir: string;

  before(async () => {
    model = await SlalomModel.load(buildZooModel('gpt-tiny'));
    const baseline = await createSession(model, { mode: 'baseline' });
    try {
      expected = [...(await baseline.generate(PROMPT, { maxTokens: 12, ...SAMPLING })).sequences[0]!.tokens];
    } finally {
      await baseline.close();
    }
    dir = mkdtempSync(join(tmpdir(), 'slalom-serve-generate-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('private+verified with a memory pool', () => {
    let server: TrustedServer;
    let base: string;

    before(async () => {
      const classifier = await SlalomModel.load('models/fashion-mnist.onnx');
      server = await TrustedServer.start({
        models: [
          { model, mode: 'private+verified', lanes: 2, pads: { source: 'memory', capacity: 32 } },
          { model: classifier, mode: 'baseline', lanes: 1 },
        ],
        maxGenerateTokens: 20,
      });
      base = `${server.url}/v2/models/${model.name}`;
    });
    after(() => server.close());

    it('generate answers the ids of session.generate in baseline, with a receipt over the whole sequence', async () => {
      const { status, json } = await post(`${base}/generate`, { input_ids: PROMPT, parameters: { max_tokens: 12, ...PARAMS } });
      assert.equal(status, 200, JSON.stringify(json));
      assert.deepEqual(json.output_ids, expected);
      assert.deepEqual(json.input_ids, PROMPT);
      assert.equal(json.finish, 'length');
      assert.equal(json.mode, 'private+verified');
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const body = verifyGeneratedAnswer(json.receipt, client.document, model.name, PROMPT, expected);
      assert.equal(body.integrity, 'freivalds');
      assert.ok(body.soundnessLog2! < -20);
      assert.deepEqual(body.sampling, { maxTokens: 12, temperature: 0.9, topK: 8, seed: 7 });
      assert.equal(body.generated.count, 12);
      assert.equal(body.finish, 'length');
      // One pad per token fed: the prompt's 3, then every generated token but the last.
      assert.equal(body.pads!.source, 'memory');
      assert.equal(body.pads!.count, PROMPT.length + 11);
      assert.equal(new Set(body.pads!.indices).size, body.pads!.count);
      assert.equal(body.steps.length, 12);
      assert.deepEqual(body.steps[0], { tokens: 3, freivalds: LAYERS_PER_STEP, unchecked: 0, trusted: 0 });
      assert.ok(body.steps.every((s) => s.freivalds === LAYERS_PER_STEP && s.trusted === 0));
      // The receipt binds the ids: another sequence does not pass.
      assert.throws(() => verifyGeneratedAnswer(json.receipt, client.document, model.name, PROMPT, [...expected.slice(0, -1), (expected.at(-1)! + 1) % 40]), /other tokens/);
    });

    it('generate_stream sends one event per token, then the whole result whose ids are their concatenation', async () => {
      const { status, type, events } = await streamEvents(`${base}/generate_stream`, { input_ids: PROMPT, parameters: { max_tokens: 12, ...PARAMS } });
      assert.equal(status, 200);
      assert.match(type, /^text\/event-stream/);
      assert.equal(events.length, 13);
      const tokens = events.slice(0, 12);
      tokens.forEach((e, i) => assert.deepEqual(e, { output_id: expected[i], index: i }));
      const final = events[12];
      assert.equal(final.final, true);
      assert.deepEqual(final.output_ids, tokens.map((e) => e.output_id));
      assert.equal(final.receipt.body.generated.idsHash, tokenIdsHash(expected));
    });

    it("the client's generate streams the tokens and returns them once the receipt verified; the sealed generate answers the same", async () => {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const seen: number[] = [];
      const g = await client.generate(model.name, PROMPT, { maxTokens: 12, ...SAMPLING, onToken: (t) => seen.push(t.id) });
      assert.deepEqual(g.outputIds, expected);
      assert.deepEqual(seen, expected);
      assert.equal(g.integrity, 'freivalds');
      assert.equal(g.mode, 'private+verified');
      assert.equal(g.encrypted, false);
      // The non-streaming endpoint sealed to the attested key (attest/channel.ts), as infer is.
      const sealed = await client.generate(model.name, PROMPT, { maxTokens: 12, ...SAMPLING, encrypt: true });
      assert.deepEqual(sealed.outputIds, expected);
      assert.equal(sealed.encrypted, true);
      // A plain body sent with the sealed content type is refused before anything runs.
      const res = await fetch(`${base}/generate`, { method: 'POST', body: JSON.stringify({ input_ids: PROMPT }), headers: { 'Content-Type': REQUEST_CONTENT_TYPE } });
      assert.equal(res.status, 400);
      const { families } = await scrape(server.url);
      assert.ok((sample(families, 'slalom_serve_generated_tokens_total', { model: model.name }) ?? 0) >= 24);
    });

    it('an edited generation receipt is refused; one vouched for by --key-hash verifies (library and CLI)', async () => {
      const { json } = await post(`${base}/generate`, { input_ids: PROMPT, parameters: { max_tokens: 4 } });
      const receipt = json.receipt as GenerationReceipt;
      const keyHash = server.keys.keyHash;
      assert.equal(verifyGenerationReceipt(receipt, { keyHash }).generated.count, 4);
      const edited = { ...receipt, body: { ...receipt.body, finish: 'stop' } };
      assert.throws(() => verifyGenerationReceipt(edited, { keyHash }), /does not verify/);
      const moreTokens = { ...receipt, body: { ...receipt.body, generated: { count: 5, idsHash: receipt.body.generated.idsHash } } };
      assert.throws(() => verifyGenerationReceipt(moreTokens, { keyHash }), /does not verify/);
      assert.throws(() => verifyGenerationReceipt(receipt, {}), /nothing vouches/);
      assert.throws(() => verifyGenerationReceipt(receipt, { keyHash: 'ab'.repeat(32) }), /not the pinned/);
      // Signed by a key nobody vouches for (a fresh one), however well-formed.
      const { ServiceKeys } = await import('../../src/attest/keys.js');
      const other = ServiceKeys.generate();
      const forged = signGenerationReceipt(other, { ...receipt.body, service: { ...receipt.body.service, keys: other.publicKeys, keyHash: other.keyHash } });
      assert.throws(() => verifyGenerationReceipt(forged, { keyHash }), /not the pinned/);
      const good = join(dir, 'generation-receipt.json');
      const bad = join(dir, 'edited-receipt.json');
      writeFileSync(good, JSON.stringify({ receipt }));
      writeFileSync(bad, JSON.stringify({ receipt: edited }));
      const cli = (file: string) => run(process.execPath, ['bin/slalom.js', 'client', 'verify-receipt', file, '--key-hash', keyHash]);
      const ok = await cli(good);
      assert.match(ok.stdout, /generation receipt valid/);
      assert.match(ok.stdout, /4 tokens generated \(finish length\)/);
      await assert.rejects(cli(bad), (e: { stderr: string }) => /does not verify/.test(e.stderr));
    });

    it('`slalom client generate` streams the tokens to stdout and prints what the verified receipt states', async () => {
      const { stdout, stderr } = await run(process.execPath, ['bin/slalom.js', 'client', 'generate', '--url', server.url, '--model', model.name, '--tokens', PROMPT.join(','), '--max-tokens', '12', '--temperature', '0.9', '--top-k', '8', '--seed', '7', '--allow-development']);
      assert.equal(stdout, `${expected.join(',')}\n`);
      assert.match(stderr, /receipt verified/);
      assert.match(stderr, /12 tokens generated \(finish length\)/);
      assert.match(stderr, /pads: 14 \(one per token fed\)/);
    });

    it('refuses generate on a classifier, infer on a decoder, and more tokens than --max-generate-tokens', async () => {
      const cases: [string, unknown, RegExp][] = [
        [`${server.url}/v2/models/${'fashion-mnist'}/generate`, { input_ids: PROMPT }, /is not a decoder/],
        [`${base}/infer`, { inputs: [] }, /is a decoder: it generates/],
        [`${base}/generate`, { input_ids: PROMPT, parameters: { max_tokens: 21 } }, /over this service's limit of 20 tokens/],
        [`${base}/generate_stream`, { input_ids: [1, 99] }, /input_ids\[1\] must be a token id in 0 … 39/],
        [`${base}/generate`, { text_input: 'hello' }, /has no tokenizer/],
        [`${base}/generate`, { input_ids: PROMPT, parameters: { temperature: -1 } }, /temperature/],
      ];
      const meta = (await (await fetch(base)).json()) as { parameters: { generate?: unknown } };
      assert.deepEqual(meta.parameters.generate, { vocab: 40, max_positions: 64, max_tokens: 20, tokenizer: false, pads_per: 'token' });
      for (const [url, body, re] of cases) {
        const { status, json } = await post(url, body);
        assert.equal(status, 400, url);
        assert.match(json.error, re);
        assert.doesNotMatch(json.error, /\n/);
      }
    });
  });

  it('a model with a tokenizer (the committed fortunes-gpt): text_input in, text_output out per token and whole, as session.generate', { skip: existsSync(FORTUNES) ? false : `${FORTUNES} is not in this checkout` }, async () => {
    const fortunes = await SlalomModel.load(FORTUNES);
    const baseline = await createSession(fortunes, { mode: 'baseline' });
    let text: string;
    try {
      text = (await baseline.generate('The ', { maxTokens: 12, ...SAMPLING })).texts![0]!;
    } finally {
      await baseline.close();
    }
    const server = await TrustedServer.start({ models: [{ model: fortunes, mode: 'private+verified', lanes: 1, pads: { source: 'memory', capacity: 16 } }] });
    try {
      const url = `${server.url}/v2/models/${fortunes.name}`;
      const { json } = await post(`${url}/generate`, { text_input: 'The ', parameters: { max_tokens: 12, ...PARAMS } });
      assert.equal(json.text_output, text);
      const { events } = await streamEvents(`${url}/generate_stream`, { text_input: 'The ', parameters: { max_tokens: 12, ...PARAMS } });
      const final = events.at(-1);
      assert.equal(final.text_output, text);
      assert.equal(events.slice(0, -1).map((e) => e.text_output).join(''), text);
      assert.deepEqual(final.input_ids, fortunes.tokenizer!.encode('The '));
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      assert.equal((await client.generate(fortunes.name, 'The ', { maxTokens: 12, ...SAMPLING })).text, text);
    } finally {
      await server.close();
    }
  });

  it('a sealed store: the same ids as baseline, then pads run out mid-way (--on-empty fail) and the result and receipt say no-pads', async () => {
    const store = join(dir, 'pads');
    const stateDir = join(dir, 'state');
    const kernels = await createExactKernels('js');
    try {
      await precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(store), 16, kernels);
    } finally {
      await kernels.close();
    }
    const server = await TrustedServer.start({ models: [{ model, mode: 'private+verified', lanes: 1, pads: { store, stateDir, onEmpty: 'fail', refill: false } }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const first = await client.generate(model.name, PROMPT, { maxTokens: 10, ...SAMPLING });
      assert.deepEqual(first.outputIds, expected.slice(0, 10));
      assert.equal(first.receipt.body.pads!.source, 'store');
      assert.equal(first.receipt.body.pads!.count, 12);
      // 4 pads left: the prefill takes 3 and yields a token, one more step a second, then none.
      const second = await client.generate(model.name, PROMPT, { maxTokens: 10, ...SAMPLING });
      assert.deepEqual(second.outputIds, expected.slice(0, 2));
      assert.equal(second.finish, 'no-pads');
      assert.equal(second.receipt.body.finish, 'no-pads');
      assert.equal(second.receipt.body.onEmpty, 'fail');
      assert.equal(second.receipt.body.pads!.count, 4);
      assert.ok(second.incidents.some((i) => i.code === 'SLALOM_ERR_PADS_EXHAUSTED'));
      const { families } = await scrape(server.url);
      assert.equal(sample(families, 'slalom_serve_pads_exhausted_total', { model: model.name, policy: 'fail' }), 1);
      const stats = (await (await fetch(`${server.url}/v2/slalom/stats`)).json()) as { models: Record<string, { pads: { per?: string; remaining: number } }> };
      assert.equal(stats.models[model.name]!.pads.per, 'token');
    } finally {
      await server.close();
    }
  });

  it('--on-empty local runs the steps without a pad in the trusted runtime; wait has the pool make more; both say so and keep the ids', async () => {
    for (const onEmpty of ['local', 'wait'] as const) {
      const server = await TrustedServer.start({ models: [{ model, mode: 'private+verified', lanes: 1, pads: { source: 'memory', capacity: 4, idleMs: 60_000, onEmpty } }] });
      try {
        const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
        const g = await client.generate(model.name, PROMPT, { maxTokens: 8, ...SAMPLING });
        assert.deepEqual(g.outputIds, expected.slice(0, 8), onEmpty);
        assert.equal(g.finish, 'length');
        const b = g.receipt.body;
        assert.equal(b.onEmpty, onEmpty);
        if (onEmpty === 'local') {
          // The prefill (3 pads) and one step (the 4th) outsourced; the other 6 steps in the trusted runtime, each said so.
          assert.equal(b.pads!.count, 4);
          assert.deepEqual(b.steps.map((s) => s.trusted), [0, 0, ...Array(6).fill(LAYERS_PER_STEP)]);
          assert.match(b.steps[2]!.reasons![0]!, /no pad left/);
          assert.equal(g.incidents.filter((i) => i.code === 'SLALOM_ERR_PADS_EXHAUSTED').length, 6);
        } else {
          assert.equal(b.pads!.count, PROMPT.length + 7);
          assert.ok(b.steps.every((s) => s.freivalds === LAYERS_PER_STEP));
          const { families } = await scrape(server.url);
          assert.ok((sample(families, 'slalom_serve_pads_exhausted_total', { model: model.name, policy: 'wait' }) ?? 0) >= 1);
        }
      } finally {
        await server.close();
      }
    }
  });

  it('a lying accelerator mid-generation ends the stream with an error event, and no token follows it', async () => {
    // Honest for the prefill and two more steps (three tokens), then every reply off by one.
    const accelerator = lateLiar(3 * LAYERS_PER_STEP);
    const server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 1, accelerator, admission: { backoffMs: 60_000 } }] });
    try {
      const { status, events } = await streamEvents(`${server.url}/v2/models/${model.name}/generate_stream`, { input_ids: PROMPT, parameters: { max_tokens: 12, ...PARAMS } });
      assert.equal(status, 200);
      assert.deepEqual(events.slice(0, 3).map((e) => e.output_id), expected.slice(0, 3));
      assert.equal(events.length, 4);
      assert.equal(events[3].code, 'SLALOM_ERR_INTEGRITY');
      assert.equal(events[3].final, undefined);
      assert.ok(accelerator.liar.tampered.length >= 1);
      const { families } = await scrape(server.url);
      assert.equal(sample(families, 'slalom_serve_integrity_failures_total', { model: model.name }), 1);
    } finally {
      await server.close();
    }
  });

  it('a client that closes the stream stops the generation at its next token', async () => {
    const inner = new LocalBackend();
    // 10 ms per layer: a 40-token generation would take about 4 s.
    const slow: AcceleratorBackend = { name: 'slow', loadWeights: (l) => inner.loadWeights(l), close: () => inner.close(), linear: async (r) => (await new Promise((done) => setTimeout(done, 10)), inner.linear(r)) };
    const server = await TrustedServer.start({ models: [{ model, mode: 'verified', lanes: 1, accelerator: slow }] });
    try {
      const abort = new AbortController();
      const res = await fetch(`${server.url}/v2/models/${model.name}/generate_stream`, { method: 'POST', body: JSON.stringify({ input_ids: PROMPT, parameters: { max_tokens: 40 } }), signal: abort.signal });
      const reader = res.body!.getReader();
      assert.match(new TextDecoder().decode((await reader.read()).value), /^data: \{"output_id"/);
      const closedAt = performance.now();
      abort.abort();
      await server.served(model.name)!.idle();
      assert.ok(performance.now() - closedAt < 2000, `stopped after ${performance.now() - closedAt} ms`);
      const { families } = await scrape(server.url);
      assert.ok((sample(families, 'slalom_serve_generated_tokens_total', { model: model.name }) ?? 0) < 10);
      assert.equal(sample(families, 'slalom_serve_requests_total', { model: model.name, outcome: 'cancelled' }), 1);
    } finally {
      await server.close();
    }
  });

  it("the client's generate turns the error event into an IntegrityError, after the tokens accepted before it", async () => {
    const server = await TrustedServer.start({ models: [{ model, mode: 'private+verified', lanes: 1, accelerator: lateLiar(2 * LAYERS_PER_STEP), pads: { source: 'memory', capacity: 16 }, admission: { backoffMs: 60_000 } }] });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const seen: number[] = [];
      await assert.rejects(client.generate(model.name, PROMPT, { maxTokens: 12, ...SAMPLING, onToken: (t) => seen.push(t.id) }), (e: { code: string; message: string }) => e.code === 'SLALOM_ERR_INTEGRITY' && /502/.test(e.message));
      assert.deepEqual(seen, expected.slice(0, 2));
    } finally {
      await server.close();
    }
  });
});
