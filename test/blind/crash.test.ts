/**
 * Crash safety of the pads (docs/design.md §4: "a crash at any instant cannot lead to reuse"). Children
 * of test/blind/crash-child.ts precompute or consume pads of a tiny synthetic graph on one trusted
 * state and pad store and are SIGKILLed 5–150 ms after they start working, two
 * children at a time (both precomputing; one precomputing while one consumes; both consuming; 60 kills
 * here, ≥ 200 in crash.slow.ts, `npm run test:slow`) — and
 * then, in a stampede, several consumers wait on the ledger lock of a holder that is killed. Audit:
 * no pad index is used twice; every used index was recorded consumed first; consumed ≤ generated;
 * every index of [consumed, generated) has a pad file that authenticates in full; no stored pad
 * authenticates yet holds anything but f(r); the consumers never saw a wrong result or a refused
 * pad; and the state is still usable (an in-process consumer drains pads afterwards).
 * scripts/soak-pads.ts runs the same loop for longer.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { subMod } from '../../src/field/modp.js';
import { OnlinePads } from '../../src/runtime/online-pads.js';
import { openStore } from '../../src/runtime/precompute.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { blindWith, unsealWith } from '../helpers/pad-lease.js';
import { auditCrashState, crashLoop, crashPaths, CRASH_MODEL, DEFAULT_PHASES, exactLayer, lockStampede, syntheticGraph, violations, type AuditResult } from './crash-harness.js';
import { tempDir } from './blind-helpers.js';

/** The default loop's four phases at 15 kills each (crash.slow.ts runs them in full). */
const FAST_PHASES = DEFAULT_PHASES.map((phase) => ({ ...phase, kills: 15 }));

const root = tempDir('crash');
const paths = crashPaths(root);

after(() => rmSync(root, { recursive: true, force: true }));

function summary(a: AuditResult): string {
  return (
    `generated ${a.generated}, consumed ${a.consumed}, used (audit log) ${a.used}, reused ${a.reused.length}, ` +
    `intact pads in [consumed, generated) ${a.intact}, missing ${a.missing.length}, unauthentic ${a.unauthentic.length}, ` +
    `authenticated-but-wrong ${a.authenticatedButWrong.length}, orphan files below consumed ${a.orphansBelow}, ` +
    `files ahead of the ledger ${a.aheadOfLedger}, temp/lock leftovers ${a.leftovers}`
  );
}

describe('crash test: SIGKILL at random instants', { timeout: 420_000 }, () => {
  it('60 kills of precompute and consume children, two at a time: no pad reused, no pad lost from the live range', async (t) => {
    const loop = await crashLoop(paths, FAST_PHASES);
    t.diagnostic(`kills ${loop.kills} (precompute ${loop.killsByMode.precompute}, consume ${loop.killsByMode.consume}) in ${(loop.ms / 1000).toFixed(1)} s`);
    assert.deepEqual(loop.unexpected, [], 'a child exited on its own');
    assert.ok(loop.kills >= 60, `only ${loop.kills} kills`);
    const audit = auditCrashState(paths);
    t.diagnostic(`audit: ${summary(audit)}`);
    assert.deepEqual(violations(audit), []);
    // The consumers must have worked (a loaded machine does less within the 5–150 ms before each
    // kill, and the audit above is what the test is for).
    assert.ok(audit.used >= 10, `the consumers used only ${audit.used} pads`);
    assert.ok(audit.generated > audit.used, 'precompute made pads');
  });

  it('a lock left by a holder killed in the critical section, with five consumers waiting: no index handed out twice', async (t) => {
    const before = auditCrashState(paths);
    const stampede = await lockStampede(paths, 4, 5);
    assert.deepEqual(stampede.unexpected, []);
    const audit = auditCrashState(paths);
    t.diagnostic(`${stampede.rounds} rounds × ${stampede.waiters} waiters, ${stampede.kills} kills; pads used in the stampede ${audit.used - before.used}; audit: ${summary(audit)}`);
    assert.ok(audit.used > before.used, 'the waiters got through after the holder died');
    assert.deepEqual(violations(audit), []);
  });

  it('the state is still usable: an in-process consumer drains pads and every factor is right', () => {
    const q = syntheticGraph();
    const state = TrustedState.open(paths.stateDir);
    const store = new PadStore(paths.storeDir);
    const pads = new OnlinePads(q, CRASH_MODEL.weightsHash, state, store);
    const { ledger } = openStore(state, store, CRASH_MODEL);
    const ready = ledger.readyIndices();
    const { consumed } = ledger.inventory();
    const n = Math.min(ready.length, 50);
    for (let k = 0; k < n; k++) {
      const lease = pads.begin();
      assert.equal(lease.index, ready[k]);
      for (const layer of q.layers) {
        const x = Float64Array.from({ length: sizeOf(layer.inDims) }, (_, j) => (j * 7919 + k) % 1000);
        const z = exactLayer(layer, blindWith(lease, layer, x));
        assert.deepEqual(subMod(z, unsealWith(lease, layer)), exactLayer(layer, x));
      }
      lease.end();
    }
    assert.equal(ledger.inventory().consumed, consumed + n);
  });
});
