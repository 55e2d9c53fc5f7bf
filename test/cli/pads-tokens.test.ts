/**
 * `slalom pads status` with a decoder (issue 22): a decoder's pad covers one token fed, so with the
 * decoder as --model the count is said in tokens (text and --json); a classifier's is not.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildZooModel } from '../../src/zoo/index.js';

function slalom(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLALOM_DEBUG: '' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pads status counts tokens for a decoder', () => {
  let dir: string;
  let model: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-pads-tokens-'));
    model = join(dir, 'gpt-tiny.onnx');
    writeFileSync(model, buildZooModel('gpt-tiny'));
    const r = slalom('precompute', '--model', model, '--count', '5', '--store', join(dir, 'pads'), '--state', join(dir, 'state'), '--kernels', 'js');
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says the pads left are tokens, in text and JSON', () => {
    const text = slalom('pads', 'status', '--store', join(dir, 'pads'), '--state', join(dir, 'state'), '--model', model);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /remaining 5 usable \(one per token fed: 5 tokens of prompt and generation\)/);
    const json = JSON.parse(slalom('pads', 'status', '--store', join(dir, 'pads'), '--state', join(dir, 'state'), '--model', model, '--json').stdout);
    assert.equal(json.remaining, 5);
    assert.equal(json.per, 'token');
    // Without --model the manifest does not say the model is a decoder: no unit claimed.
    const bare = JSON.parse(slalom('pads', 'status', '--store', join(dir, 'pads'), '--state', join(dir, 'state'), '--json').stdout);
    assert.equal(bare.per, undefined);
  });
});
