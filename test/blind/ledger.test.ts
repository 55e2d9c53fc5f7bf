/**
 * Pad stores and their ledgers (src/blind/ledger.ts, src/runtime/precompute.ts, online-pads.ts),
 * issue 11 defects 2 and 9, on a tiny model in mode private:
 * - defect 2: a second store for an existing trusted state works at its first inference, and burns
 *   no pad of the first; an empty store burns nothing; a pad missing from the store is skipped, not
 *   retried forever; a store of another model, of another trusted state, or claiming an identity the
 *   state never created is refused with a message saying so, consuming nothing;
 * - defect 9: precompute runs on one store reserve disjoint index ranges (two runs of 10 interleaved
 *   in one process give 20 distinct pads), and a reservation whose process died leaves a gap that is
 *   never handed out again;
 * - defect 8: a ledger lock held by a live process that is not slalom (a reused pid) is reported
 *   with the lock file's path and the pid;
 * - processes opening a fresh trusted state at the same instant all end up with the one master secret
 *   (found while attacking the above: each kept its own, and the pads of all but one were unusable).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { InvalidArgumentError, PadAuthError, PadsExhaustedError } from '../../src/errors.js';
import { jsKernels, type ExactKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openStore, precomputePads } from '../../src/runtime/precompute.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { fillPads, normalInputs, padIndexOf, RecordingBackend, storeSecrets, tempDir, TINY_DIMS, tinyModelBytes } from './blind-helpers.js';

let root: string;
let model: SlalomModel;
let other: SlalomModel;
let input: Tensor;
let baseline: number[];

before(async () => {
  root = tempDir('ledger');
  const calibration = normalInputs(TINY_DIMS, 1, 6);
  model = await SlalomModel.load(tinyModelBytes(31), { calibration });
  other = await SlalomModel.load(tinyModelBytes(32), { calibration });
  [input] = normalInputs(TINY_DIMS, 3, 1) as [Tensor];
  baseline = Array.from((await model.infer(input)).logits);
});

after(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** One private inference of `m` against `store` with a recording accelerator. */
async function infer(m: SlalomModel, stateDir: string, store: string): Promise<{ logits: number[]; seen: RecordingBackend }> {
  const seen = new RecordingBackend();
  const protocol = await openProtocol(m, 'private', { accelerator: seen, kernels: 'js', pads: { store, stateDir } });
  try {
    return { logits: Array.from((await m.infer(input, { mode: 'private', protocol })).logits), seen };
  } finally {
    await protocol.close?.();
  }
}

const counters = (stateDir: string, store: string) => {
  const { ready, consumed, generated } = openStore(TrustedState.open(stateDir), new PadStore(store), model).ledger.inventory();
  return { ready, consumed, generated };
};

