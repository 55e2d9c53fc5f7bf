/**
 * Pad stores from the command line, as a user meets them (issue 11):
 * - defect 2: `precompute` into a fresh second store for an existing trusted state, then `infer`
 *   on it: works on the first inference, burns no pad, and `pads status --json` reports the usable
 *   pads of each store; an inference against an empty store burns nothing; a pad file deleted from a
 *   store is not counted as usable; a store made under another trusted state, or for another model,
 *   says exactly that (exit 5);
 * - defect 9: two concurrent `precompute --count 10` on one store give 20 pads;
 * - also: `infer --mode private` says that its result is not verified (text and --json).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { writeNpy } from '../../src/io/npy.js';
import { tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { TINY_DIMS, tinyModelBytes } from '../blind/blind-helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function slalom(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLALOM_DEBUG: '' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function slalomAsync(...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['bin/slalom.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLALOM_DEBUG: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((done) => child.on('close', (status) => done({ status, stdout, stderr })));
}

const ok = (r: Run): Run => {
  assert.equal(r.status, 0, r.stderr);
  return r;
};

describe('pad stores from the command line (issue 11)', () => {
  let dir: string;
  let model: string;
  let other: string;
  let input: string;
  const state = (): string => join(dir, 'state');
  const store = (name: string): string => join(dir, name);
  const status = (name: string, stateDir = state()): Record<string, unknown> => JSON.parse(ok(slalom('pads', 'status', '--store', store(name), '--state', stateDir, '--json')).stdout);
  const infer = (name: string, m = model, stateDir = state(), mode = 'private'): Run => slalom('infer', '--model', m, '--input', input, '--mode', mode, '--store', store(name), '--state', stateDir, '--json');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-cli-pads-'));
    model = join(dir, 'tiny.onnx');
    other = join(dir, 'other.onnx');
    writeFileSync(model, tinyModelBytes(41));
    writeFileSync(other, tinyModelBytes(42));
    input = join(dir, 'x.npy');
    writeFileSync(input, writeNpy(tensor(TINY_DIMS, Float64Array.from(new Rng(7).fillNormal(new Float32Array(64), 1))), 'float32'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('defect 2: a fresh second store for an existing state works on its first inference, no pad burnt; pads status --json counts usable pads', () => {
    ok(slalom('precompute', '--model', model, '--count', '3', '--store', store('a'), '--state', state()));
    ok(infer('a'));
    ok(slalom('precompute', '--model', model, '--count', '2', '--store', store('b'), '--state', state()));
    const first = JSON.parse(ok(infer('b')).stdout) as { mode: string; verified: unknown };
    assert.equal(first.mode, 'private');
    assert.equal(first.verified, false, '--json says a private result is not verified');
    const b = status('b');
    assert.equal(b.remaining, 1, JSON.stringify(b));
    assert.equal(b.consumed, 1);
    const a = status('a');
    assert.equal(a.remaining, 2, JSON.stringify(a));
    assert.equal(a.consumed, 1);
  });

  it('defect 2: an inference against an empty store fails (exit 5) and burns no pad', () => {
    const before = status('a');
    const r = infer('empty');
    assert.equal(r.status, 5, r.stderr);
    // A store never precomputed into is not created by infer, which names the command that fills it (issue 20).
    assert.match(r.stderr, /the pad store .*empty does not exist: fill it first with `slalom precompute --model .* --count 16 --store /);
    assert.deepEqual(status('a'), before);
  });

  it('defect 2: a pad file deleted from the store is not counted as usable', () => {
    const before = status('a');
    unlinkSync(join(store('a'), 'pads', `${before.nextIndex}.pad`));
    const after = status('a');
    assert.equal(after.remaining, (before.remaining as number) - 1, JSON.stringify(after));
    assert.equal(after.missing, 1);
  });

  it('defect 2: a store made under another trusted state, or for another model, says exactly that', () => {
    const foreign = infer('a', model, join(dir, 'another-state'));
    assert.equal(foreign.status, 5, foreign.stderr);
    assert.match(foreign.stderr, /sealed under another trusted state/);
    const st = slalom('pads', 'status', '--store', store('a'), '--state', join(dir, 'another-state'));
    assert.equal(st.status, 5, st.stderr);
    assert.match(st.stderr, /sealed under another trusted state/);
    const wrongModel = infer('a', other);
    assert.equal(wrongModel.status, 5, wrongModel.stderr);
    assert.match(wrongModel.stderr, /holds pads of model 'tiny' .*not of 'other'/);
  });

  it('defect 9: two concurrent precompute --count 10 on one store give 20 pads', async () => {
    const runs = await Promise.all([0, 1].map(() => slalomAsync('precompute', '--model', model, '--count', '10', '--store', store('c'), '--state', state(), '--json')));
    for (const r of runs) ok(r);
    const ranges = runs.map((r) => JSON.parse(r.stdout) as { from: number; to: number }).sort((x, y) => x.from - y.from);
    assert.ok(ranges[0]!.to <= ranges[1]!.from, `overlapping ranges ${JSON.stringify(ranges)}`);
    assert.equal(status('c').remaining, 20);
  });

  it('infer --mode private says its result is not verified (text; --json above); private+verified does not', () => {
    const text = ok(slalom('infer', '--model', model, '--input', input, '--mode', 'private', '--store', store('c'), '--state', state()));
    assert.match(text.stdout, /mode private {2}\(not verified: the accelerator's results are used unchecked/);
    const verified = JSON.parse(ok(infer('c', model, state(), 'private+verified')).stdout) as { verified?: unknown };
    assert.equal(verified.verified, true);
  });
});
