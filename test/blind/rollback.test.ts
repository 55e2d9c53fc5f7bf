/**
 * Rollback of the trusted state (docs/rollback.md; blind/monotonic-counter.ts, ledger.ts): a copy
 * of `--state` and the pad store is taken, pads are consumed (or more are precomputed), the copy is
 * put back.
 * - Without a monotonic counter this is not detected: the next inference takes a pad index that
 *   was used already, and the accelerator sees two inputs blinded with one pad (the documented risk).
 * - With the ledgers bound to counters (FileCounters, kept outside the state) the restored ledger is
 *   refused with SLALOM_ERR_STATE_ROLLBACK before anything is blinded, by inferences and by
 *   precompute alike; a bound ledger opened without its counter is refused; counters inside the
 *   state directory are refused; a process that dies just before or just after advancing the
 *   counter loses at most the pad in flight (the interrupted change is dropped or adopted), while a
 *   ledger one step behind with no change pending is a rollback.
 * - From the command line: `--monotonic-counter <dir>` on precompute, infer and pads status; the
 *   restored state is exit 5, in one line.
 * - `slalom serve` with counters: the refill child and the request sessions share the bound ledger.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { writeNpy } from '../../src/io/npy.js';
import { FileCounters, type MonotonicCounters } from '../../src/blind/monotonic-counter.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { jsKernels } from '../../src/kernels/exact-linear.js';
import { SlalomClient } from '../../src/client/client.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { TrustedServer } from '../../src/serve/server.js';
import { openStore, precomputePads } from '../../src/runtime/precompute.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { normalInputs, RecordingBackend, tempDir, TINY_DIMS, tinyModelBytes } from './blind-helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let root: string;
let model: SlalomModel;
let inputs: Tensor[];

before(async () => {
  root = tempDir('rollback');
  model = await SlalomModel.load(tinyModelBytes(31), { calibration: normalInputs(TINY_DIMS, 1, 6) });
  inputs = normalInputs(TINY_DIMS, 5, 4);
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A state and a store, with `pads` pads precomputed; `counters` bound when given. */
async function setup(name: string, pads: number, counters?: MonotonicCounters): Promise<{ state: string; store: string }> {
  const state = join(root, name, 'state');
  const store = join(root, name, 'store');
  await precompute(state, store, pads, counters);
  return { state, store };
}

async function precompute(state: string, store: string, count: number, counters?: MonotonicCounters): Promise<void> {
  const kernels = jsKernels();
  await precomputePads(model.quantized, model, TrustedState.open(state, counters ? { counters } : {}), new PadStore(store), count, kernels);
  await kernels.close();
}

/** One private inference; the pad index it used and the accelerator's first-layer inputs. */
async function infer(state: string, store: string, input: Tensor, counters?: MonotonicCounters): Promise<{ pad: number; sent: Float64Array[] }> {
  const rec = new RecordingBackend();
  const protocol = await openProtocol(model, 'private', { accelerator: rec, pads: { store, stateDir: state, ...(counters ? { counters } : {}) }, kernels: 'js' });
  try {
    const r = await model.infer(input, { protocol });
    return { pad: r.pad!.index, sent: rec.seen.filter((s) => s.layerId === 0).map((s) => s.x) };
  } catch (e) {
    assert.equal(rec.seen.length, 0, 'a refused inference sends nothing');
    throw e;
  } finally {
    await protocol.close?.();
  }
}

/** Copies `dirs` aside; returns how to put the copies back. */
function snapshot(...dirs: string[]): () => void {
  const copies = dirs.map((d) => {
    const copy = `${d}.copy`;
    cpSync(d, copy, { recursive: true });
    return copy;
  });
  return () =>
    dirs.forEach((d, i) => {
      rmSync(d, { recursive: true, force: true });
      cpSync(copies[i]!, d, { recursive: true });
    });
}

const rollback = { code: 'SLALOM_ERR_STATE_ROLLBACK', message: /older than its monotonic counter/ };

