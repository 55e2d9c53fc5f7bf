/**
 * Several images in flight on one protocol (issue 12, deliverable 5): four inferences started at
 * once through one opened protocol, in every outsourcing mode (the private ones with the sealed
 * store and with the memory pool), each give baseline's logits for their own input, and each
 * private one takes its own pad.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { openPads, openProtocol, type PadOptions } from '../../src/runtime/session.js';
import type { Mode } from '../../src/runtime/modes.js';
import type { PadLease, PadSource } from '../../src/runtime/pad-lease.js';
import { syntheticInput } from './modes-helpers.js';

const IN_FLIGHT = 4;

describe('four images in flight on one protocol', async () => {
  const model = await SlalomModel.load('models/fashion-mnist.onnx');
  const inputs = Array.from({ length: IN_FLIGHT }, (_, k) => syntheticInput(model.inputDims, 100 + k));
  const expected = await Promise.all(inputs.map(async (x) => (await model.infer(x, { mode: 'baseline' })).logits));
  const dir = mkdtempSync(join(tmpdir(), 'slalom-in-flight-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const store = { store: join(dir, 'store'), stateDir: join(dir, 'state') };
  const kernels = await createExactKernels('ort');
  await precomputePads(model.quantized, model, TrustedState.open(store.stateDir), new PadStore(store.store), 2 * IN_FLIGHT + 2, kernels);
  await kernels.close();

  const cases: [Mode, PadOptions | undefined][] = [
    ['outsourced', undefined],
    ['verified', undefined],
    ['private', store],
    ['private+verified', store],
    ['private', { source: 'memory', capacity: 2 }],
    ['private+verified', { source: 'memory', capacity: IN_FLIGHT }],
  ];
  it('two store leases held at once each open their own pad (a read does not overwrite the other\'s records)', () => {
    const pads = openPads(model, store);
    const [a, b] = [pads.begin(), pads.begin()];
    try {
      assert.notEqual(a.index, b.index);
      // Every layer's u authenticates against its own pad's binding, the first lease's after the second was read.
      for (const lease of [a, b]) for (const layer of model.quantized.layers) lease.done(lease.unblind(layer));
    } finally {
      a.end();
      b.end();
    }
  });

  /** Store pads leased by any case: each case takes new ones. */
  const storePads = new Set<number>();
  for (const [mode, pads] of cases) {
    it(`${mode}${pads?.source === 'memory' ? ' (memory pool)' : ''}: each gives baseline's logits for its own input`, async () => {
      const protocol = await openProtocol(model, mode, pads ? { pads } : {});
      try {
        const source = (protocol as { pads?: PadSource }).pads;
        assert.equal(source !== undefined, pads !== undefined, 'the protocol has pads exactly in the private modes');
        // Every lease the inferences take, recorded as the protocol takes it.
        const leased: number[] = [];
        const before = source?.inventory().remaining ?? 0;
        if (source !== undefined) {
          const acquire = source.acquire.bind(source);
          source.acquire = async (): Promise<PadLease> => {
            const lease = await acquire();
            leased.push(lease.index);
            return lease;
          };
        }
        const results = await Promise.all(inputs.map((x) => model.infer(x, { mode, protocol })));
        results.forEach((r, k) => assert.deepEqual([...r.logits], [...expected[k]!], `image ${k}`));
        if (source === undefined) return;
        assert.equal(leased.length, IN_FLIGHT, 'one pad per inference');
        assert.equal(new Set(leased).size, IN_FLIGHT, `a pad was leased twice: ${leased.join(', ')}`);
        if (pads?.source !== 'memory') {
          assert.equal(source.inventory().remaining, before - IN_FLIGHT, 'the store lost exactly the pads used');
          for (const i of leased) {
            assert.ok(!storePads.has(i), `store pad ${i} was used by an earlier case`);
            storePads.add(i);
          }
        }
      } finally {
        await protocol.close?.();
      }
    });
  }
});
