/**
 * The crash test of crash.test.ts at full length: ≥ 200 SIGKILLs of precompute and consume children
 * (the default loop of crash-harness.ts), then the same audit — no pad reused, none lost from the
 * live range, no authenticated pad holding anything but f(r). `npm run test:slow`.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { auditCrashState, crashLoop, crashPaths, violations } from './crash-harness.js';
import { tempDir } from './blind-helpers.js';

const root = tempDir('crash-slow');
const paths = crashPaths(root);

after(() => rmSync(root, { recursive: true, force: true }));

describe('crash test at full length', { timeout: 900_000 }, () => {
  it('≥ 200 kills of precompute and consume children, two at a time: no pad reused, no pad lost from the live range', async (t) => {
    const loop = await crashLoop(paths);
    t.diagnostic(`kills ${loop.kills} (precompute ${loop.killsByMode.precompute}, consume ${loop.killsByMode.consume}) in ${(loop.ms / 1000).toFixed(1)} s`);
    assert.deepEqual(loop.unexpected, [], 'a child exited on its own');
    assert.ok(loop.kills >= 200, `only ${loop.kills} kills`);
    const audit = auditCrashState(paths);
    assert.deepEqual(violations(audit), []);
    assert.ok(audit.used >= 25, `the consumers used only ${audit.used} pads`);
    assert.ok(audit.generated > audit.used, 'precompute made pads');
  });
});
