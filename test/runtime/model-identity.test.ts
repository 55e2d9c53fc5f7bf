/**
 * The model identity commits to the weights (runtime/model.ts, quant/content-hash.ts), against the
 * red team's four edits of a quantized artifact — A's weights replaced by B's, B's by A's, one fc
 * weight of A +1, A's conv1 negated — each with the header's Σ|w̃| fixed up and the checksum
 * recomputed, so the file loads and runs. Each edit changes `weightsHash`; pads precomputed for the
 * original are refused before anything is blinded (private mode: no pad consumed, nothing sent); a
 * client pinning the original weights refuses a service serving the edit; the refill child refuses
 * an edited artifact. An ONNX model and the artifact saved from it have one identity.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { SlalomClient } from '../../src/client/client.js';
import { PadAuthError } from '../../src/errors.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openStore } from '../../src/runtime/precompute.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { FromRefillChild, RefillChildConfig } from '../../src/serve/pad-source.js';
import { TrustedServer } from '../../src/serve/server.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { fillPads, normalInputs, RecordingBackend, tempDir, TINY_DIMS, tinyModelBytes } from '../blind/blind-helpers.js';
import { bumpWeight, negateWeights, readEditable, swapWeights, weightsOf, writeEditable } from '../helpers/artifact-edit.js';

interface Edit {
  readonly what: string;
  /** Which genuine model it was made from (and claims to be). */
  readonly of: 'A' | 'B';
  readonly path: string;
  /** Whether the edit changes the output on the test input for certain. */
  readonly changesOutput: boolean;
}

let dir: string;
let stateDir: string;
const genuine: Record<'A' | 'B', { model: SlalomModel; path: string; store: string }> = {} as never;
const edits: Edit[] = [];
let input: Tensor;

