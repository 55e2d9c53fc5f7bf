/**
 * The memory pad pool closes while its thread is making pads with onnxruntime's kernels without
 * bringing the process down (a regression: close() used to terminate the thread at once, and a
 * thread terminated inside onnxruntime aborts the whole process with "terminate called after
 * throwing an instance of 'Napi::Error'" — `slalom serve --pads memory` closing while its pool
 * refilled in idle time). The abort depends on where the thread is when it is stopped: before the
 * fix, 6 rounds hit it in 1 run of 3 on a loaded 2-core machine (so 24 rounds in about 4 of 5, an
 * estimate); after it, 24 rounds pass.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('the memory pad pool, closed while it computes', () => {
  it('closes 24 pools in the middle of their fills, and the process lives on', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/runtime/pad-pool-close-child.ts', '24'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'closed 24');
  });
});
