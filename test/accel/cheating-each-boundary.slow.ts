/**
 * The cheating suite (cheating.test.ts) once more with each implementation of the boundary pass this
 * machine can run but the default one, which the fast suite already uses (SLALOM_BOUNDARY picks it in a
 * child process, since the suite opens its protocols at load): a lying accelerator is caught
 * every time whichever implementation reads its replies — the WebAssembly one (from a copy of each
 * reply) and every native path (in place).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { unavailable } from '../helpers/boundary-implementations.js';
import { BOUNDARY_IMPLEMENTATIONS, boundaryImplementation } from '../../src/simd/boundary.js';

const byDefault = boundaryImplementation();

describe('the cheating suite with each boundary implementation', () => {
  for (const name of BOUNDARY_IMPLEMENTATIONS.filter((n) => n !== byDefault)) {
    const skip = unavailable(name);
    it(`${name}: every lie caught, recompute bit-identical`, skip === '' ? {} : { skip }, () => {
      // Without NODE_TEST_CONTEXT, which would make the child report to a parent runner, not as TAP.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/accel/cheating.test.ts'], { encoding: 'utf8', timeout: 900_000, env: { ...env, SLALOM_BOUNDARY: name } });
      assert.equal(r.status, 0, `${name}: ${r.stdout.split('\n').filter((l) => /not ok|# fail/.test(l)).join('\n')}`);
      assert.match(r.stdout, /# fail 0/);
      assert.doesNotMatch(r.stdout, /# pass 0\b/);
    });
  }
});
