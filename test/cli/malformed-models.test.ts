/**
 * Malformed models through the CLI (issue 20, deliverable 6): no graph outputs, a negative or
 * unrepresentable declared size, a batch past the memory budget (10^6: refused at once, where it
 * used to allocate gigabytes first), a NaN weight, an infinite bias. Each is exit 3 with one
 * `slalom: …` line naming the node or tensor, no stack, nothing on stdout; `--memory-budget-mb`
 * moves the budget.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { EXIT_CODES } from '../../src/errors.js';
import { writeNpy } from '../../src/io/npy.js';
import { tensor } from '../../src/tensor/tensor.js';
import { MALFORMED_CASES, smallModel } from '../helpers/malformed-models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function slalom(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SLALOM_DEBUG: '' } });
  if (r.error) throw r.error;
  return r;
}

describe('malformed models through the CLI: exit 3, one line', () => {
  let dir: string;
  let input: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-malformed-'));
    input = join(dir, 'x.npy');
    writeFileSync(input, writeNpy(tensor([1, 3, 8, 8], new Float64Array(192).fill(0.5)), 'float32'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of MALFORMED_CASES) {
    it(`${c.name}: inspect and infer exit ${EXIT_CODES[c.code]} naming it`, () => {
      const path = join(dir, `${c.name}.onnx`);
      writeFileSync(path, c.bytes);
      for (const args of [['inspect', path], ['infer', '--model', path, '--input', input]]) {
        const r = slalom(...args);
        assert.equal(r.status, 3, `${args[0]}: status ${r.status}, stderr: ${r.stderr}`);
        const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
        assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
        assert.match(lines[0]!, /^slalom: /);
        assert.doesNotMatch(lines[0]!, /internal error/);
        for (const s of c.says) assert.ok(lines[0]!.includes(s), `'${lines[0]}' lacks '${s}'`);
        assert.equal(r.stdout, '');
      }
    });
  }

  it('--memory-budget-mb lowers or raises the budget', () => {
    const path = join(dir, 'batch64.onnx');
    writeFileSync(path, smallModel({ batch: 64 }));
    const refused = slalom('inspect', path, '--memory-budget-mb', '0.25');
    assert.equal(refused.status, 3, refused.stderr);
    assert.match(refused.stderr, /over the memory budget of 0\.25 MB/);
    const ok = slalom('inspect', path, '--memory-budget-mb', '1', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).inputDims, [64, 3, 8, 8]);
  });
});