describe('rollback of the trusted state', () => {
  it('without a monotonic counter, a restored copy hands a used pad out again (not detected: the documented risk)', async () => {
    const { state, store } = await setup('unbound', 3);
    const restore = snapshot(state, store);
    const first = await infer(state, store, inputs[0]!);
    restore();
    const again = await infer(state, store, inputs[1]!);
    assert.equal(again.pad, first.pad, 'the same pad index is used twice');
    // The accelerator saw x0 + r and x1 + r: their difference is x0 − x1, whatever r was.
    const d = (a: Float64Array, b: Float64Array): number[] => Array.from(a, (v, k) => v - b[k]!);
    assert.notDeepEqual(d(first.sent[0]!, again.sent[0]!), new Array(first.sent[0]!.length).fill(0));
  });

  it('with a counter, a restored copy is refused after consumption and after precomputation, before anything is blinded', async () => {
    const counters = new FileCounters(join(root, 'counters'));
    const { state, store } = await setup('bound', 3, counters);
    const restore = snapshot(state, store);
    const first = await infer(state, store, inputs[0]!, counters);
    assert.equal(first.pad, 0);
    restore();
    await assert.rejects(infer(state, store, inputs[1]!, counters), rollback);
    await assert.rejects(precompute(state, store, 1, counters), rollback);
    await assert.rejects(async () => openStore(TrustedState.open(state, { counters }), new PadStore(store), model).ledger.inventory(), rollback, '`pads status` too');

    // Reserving more pads moves `next`: a copy from before is refused as well.
    const second = await setup('bound-reserve', 2, counters);
    const restoreSecond = snapshot(second.state, second.store);
    await precompute(second.state, second.store, 2, counters);
    restoreSecond();
    await assert.rejects(precompute(second.state, second.store, 1, counters), rollback);
  });

  it('a bound ledger goes on with its counter and is refused without it', async () => {
    const counters = new FileCounters(join(root, 'counters-2'));
    const { state, store } = await setup('bound-2', 3, counters);
    assert.equal((await infer(state, store, inputs[0]!, counters)).pad, 0);
    assert.equal((await infer(state, store, inputs[1]!, counters)).pad, 1);
    await assert.rejects(infer(state, store, inputs[2]!), { code: 'SLALOM_ERR_INVALID_ARG', message: /bound to a monotonic counter.*--monotonic-counter/ });
    assert.equal((await infer(state, store, inputs[2]!, counters)).pad, 2);
  });

  it('a crash between the steps of a change costs at most that pad; a ledger one step behind without a pending change is refused', async () => {
    const counters = new FileCounters(join(root, 'counters-3'));
    const { state, store } = await setup('crash', 3, counters);
    /** The counters, but the process "dies" (throws) just before or just after advancing one. */
    const dying = (when: 'before' | 'after'): MonotonicCounters => ({
      description: 'dying counters',
      counter: (id) => {
        const real = counters.counter(id);
        return {
          read: () => real.read(),
          advance: (to) => {
            if (when === 'after') real.advance(to);
            throw new Error(`crash ${when} advancing the counter`);
          },
        };
      },
    });
    const ledgerWith = (c: MonotonicCounters) => openStore(TrustedState.open(state, { counters: c }), new PadStore(store), model).ledger;
    assert.throws(() => ledgerWith(dying('before')).consume(0), /crash before/);
    assert.equal(ledgerWith(counters).inventory().consumed, 0, 'died before the counter moved: the change never happened, pad 0 is still there');
    assert.throws(() => ledgerWith(dying('after')).consume(0), /crash after/);
    assert.deepEqual([ledgerWith(counters).inventory().consumed, ledgerWith(counters).nextReady()], [1, 1], 'died after: the change is adopted, pad 0 is spent');
    assert.equal((await infer(state, store, inputs[0]!, counters)).pad, 1);

    const { ledger, secrets } = openStore(TrustedState.open(state, { counters }), new PadStore(store), model);
    counters.counter(secrets.storeId).advance(BigInt(ledger.read().counter!) + 1n);
    await assert.rejects(infer(state, store, inputs[1]!, counters), rollback);
  });

  it('counters inside the state directory are refused', () => {
    const state = join(root, 'inside', 'state');
    assert.throws(() => TrustedState.open(state, { counters: new FileCounters(join(state, 'counters')) }), { code: 'SLALOM_ERR_INVALID_ARG', message: /outside the trusted state/ });
  });

  it('from the command line: --monotonic-counter on precompute, infer and pads status; a restored state is exit 5', () => {
    const dir = join(root, 'cli');
    mkdirSync(dir, { recursive: true });
    const onnx = join(dir, 'tiny.onnx');
    writeFileSync(onnx, tinyModelBytes(31));
    const x = join(dir, 'x.npy');
    writeFileSync(x, writeNpy(inputs[0]!, 'float32'));
    const [state, store, counter] = ['state', 'store', 'counters'].map((d) => join(dir, d)) as [string, string, string];
    const slalom = (...args: string[]): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, ['bin/slalom.js', ...args, '--state', state, '--monotonic-counter', counter], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLALOM_DEBUG: '' } });
      return { status: r.status, stderr: r.stderr };
    };
    const ok = (r: { status: number | null; stderr: string }): void => assert.equal(r.status, 0, r.stderr);
    ok(slalom('precompute', '--model', onnx, '--count', '2', '--store', store, '--kernels', 'js'));
    const restore = snapshot(state, store);
    ok(slalom('infer', '--model', onnx, '--input', x, '--mode', 'private', '--store', store, '--kernels', 'js'));
    restore();
    for (const r of [slalom('infer', '--model', onnx, '--input', x, '--mode', 'private', '--store', store, '--kernels', 'js'), slalom('pads', 'status', '--store', store)]) {
      assert.equal(r.status, 5, r.stderr);
      assert.match(r.stderr, /older than its monotonic counter/);
      // One error line (beside the warning that the tiny model was calibrated on synthetic inputs).
      assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning: ')).length, 1, r.stderr);
    }
  });

  it('slalom serve with a counter: the refill child and the sessions share the bound ledger, requests get their pads', async () => {
    const counters = new FileCounters(join(root, 'counters-serve'));
    const state = join(root, 'serve', 'state');
    const store = join(root, 'serve', 'store');
    const server = await TrustedServer.start({
      models: [{ model, mode: 'private', lanes: 2, pads: { store, stateDir: state, counters, onEmpty: 'wait', refill: { lowWater: 2, highWater: 4, chunk: 2, intervalMs: 100, nice: 5 } } }],
    });
    try {
      const client = await SlalomClient.connect(server.url, { policy: { allowDevelopment: true } });
      const answers = await Promise.all(inputs.map((x) => client.infer(model.name, x)));
      const used = answers.map((a) => a.receipt.body.pads!.indices[0]!);
      assert.equal(new Set(used).size, used.length, `each request its own pad: ${used}`);
    } finally {
      await server.close();
    }
    const { ledger, secrets } = openStore(TrustedState.open(state, { counters }), new PadStore(store), model);
    assert.equal(BigInt(ledger.read().counter!), counters.counter(secrets.storeId).read(), 'the ledger is bound and current');
    assert.ok(ledger.read().consumed >= inputs.length);
  });
});