before(async () => {
  dir = tempDir('identity');
  stateDir = join(dir, 'state');
  const calibration = normalInputs(TINY_DIMS, 1, 6);
  input = normalInputs(TINY_DIMS, 2, 1)[0]!;
  for (const [key, seed] of [['A', 21], ['B', 22]] as const) {
    const path = join(dir, `${key}.slalom`);
    (await SlalomModel.load(tinyModelBytes(seed), { calibration })).save(path);
    const store = join(dir, `store-${key}`);
    genuine[key] = { model: await SlalomModel.load(path), path, store };
    await fillPads(genuine[key].model, stateDir, store, 2);
  }
  const edit = (what: string, of: 'A' | 'B', changesOutput: boolean, f: (a: ReturnType<typeof readEditable>) => void): void => {
    const a = readEditable(genuine[of].path);
    f(a);
    const path = join(dir, `edit-${edits.length}.slalom`);
    writeEditable(path, a);
    edits.push({ what, of, path, changesOutput });
  };
  const layers = ['conv1', 'conv2', 'fc'];
  edit("A's weights replaced by B's", 'A', true, (a) => layers.forEach((l) => swapWeights(a, readEditable(genuine.B.path), l)));
  edit("B's weights replaced by A's", 'B', true, (a) => layers.forEach((l) => swapWeights(a, readEditable(genuine.A.path), l)));
  edit('one fc weight of A +1', 'A', false, (a) => bumpWeight(a, 'fc', weightsOf(a, 'fc').findIndex((w) => w < 100), 1));
  edit("A's conv1 negated", 'A', true, (a) => negateWeights(a, 'conv1'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('an edited artifact is another model', () => {
  it('an ONNX model and the artifact saved from it have one identity', async () => {
    const onnx = await SlalomModel.load(tinyModelBytes(21), { calibration: normalInputs(TINY_DIMS, 1, 6) });
    assert.equal(onnx.weightsHash, genuine.A.model.weightsHash);
    assert.notEqual(genuine.A.model.weightsHash, genuine.B.model.weightsHash);
  });

  it("each of the red team's edits loads and runs, and has its own weightsHash", async () => {
    const hashes = new Set([genuine.A.model.weightsHash, genuine.B.model.weightsHash]);
    for (const e of edits) {
      const edited = await SlalomModel.load(e.path);
      assert.equal(edited.name, genuine[e.of].model.name, `${e.what}: it claims the original's name`);
      const logits = (await edited.infer(input)).logits;
      if (e.changesOutput) assert.notDeepEqual([...logits], [...(await genuine[e.of].model.infer(input)).logits], `${e.what}: the edit changes what the model computes`);
      assert.ok(!hashes.has(edited.weightsHash), `${e.what}: weightsHash ${edited.weightsHash.slice(0, 12)}… is not new`);
      hashes.add(edited.weightsHash);
      assert.equal((await SlalomModel.load(e.path)).weightsHash, edited.weightsHash, 'computed, so the same on every load');
    }
  });

  it("pads precomputed for the original are refused before use: nothing consumed, nothing sent", async () => {
    for (const e of edits) {
      const edited = await SlalomModel.load(e.path);
      const { store } = genuine[e.of];
      const ledger = openStore(TrustedState.open(stateDir), new PadStore(store), genuine[e.of].model).ledger;
      const before = ledger.inventory();
      const rec = new RecordingBackend();
      const protocol = await openProtocol(edited, 'private', { accelerator: rec, pads: { store, stateDir }, kernels: 'js' });
      try {
        await assert.rejects(edited.infer(input, { protocol }), (err: unknown) => {
          assert.ok(err instanceof PadAuthError, `${e.what}: expected PadAuthError, got ${String(err)}`);
          assert.match(err.message, /other weights/);
          return true;
        });
      } finally {
        await protocol.close?.();
      }
      assert.equal(rec.seen.length, 0, `${e.what}: the accelerator was sent something`);
      assert.deepEqual(ledger.inventory(), before, `${e.what}: no pad consumed`);
    }
    // The originals still use their pads.
    const rec = new RecordingBackend();
    const protocol = await openProtocol(genuine.A.model, 'private', { accelerator: rec, pads: { store: genuine.A.store, stateDir }, kernels: 'js' });
    try {
      assert.deepEqual([...(await genuine.A.model.infer(input, { protocol })).logits], [...(await genuine.A.model.infer(input)).logits]);
    } finally {
      await protocol.close?.();
    }
  });

  it('a client pinning the original weights refuses a service that serves an edit', async () => {
    for (const e of edits) {
      const edited = await SlalomModel.load(e.path);
      const server = await TrustedServer.start({ models: [{ model: edited, mode: 'verified', lanes: 1 }] });
      try {
        const pin = genuine[e.of].model.weightsHash;
        await assert.rejects(SlalomClient.connect(server.url, { policy: { allowDevelopment: true, weightsHash: pin } }), { code: 'SLALOM_ERR_ATTESTATION', message: /weights/ }, e.what);
        const own = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true, weightsHash: edited.weightsHash } });
        assert.ok(own, 'the pin of what it really serves is accepted');
      } finally {
        await server.close();
      }
    }
  });

  it("the service's refill child refuses an artifact that is not the service's model", async () => {
    const start = (artifact: string, weightsHash: string): Promise<FromRefillChild> => {
      const config: RefillChildConfig = { artifact, weightsHash, store: join(dir, 'refill-store'), stateDir: join(dir, 'refill-state'), kernels: 'js', nice: 0 };
      const child = fork(new URL('../../src/serve/refill-child.ts', import.meta.url), [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      return new Promise((resolve) => {
        child.once('message', (m: FromRefillChild) => {
          child.kill();
          resolve(m);
        });
      });
    };
    const answers = await Promise.all([start(genuine.A.path, genuine.A.model.weightsHash), ...edits.map((e) => start(e.path, genuine[e.of].model.weightsHash))]);
    assert.equal(answers[0]!.type, 'ready', 'the genuine artifact');
    answers.slice(1).forEach((m, i) => {
      assert.equal(m.type, 'error', edits[i]!.what);
      assert.match((m as { message: string }).message, /the refill loaded weights .*, not the service's/);
    });
  });
});
