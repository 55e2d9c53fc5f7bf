/**
 * What a new user trips over (issue 20, deliverable 8): the warning of a model calibrated on seeded
 * random inputs (one line, naming --calibration; none with calibration data or from an artifact);
 * `precompute` stopped by Ctrl-C says what it saved and shows the cursor again, prints plain
 * progress lines when stderr is no terminal, and a run that died shows in `pads status` as an
 * abandoned range, not as pads being precomputed; `infer --store <missing>` creates nothing and
 * gives the whole precompute command; `accelerator serve --model-repository` refuses a missing
 * directory and warns about an empty one; `infer` prints the accelerator's setup as its own phase.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { writeNpy } from '../../src/io/npy.js';
import { tensor } from '../../src/tensor/tensor.js';
import { smallModel } from '../helpers/malformed-models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FASHION = join(ROOT, 'models/fashion-mnist.onnx');
const BOOT = join(ROOT, 'examples/fashion-mnist-0-boot.png');
const WARNING = /^warning: .* calibrated on \d+ seeded random inputs.*--calibration/;
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

interface Run {
  status: number | null;
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function slalom(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLALOM_DEBUG: '' } });
  if (r.error) throw r.error;
  return r;
}

/** Runs slalom and sends `signal` once stderr matches `when`. */
function slalomSignalled(signal: NodeJS.Signals, when: RegExp, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['bin/slalom.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLALOM_DEBUG: '' } });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (!sent && when.test(stderr)) {
      sent = true;
      child.kill(signal);
    }
  });
  return new Promise((done) => child.on('close', (status, sig) => done({ status, signal: sig, stdout, stderr })));
}

const hasScript = (): boolean => spawnSync('script', ['--version']).status === 0;

/**
 * Runs slalom on a terminal (util-linux script(1) gives it one) and types Ctrl-C once its output
 * matches `when`, as a user would; resolves with everything the terminal showed.
 */
function ctrlCOnTerminal(when: RegExp, ...args: string[]): Promise<string> {
  const command = [process.execPath, 'bin/slalom.js', ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SLALOM_DEBUG: '' } });
  let out = '';
  let typed = false;
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (!typed && when.test(out)) {
      typed = true;
      child.stdin.write('\x03');
    }
  });
  return new Promise((done) => child.on('close', (status) => {
    assert.equal(status, 130, out);
    done(out);
  }));
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

