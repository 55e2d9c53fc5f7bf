/**
 * The ONNX backend node tests of Debian's libonnx-testdata for every supported op, through the
 * importer and the float path, and the quantized path where the graph has a linear layer (see
 * onnx-node.ts for the selection, the input → initializer rewrite, the skips and the tolerances).
 * One test per ONNX test: passed, or skipped with its reason. The last test asserts that nothing
 * failed and reports the totals. Without the package installed the whole suite is skipped.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { listNodeTests, NODE_TEST_ROOT, runNodeTest, totals, type CaseResult } from './onnx-node.js';

const MISSING = `${NODE_TEST_ROOT} not found: apt-get install libonnx-testdata to run the ONNX node conformance tests`;

describe('ONNX backend node tests (libonnx-testdata)', { skip: existsSync(NODE_TEST_ROOT) ? false : MISSING }, () => {
  const cases = listNodeTests();
  const results: CaseResult[] = [];

  for (const c of cases) {
    test(c.name, async (t) => {
      const r = await runNodeTest(c);
      results.push(r);
      if (r.float.outcome === 'skipped') {
        t.skip(r.float.reason);
        return;
      }
      assert.equal(r.float.outcome, 'passed', r.float.reason);
      if (r.quantized !== undefined) {
        const q = r.quantized;
        await t.test('quantized', (tq) => {
          if (q.outcome === 'skipped') tq.skip(q.reason);
          else assert.equal(q.outcome, 'passed', q.reason);
        });
      }
    });
  }

  test('no test fails', (t) => {
    assert.equal(results.length, cases.length, 'every listed test ran');
    assert.ok(cases.length > 0, `no node tests found under ${NODE_TEST_ROOT}`);
    const tally = totals(results);
    t.diagnostic(`float: ${tally.float.passed} passed, ${tally.float.skipped} skipped, ${tally.float.failed} failed`);
    t.diagnostic(`quantized: ${tally.quantized.passed} passed, ${tally.quantized.skipped} skipped, ${tally.quantized.failed} failed`);
    const failures = results.flatMap((r) => [
      ...(r.float.outcome === 'failed' ? [`${r.name}: ${r.float.reason}`] : []),
      ...(r.quantized?.outcome === 'failed' ? [`${r.name} (quantized): ${r.quantized.reason}`] : []),
    ]);
    assert.deepEqual(failures, []);
    assert.ok(tally.float.passed > 0 && tally.quantized.passed > 0, 'some tests pass on both paths');
  });
});