describe('a second pad store for one trusted state (issue 11, defect 2)', () => {
  it('works on its first inference, and burns no pad of the first store', async () => {
    const state = join(root, 'two-stores-state');
    const first = join(root, 'store-1');
    const second = join(root, 'store-2');
    await fillPads(model, state, first, 3);
    assert.deepEqual((await infer(model, state, first)).logits, baseline);
    await fillPads(model, state, second, 2);
    const { logits, seen } = await infer(model, state, second);
    assert.deepEqual(logits, baseline, 'the first inference on the new store works');
    assert.deepEqual(counters(state, second), { ready: 1, consumed: 1, generated: 2 });
    assert.deepEqual(counters(state, first), { ready: 2, consumed: 1, generated: 3 });
    // It used the new store's pad 0, under the new store's keys.
    const sent = seen.seen.find((s) => s.layerId === 0)!.x;
    assert.equal(padIndexOf(model, storeSecrets(model, state, second).padKey, input, sent, 2), 0);
    assert.equal(padIndexOf(model, storeSecrets(model, state, first).padKey, input, sent, 3), undefined);
  });

  it('an empty store, or one that ran out, burns no pad anywhere', async () => {
    const state = join(root, 'empty-state');
    const full = join(root, 'empty-full');
    await fillPads(model, state, full, 1);
    const rec = new RecordingBackend();
    const empty = join(root, 'empty-store');
    await assert.rejects(
      openProtocol(model, 'private', { accelerator: rec, kernels: 'js', pads: { store: empty, stateDir: state } }).then(async (p) => {
        try {
          await model.infer(input, { mode: 'private', protocol: p });
        } finally {
          await p.close?.();
        }
      }),
      (e: unknown) => e instanceof PadsExhaustedError && /holds no pads/.test(e.message),
    );
    assert.equal(rec.seen.length, 0);
    assert.deepEqual(counters(state, full), { ready: 1, consumed: 0, generated: 1 });
    await infer(model, state, full);
    await assert.rejects(infer(model, state, full), PadsExhaustedError);
    assert.deepEqual(counters(state, full), { ready: 0, consumed: 1, generated: 1 }, 'running out consumes nothing more');
  });

  it('pads deleted from the store are skipped once, not retried: the next inference uses the next pad it holds', async () => {
    const state = join(root, 'deleted-state');
    const store = join(root, 'deleted-store');
    await fillPads(model, state, store, 4);
    unlinkSync(join(store, 'pads', '0.pad'));
    unlinkSync(join(store, 'pads', '1.pad'));
    const { logits, seen } = await infer(model, state, store);
    assert.deepEqual(logits, baseline);
    assert.equal(padIndexOf(model, storeSecrets(model, state, store).padKey, input, seen.seen.find((s) => s.layerId === 0)!.x, 4), 2);
    assert.deepEqual(counters(state, store), { ready: 1, consumed: 3, generated: 4 });
  });

  it('a store of another model, of another trusted state, or of an identity the state never made: refused, saying so, nothing consumed', async () => {
    const state = join(root, 'refuse-state');
    const store = join(root, 'refuse-store');
    await fillPads(model, state, store, 2);
    // Another model.
    await assert.rejects(infer(other, state, store), (e: unknown) => e instanceof PadAuthError && /holds pads of model 'tiny_31'.*not of 'tiny_32'/.test(e.message));
    // Another trusted state (fresh state directory, same store).
    await assert.rejects(infer(model, join(root, 'refuse-other-state'), store), (e: unknown) => e instanceof PadAuthError && /sealed under another trusted state/.test(e.message));
    // A copy of the store claiming an identity this state never created.
    const forged = join(root, 'refuse-forged');
    cpSync(store, forged, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(forged, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(forged, 'manifest.json'), JSON.stringify({ ...manifest, storeId: 'f'.repeat(32) }));
    await assert.rejects(infer(model, state, forged), (e: unknown) => e instanceof PadAuthError && /ffffffff.*was not made with the trusted state/.test(e.message));
    // An old-format manifest.
    writeFileSync(join(forged, 'manifest.json'), JSON.stringify({ model: 'tiny_31', modelHash: model.weightsHash, bytesPerInference: 1 }));
    await assert.rejects(infer(model, state, forged), (e: unknown) => e instanceof PadAuthError && /older slalom/.test(e.message));
    // A manifest that is not JSON (issue 20): malformed, not "no manifest" — neither inference nor precompute takes it for a fresh store.
    writeFileSync(join(forged, 'manifest.json'), '{"format": 2, "storeId": "trunc');
    await assert.rejects(infer(model, state, forged), (e: unknown) => e instanceof PadAuthError && /manifest\.json is malformed \(not JSON\)/.test(e.message) && !/no manifest/.test(e.message));
    const kernels = jsKernels();
    try {
      await assert.rejects(precomputePads(model.quantized, model, TrustedState.open(state), new PadStore(forged), 1, kernels), /malformed \(not JSON\)/);
    } finally {
      await kernels.close();
    }
    assert.deepEqual(counters(state, store), { ready: 2, consumed: 0, generated: 2 });
    assert.deepEqual((await infer(model, state, store)).logits, baseline);
  });

  it('precompute into a store of another model, or of another trusted state, is refused too', async () => {
    const state = join(root, 'refuse-state');
    const store = join(root, 'refuse-store');
    const kernels = jsKernels();
    try {
      await assert.rejects(precomputePads(other.quantized, other, TrustedState.open(state), new PadStore(store), 1, kernels), /holds pads of model/);
      await assert.rejects(precomputePads(model.quantized, model, TrustedState.open(join(root, 'refuse-third-state')), new PadStore(store), 1, kernels), /another trusted state/);
    } finally {
      await kernels.close();
    }
  });
});

describe('concurrent precompute runs on one store (issue 11, defect 9)', () => {
  /** Exact kernels that yield to the event loop on every layer, so two runs in one process interleave. */
  const yielding = (inner: ExactKernels): ExactKernels => ({
    name: inner.name,
    apply: async (layer, dims, x) => {
      await new Promise((r) => setImmediate(r));
      return inner.apply(layer, dims, x);
    },
    close: () => inner.close(),
  });

  it('two interleaved runs of --count 10 reserve disjoint ranges: 20 distinct, usable pads', async () => {
    const state = join(root, 'concurrent-state');
    const store = join(root, 'concurrent-store');
    const kernels = yielding(jsKernels());
    try {
      await precomputePads(model.quantized, model, TrustedState.open(state), new PadStore(store), 1, kernels);
      const runs = await Promise.all([0, 1].map(() => precomputePads(model.quantized, model, TrustedState.open(state), new PadStore(store), 10, kernels)));
      const ranges = runs.map((r) => [r.from, r.to]).sort((a, b) => a[0]! - b[0]!);
      assert.deepEqual(ranges, [[1, 11], [11, 21]]);
    } finally {
      await kernels.close();
    }
    assert.deepEqual(counters(state, store), { ready: 21, consumed: 0, generated: 21 });
    assert.equal(new PadStore(store).indices().length, 21);
    const seen = new Set<number>();
    const padKey = storeSecrets(model, state, store).padKey;
    for (let k = 0; k < 21; k++) {
      const { logits, seen: rec } = await infer(model, state, store);
      assert.deepEqual(logits, baseline, `inference ${k}`);
      const index = padIndexOf(model, padKey, input, rec.seen.find((s) => s.layerId === 0)!.x, 21)!;
      assert.ok(!seen.has(index), `pad ${index} used twice`);
      seen.add(index);
    }
    assert.equal(seen.size, 21);
  });

  it('a reservation whose process died is closed: its unwritten indices become a gap, never handed out again', () => {
    const state = TrustedState.open(join(root, 'gap-state'));
    const ledger = state.registerStore({ name: model.name, weightsHash: model.weightsHash });
    const from = ledger.reserve(5);
    ledger.markWritten(from);
    ledger.markWritten(from);
    // A run in another process reserves [5, 15), writes one pad and dies.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const data = ledger.read();
    writeFileSync(ledger.path, JSON.stringify({ ...data, next: 15, generated: data.generated + 1, ranges: [...data.ranges, { from: 5, to: 15, written: 1, used: 0, pid: dead }] }));
    // Read before any write closes it, the dead run's tail is abandoned, not in progress (issue 20).
    assert.equal(ledger.inventory().inProgress, 3);
    assert.deepEqual(ledger.inventory().abandoned, [{ from: 6, to: 15, pid: dead }]);
    assert.equal(ledger.reserve(2), 15, 'new runs start after every reservation, live or dead');
    assert.deepEqual(ledger.inventory().inProgress, 3 + 2, 'the dead run is closed: its 9 unwritten pads are a gap');
    assert.deepEqual(ledger.inventory().abandoned, []);
    ledger.close(15); // a run that failed closes its own reservation
    assert.deepEqual(ledger.inventory().inProgress, 3);
    assert.equal(ledger.reserve(1), 17, 'closed indices are never handed out again');
    assert.deepEqual(ledger.readyIndices(), [0, 1, 5]);
    for (const i of [0, 1, 5]) assert.equal(ledger.consume(i), true);
    assert.equal(ledger.consume(5), false, 'a pad is consumed once');
    assert.equal(ledger.nextReady(), undefined);
    for (const i of [0, 1, 5, 6, 14, 15, 16]) assert.equal(ledger.isSpent(i), true, `pad ${i}`);
    assert.equal(ledger.isSpent(2), false, 'still reserved by this live run');
  });
});

describe('a ledger lock held by an unrelated live process (issue 11, defect 8)', () => {
  it('is reported with the lock file and the pid, after the (configurable) wait', async () => {
    const state = TrustedState.open(join(root, 'lock-state'), { lockTimeoutMs: 300 });
    const ledger = state.registerStore({ name: model.name, weightsHash: model.weightsHash });
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    await once(holder, 'spawn');
    try {
      writeFileSync(`${ledger.path}.lock`, String(holder.pid));
      const start = Date.now();
      assert.throws(
        () => ledger.reserve(1),
        (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(`the lock file ${ledger.path}.lock is held by process ${holder.pid}, which is still running`) && e.message.includes(`remove ${ledger.path}.lock`),
      );
      assert.ok(Date.now() - start < 5_000);
    } finally {
      holder.kill('SIGKILL');
    }
    await once(holder, 'exit');
    assert.equal(ledger.reserve(1), 0, 'the lock of a dead holder is broken');
  });
});

describe('a fresh trusted state opened by several processes at once', () => {
  it('gives them all the same master secret (keys.json is created exclusively)', async () => {
    const dir = join(root, 'racing-state');
    const go = join(root, 'racing-go');
    const program = [
      `import { existsSync } from 'node:fs';`,
      `import { TrustedState } from ${JSON.stringify(new URL('../../src/blind/trusted-state.ts', import.meta.url).pathname)};`,
      `while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 1));`,
      `const keys = TrustedState.open(${JSON.stringify(dir)}).keysFor('ab'.repeat(32), 'cd'.repeat(16));`,
      `console.log(Buffer.from(keys.padKey).toString('hex'));`,
    ].join('\n');
    const children: ChildProcess[] = Array.from({ length: 6 }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const outputs = children.map(
      (c) =>
        new Promise<string>((done) => {
          let out = '';
          c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
          c.on('close', () => done(out.trim()));
        }),
    );
    await new Promise((r) => setTimeout(r, 3000)); // every child is waiting at the barrier
    assert.equal(existsSync(dir), false);
    writeFileSync(go, '');
    const keys = await Promise.all(outputs);
    assert.ok(keys.every((k) => /^[0-9a-f]{64}$/.test(k)), keys.join(' | '));
    assert.equal(new Set(keys).size, 1, `${new Set(keys).size} different master secrets`);
    assert.equal(Buffer.from(TrustedState.open(dir).keysFor('ab'.repeat(32), 'cd'.repeat(16)).padKey).toString('hex'), keys[0]);
  });
});
