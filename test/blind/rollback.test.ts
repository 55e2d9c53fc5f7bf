/**
 * Rollback of the trusted state (docs/rollback.md; blind/monotonic-counter.ts, ledger.ts): a copy
 * of `--state` and the pad store is taken, pads are consumed (or more are precomputed), the copy is
 * put back.
 * - Without a monotonic counter this is not detected: the next inference takes a pad index that
 *   was used already, and the accelerator sees two inputs blinded with one pad (the documented risk).
 * - With the ledgers bound to counters (FileCounters, kept outside the state) the restored ledger is
 *   refused with SLALOM_ERR_STATE_ROLLBACK before anything is blinded, by inferences and by
 *   precompute alike; a bound ledger opened without its counter is refused; counters inside the
 *   state directory are refused; a ledger one step behind its counter (a crash between the two
 *   writes) is refused too.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FileCounters, type MonotonicCounters } from '../../src/blind/monotonic-counter.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { jsKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openStore, precomputePads } from '../../src/runtime/precompute.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { normalInputs, RecordingBackend, tempDir, TINY_DIMS, tinyModelBytes } from './blind-helpers.js';

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

  it('a ledger one step behind its counter (a crash between the two writes) is refused; counters inside the state are refused', async () => {
    const counters = new FileCounters(join(root, 'counters-3'));
    const { state, store } = await setup('crash', 1, counters);
    const { ledger, secrets } = openStore(TrustedState.open(state, { counters }), new PadStore(store), model);
    const recorded = BigInt(ledger.read().counter!);
    counters.counter(secrets.storeId).advance(recorded + 1n);
    await assert.rejects(infer(state, store, inputs[0]!, counters), rollback);

    const inside = join(state, 'counters');
    mkdirSync(inside, { recursive: true });
    assert.throws(() => TrustedState.open(state, { counters: new FileCounters(inside) }), { code: 'SLALOM_ERR_INVALID_ARG', message: /outside the trusted state/ });
  });
});
