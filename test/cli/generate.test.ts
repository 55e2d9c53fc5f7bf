/**
 * `slalom generate`, spawned as a user runs it, on the zoo's gpt-tiny (token ids: it has no
 * tokenizer): greedy tokens are the same in baseline and private+verified (one pad per token fed,
 * from a memory pool), streamed on stdout with the summary (and the warning that it was calibrated on
 * random tokens) on stderr; --json gives one object; a
 * model that is not a decoder, `infer` on a decoder and a bad prompt each get one line and exit 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildZooModel } from '../../src/zoo/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;

function slalom(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLALOM_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('slalom generate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-cli-generate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const model = join(dir, 'gpt-tiny.onnx');
  writeFileSync(model, buildZooModel('gpt-tiny'));

  it('streams the same greedy tokens in baseline and private+verified, one pad per token fed', () => {
    const base = slalom('generate', '--model', model, '--tokens', '1,2,3', '--max-tokens', '8');
    assert.equal(base.code, 0, base.stderr);
    assert.match(base.stdout.trim(), /^\d+( \d+){7}$/);
    assert.match(base.stderr, /mode baseline: 8 token\(s\) in 8 step\(s\).*finish: length/);
    assert.match(base.stderr, /warning: gpt-tiny was calibrated on 4 sequences of seeded random tokens, not real text/);
    const p = slalom('generate', '--model', model, '--tokens', '1,2,3', '--max-tokens', '8', '--mode', 'private+verified', '--pads', 'memory', '--pad-pool', '4');
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout, base.stdout);
    assert.match(p.stderr, /pads: 10 \(one per token fed\), memory/);
    assert.match(p.stderr, /verified: preprocessed Freivalds/);
  });

  it('--json: one object with each sequence, the pads and the soundness', () => {
    const r = slalom('generate', '--model', model, '--tokens', '5', '--tokens', '6,7', '--max-tokens', '3', '--mode', 'verified', '--temperature', '1', '--seed', '9', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.mode, 'verified');
    assert.deepEqual(out.sequences.map((s: { prompt: number[]; tokens: number[]; finish: string }) => [s.prompt, s.tokens.length, s.finish]), [[[5], 3, 'length'], [[6, 7], 3, 'length']]);
    assert.equal(out.steps, 3);
    assert.equal(out.tokensFed, 3 + 2 * 2);
    assert.ok(out.verification.soundnessLog2PerInference < -40);
  });

  it('one line and exit 2 for what it cannot do', () => {
    const notDecoder = slalom('generate', '--model', 'models/fashion-mnist.onnx', '--tokens', '1');
    assert.equal(notDecoder.code, 2);
    assert.match(notDecoder.stderr, /is not a decoder \(it takes no input_ids\): use `slalom infer`/);
    const noPrompt = slalom('generate', '--model', model);
    assert.equal(noPrompt.code, 2);
    assert.match(noPrompt.stderr, /give a prompt/);
    const text = slalom('generate', '--model', model, '--prompt', 'hello');
    assert.equal(text.code, 2);
    assert.match(text.stderr, /has no tokenizer: give token ids/);
    const infer = slalom('infer', '--model', model, '--input', 'examples/fashion-mnist-0-boot.png');
    assert.equal(infer.code, 2);
    assert.match(infer.stderr, /is a decoder: it generates text token by token/);
  });
});