describe('the new user path from the command line (issue 20)', () => {
  let dir: string;
  let small: string;
  let input: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-new-user-'));
    small = join(dir, 'small.onnx');
    writeFileSync(small, smallModel());
    input = join(dir, 'x.npy');
    writeFileSync(input, writeNpy(tensor([1, 3, 8, 8], Float64Array.from({ length: 192 }, (_, i) => Math.sin(i))), 'float32'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a model calibrated on seeded random inputs says so once, naming --calibration; calibration data or an artifact say nothing', () => {
    for (const args of [['inspect', small], ['infer', '--model', small, '--input', input]]) {
      const r = slalom(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(lines(r.stderr).filter((l) => WARNING.test(l)).length, 1, r.stderr);
    }
    const calibrated = slalom('infer', '--model', small, '--input', input, '--calibration', input);
    assert.equal(calibrated.status, 0, calibrated.stderr);
    assert.equal(calibrated.stderr, '');
    const artifact = join(dir, 'small.slalom');
    const q = slalom('quantize', '--model', small, '--out', artifact);
    assert.equal(q.status, 0, q.stderr);
    assert.deepEqual(lines(q.stderr).filter((l) => l.startsWith('warning:')).length, 1, 'quantize warns once');
    const fromArtifact = slalom('infer', '--model', artifact, '--input', input);
    assert.equal(fromArtifact.status, 0, fromArtifact.stderr);
    assert.equal(fromArtifact.stderr, '');
  });

  it('infer prints the accelerator setup (weights registration or upload) as its own phase', () => {
    const r = slalom('infer', '--model', small, '--input', input, '--calibration', input, '--mode', 'verified');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^model load [\d.]+ m?s; accelerator setup \(weights registered or uploaded, once per session\) [\d.]+ m?s$/m);
    const json = JSON.parse(slalom('infer', '--model', small, '--input', input, '--calibration', input, '--mode', 'verified', '--json').stdout);
    assert.equal(typeof json.timings.acceleratorSetup, 'number');
  });

  it('infer --store <missing dir> creates nothing and gives the whole precompute command', () => {
    const missing = join(dir, 'no-such-store');
    const r = slalom('infer', '--model', FASHION, '--input', BOOT, '--mode', 'private', '--store', missing, '--state', join(dir, 'state-missing'));
    assert.equal(r.status, 5, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.ok(r.stderr.includes(`does not exist: fill it first with \`slalom precompute --model ${FASHION} --count 16 --store ${missing} --state ${join(dir, 'state-missing')}\``), r.stderr);
    assert.equal(existsSync(missing), false, 'the store directory was created');
  });

  it('accelerator serve refuses a missing --model-repository and warns about an empty one', async () => {
    const typo = slalom('accelerator', 'serve', '--port', '0', '--model-repository', join(dir, 'repo-typo'));
    assert.equal(typo.status, 2, typo.stderr);
    assert.equal(lines(typo.stderr).length, 1);
    assert.match(typo.stderr, /--model-repository .*repo-typo is not a directory/);
    const empty = join(dir, 'repo-empty');
    mkdirSync(empty);
    const r = await slalomSignalled('SIGTERM', /listening on/, 'accelerator', 'serve', '--port', '0', '--model-repository', empty);
    assert.match(r.stderr, /^warning: the model repository .*repo-empty holds no models/m);
  });

  describe('precompute, stopped and killed', () => {
    const state = (): string => join(dir, 'state');
    const store = (): string => join(dir, 'pads');
    const status = (): string => {
      const r = slalom('pads', 'status', '--store', store(), '--state', state());
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };

    it('prints plain progress lines when stderr is not a terminal; Ctrl-C saves what is written, says so and exits 130', async () => {
      const r = await slalomSignalled('SIGINT', /^precompute: \d+\/200 pads/m, 'precompute', '--model', FASHION, '--count', '200', '--store', store(), '--state', state());
      assert.equal(r.status, 130, r.stderr);
      assert.doesNotMatch(r.stderr, /\x1b/, 'no control characters in a log');
      const m = /^interrupted: saved (\d+) pads \(indices 0\.\.(\d+)\) of 200/m.exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.equal(Number(m[2]) + 1, Number(m[1]));
      const s = status();
      assert.match(s, new RegExp(`remaining ${m[1]} usable`));
      assert.doesNotMatch(s, /being precomputed|abandoned/);
    });

    it('on a terminal, Ctrl-C stops the bar and shows the cursor again', { skip: hasScript() ? false : 'needs util-linux script(1) for a terminal' }, async () => {
      const out = await ctrlCOnTerminal(/precompute \[/, 'precompute', '--model', FASHION, '--count', '200', '--store', store(), '--state', state());
      assert.ok(out.includes(HIDE_CURSOR), 'the bar hid the cursor');
      assert.ok(out.lastIndexOf(SHOW_CURSOR) > out.lastIndexOf(HIDE_CURSOR), `the cursor is shown again: ${JSON.stringify(out.slice(-300))}`);
      assert.match(out, /interrupted: saved \d+ pads \(indices \d+\.\.\d+\) of 200/);
    });

    it('on a terminal, Ctrl-C while the model loads shows the cursor again', { skip: hasScript() ? false : 'needs util-linux script(1) for a terminal' }, async () => {
      const out = await ctrlCOnTerminal(/importing the ONNX model|calibrating/, 'precompute', '--model', FASHION, '--count', '200', '--store', store(), '--state', state());
      assert.ok(out.includes(HIDE_CURSOR), 'the bar hid the cursor');
      assert.ok(out.lastIndexOf(SHOW_CURSOR) > out.lastIndexOf(HIDE_CURSOR), `the cursor is shown again: ${JSON.stringify(out.slice(-300))}`);
    });

    it('a run that died shows in pads status as an abandoned range, not as pads being precomputed', async () => {
      const r = await slalomSignalled('SIGKILL', /^precompute: \d+\/200 pads/m, 'precompute', '--model', FASHION, '--count', '200', '--store', store(), '--state', state());
      assert.equal(r.signal, 'SIGKILL');
      const s = status();
      assert.doesNotMatch(s, /being precomputed/);
      assert.match(s, /abandoned range \d+\.\.\d+ \(run \d+ died\)/);
    });
  });
});
