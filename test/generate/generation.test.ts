/**
 * Generation (src/generate/generation.ts) with the zoo's gpt-tiny (2 blocks, d 32, with past
 * key/values): every mode gives baseline's tokens bit for bit with the same seed (greedy and
 * sampled); a step is one request per linear layer whatever its rows; sequences batched give each
 * one's tokens alone; the private modes spend one pad per token fed, none twice; a lie is caught
 * and nothing more is emitted; an empty pad source follows its policy and says so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBackend } from '../../src/accel/local.js';
import { createSession } from '../../src/api/session.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { hasErrorCode } from '../../src/errors.js';
import { generateTokens, type GenerateOptions } from '../../src/generate/generation.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { MODES } from '../../src/runtime/modes.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { openProtocol } from '../../src/runtime/session.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { CheatingBackend } from '../accel/cheating.js';

const PROMPTS = [[1, 2, 3, 4], [7]];
const OPTIONS = { maxTokens: 12, temperature: 0.9, topK: 20, seed: 5 };

describe('generation with gpt-tiny', async () => {
  const model = await SlalomModel.load(buildZooModel('gpt-tiny'));
  const layers = model.quantized.layers.length;
  const dir = mkdtempSync(join(tmpdir(), 'slalom-generate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const generate = async (mode: (typeof MODES)[number], options: GenerateOptions = OPTIONS, prompts = PROMPTS, pads?: object) => {
    const protocol = await openProtocol(model, mode, mode.startsWith('private') ? { pads: (pads ?? { source: 'memory', capacity: 8 }) as never } : {});
    try {
      return await generateTokens(model, protocol, prompts, options);
    } finally {
      await protocol.close?.();
    }
  };
  const baseline = await generate('baseline');

  it('is recognized as a decoder, imported at one token: every linear layer one row', () => {
    assert.deepEqual(model.decoder!.config, { layers: 2, d: 32, heads: 4, headDim: 8, hidden: 64, vocab: 40, maxPositions: 64 });
    assert.equal(model.decoder!.exportedCache, true);
    for (const l of model.quantized.layers) assert.equal(l.inDims[0], 1);
  });

  it('every mode gives the baseline tokens with the same seed, sampled and greedy', async () => {
    assert.deepEqual(baseline.sequences.map((s) => s.tokens.length), [12, 12]);
    for (const mode of MODES.filter((m) => m !== 'baseline')) {
      const r = await generate(mode);
      assert.deepEqual(r.sequences, baseline.sequences, mode);
    }
    const greedy = { maxTokens: 8 };
    assert.deepEqual((await generate('private+verified', greedy)).sequences, (await generate('baseline', greedy)).sequences);
    const other = await generate('baseline', { ...OPTIONS, seed: 6 });
    assert.notDeepEqual(other.sequences.map((s) => s.tokens), baseline.sequences.map((s) => s.tokens));
  });

  it('batches sequences: each gets the tokens it gets alone, one request per linear layer per step', async () => {
    const spy = new CheatingBackend(new LocalBackend(), 'off-by-one');
    spy.enabled = false;
    const protocol = await openProtocol(model, 'verified', { accelerator: spy });
    try {
      const r = await generateTokens(model, protocol, PROMPTS, OPTIONS);
      assert.deepEqual(r.sequences, baseline.sequences);
      // One prefill step (5 rows) and 11 steps of 2 rows: 12 steps, each one request per layer.
      assert.deepEqual(r.steps.map((s) => s.tokens), [5, ...Array<number>(11).fill(2)]);
      assert.equal(spy.requests.length, 12 * layers);
    } finally {
      await protocol.close?.();
    }
    for (const [k, prompt] of PROMPTS.entries()) {
      const alone = await generate('baseline', { ...OPTIONS, seed: OPTIONS.seed + k }, [prompt]);
      assert.deepEqual(alone.sequences[0], baseline.sequences[k]);
    }
  });

  it('private modes spend one pad per token fed, each once, from a memory pool and from a sealed store', async () => {
    const fed = PROMPTS.flat().length + 2 * (OPTIONS.maxTokens - 1);
    const pool = await generate('private+verified');
    assert.equal(pool.pads!.source, 'memory');
    assert.equal(pool.pads!.indices.length, fed);
    assert.equal(new Set(pool.pads!.indices).size, fed);
    assert.deepEqual(pool.steps.map((s) => s.pads!.length), pool.steps.map((s) => s.tokens));

    const store = { store: join(dir, 'store'), stateDir: join(dir, 'state') };
    const kernels = await createExactKernels('js');
    await precomputePads(model.quantized, model, TrustedState.open(store.stateDir), new PadStore(store.store), fed, kernels);
    await kernels.close();
    const sealed = await generate('private', OPTIONS, PROMPTS, store);
    assert.deepEqual(sealed.sequences, baseline.sequences);
    assert.deepEqual([...sealed.pads!.indices].sort((a, b) => a - b), Array.from({ length: fed }, (_, i) => i));
    // The store is empty now: under 'fail' the next generation stops at its first step and says so.
    const empty = await generate('private', OPTIONS, PROMPTS, store);
    assert.deepEqual(empty.sequences.map((s) => [s.tokens.length, s.finish]), [[0, 'no-pads'], [0, 'no-pads']]);
    assert.equal(empty.incidents[0]!.code, 'SLALOM_ERR_PADS_EXHAUSTED');
    // Under 'local' the steps run in the trusted runtime, recorded as such, with the same tokens.
    const local = await generate('private', OPTIONS, PROMPTS, { ...store, onExhausted: 'local' });
    assert.deepEqual(local.sequences, baseline.sequences);
    assert.ok(local.steps.every((s) => s.layers.every((l) => l.ran === 'trusted' && /no pad left/.test(l.reason!))));
    assert.equal(local.pads, undefined);
  });

  it('a step of more tokens than the pad pool has slots runs as consecutive steps, with the same tokens', async () => {
    const prompt = [Array.from({ length: 10 }, (_, i) => (3 * i) % 40)];
    const expected = await generate('baseline', OPTIONS, prompt);
    const small = await generate('private+verified', OPTIONS, prompt, { source: 'memory', capacity: 4 });
    assert.deepEqual(small.sequences, expected.sequences);
    assert.deepEqual(small.steps.slice(0, 4).map((s) => s.tokens), [4, 4, 2, 1]);
  });

  it('a lie in the middle of a generation is caught: nothing more is emitted, whatever the fallback', async () => {
    for (const mode of ['verified', 'private+verified'] as const) {
      for (const layer of [0, layers - 1]) {
        const liar = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [layer] });
        liar.enabled = false;
        const emitted: number[] = [];
        const s = await createSession(model, { mode, accelerator: liar, ...(mode === 'private+verified' ? { pads: { source: 'memory', capacity: 8 } } : {}) });
        try {
          await assert.rejects(
            s.generate([PROMPTS[0]!], {
              ...OPTIONS,
              onToken: (e) => {
                emitted.push(e.token);
                if (emitted.length === 5) liar.enabled = true;
              },
            }),
            (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_INTEGRITY'),
          );
        } finally {
          await s.close();
        }
        assert.equal(liar.tampered.length, 1, `${mode} layer ${layer}`);
        assert.deepEqual(emitted, baseline.sequences[0]!.tokens.slice(0, 5));
      }
    }
  });

  it('refuses what cannot be generated, in one line', async () => {
    const p = await openProtocol(model, 'baseline', {});
    const refuses = (prompts: number[][], options: object, re: RegExp) => assert.rejects(generateTokens(model, p, prompts, { maxTokens: 4, ...options }), (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG') && re.test((e as Error).message));
    await refuses([[40]], {}, /token id 40 is outside the vocabulary 0 … 39/);
    await refuses([[]], {}, /prompt 0 is empty/);
    await refuses([Array<number>(64).fill(1)], {}, /64 tokens: the model has 64 positions/);
    await refuses([[1]], { temperature: -1 }, /temperature/);
    await refuses([[1]], { maxTokens: 0 }, /max tokens/);
    // 60 prompt tokens in 64 positions: the prefill's token, then one per position left (the last one is never fed).
    const full = await generateTokens(model, p, [Array<number>(60).fill(1)], { maxTokens: 10 });
    assert.deepEqual([full.sequences[0]!.tokens.length, full.sequences[0]!.finish], [5, 'context']);
  });
});
