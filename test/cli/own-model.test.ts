/**
 * The README's "Your own model" walk-through, run as written on the model scripts/export_example.py
 * exported from PyTorch (test/fixtures/own-model/: a small CNN, torch.onnx.export at opset 13 with a
 * symbolic batch, its label sidecar and 16 calibration images; CI has no torch, so the export is
 * committed): quantize on the calibration images, compare with onnxruntime fp32, precompute pads,
 * and run a private, verified inference on an example image — with no warning about synthetic
 * calibration anywhere (issue 20, deliverable 8).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = 'test/fixtures/own-model';

function slalom(...args: string[]): unknown {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLALOM_DEBUG: '' } });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `slalom ${args.join(' ')}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /warning/, 'no warning: the model is calibrated on real images');
  return JSON.parse(r.stdout);
}

describe('your own model: a PyTorch export through quantize, compare, precompute and infer', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-own-model-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the committed export is small', () => {
    assert.ok(statSync(join(ROOT, FIXTURE, 'cnn.onnx')).size < 200_000);
  });

  it('runs the README walk-through', () => {
    const artifact = join(dir, 'cnn.slalom');
    const q = slalom('quantize', '--model', `${FIXTURE}/cnn.onnx`, '--calibration', `${FIXTURE}/calibration`, '--out', artifact, '--include-onnx') as any;
    assert.equal(q.linearLayers, 3);
    assert.equal(q.calibration.samples, 16);
    assert.deepEqual(q.inputs, [{ name: 'input', dims: [1, 1, 28, 28] }], 'the symbolic batch is bound to 1');

    const c = slalom('compare', '--model', artifact, '--inputs', 'examples') as any;
    assert.equal(c.count, 3);
    assert.equal(c.top1Agreement, 1);
    assert.ok(c.maxRelLogitError < 0.01, `relative logit error ${c.maxRelLogitError}`);

    const store = join(dir, 'pads');
    const state = join(dir, 'state');
    const p = slalom('precompute', '--model', artifact, '--count', '2', '--store', store, '--state', state) as any;
    assert.equal(p.to - p.from, 2);

    const r = slalom('infer', '--model', artifact, '--input', 'examples/fashion-mnist-0-boot.png', '--mode', 'private+verified', '--store', store, '--state', state, '--low-water', '0') as any;
    assert.equal(r.mode, 'private+verified');
    assert.equal(r.verified, true);
    assert.equal(r.predictions[0][0].label, 'Ankle boot', 'the trained export knows a boot');
  });
});
