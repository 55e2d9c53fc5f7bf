/**
 * `slalom train` as a user runs it: killed with SIGKILL in the middle of a run and resumed, it ends
 * with the very weights (and ONNX bytes) of an uninterrupted run; its training receipt passes
 * `slalom client verify-receipt` and fails once changed; the trained model
 * loads in `slalom infer`. A tiny IDX data set in a temporary folder stands in for Fashion-MNIST.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../../src/io/npy.js';
import { tinyImages, writeIdxDataset } from '../helpers/training-data.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/slalom.js');
const work = mkdtempSync(join(tmpdir(), 'slalom-train-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
const dataDir = join(work, 'data');
writeIdxDataset(dataDir, tinyImages(8));

const slalom = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
const TRAIN = ['train', '--data-dir', dataDir, '--batch', '2', '--epochs', '2', '--steps', '6', '--seed', '4', '--accelerator', 'local', '--kernels', 'js', '--json'];

function summary(run: ReturnType<typeof slalom>): { finalStateHash: string; steps: number } {
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

describe('slalom train', () => {
  test('kill -9 mid-training, then --resume: the same final weights as an uninterrupted run', async () => {
    const ck = join(work, 'ck');
    const child = spawn(process.execPath, [BIN, ...TRAIN, '--checkpoint', ck, '--checkpoint-every', '1', '--out', join(work, 'killed.onnx')], { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise((done) => child.on('exit', done));
    const file = join(ck, 'checkpoint.json');
    const stepOf = (): number => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')).step;
      } catch {
        return 0; // not written yet (never half-written: the write is atomic)
      }
    };
    while (stepOf() < 2 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await exited;
    const reached = stepOf();
    assert.ok(reached >= 2 && reached < 6, `killed after step ${reached}`);
    assert.ok(!existsSync(join(work, 'killed.onnx')));

    const resumed = summary(slalom(...TRAIN, '--checkpoint', ck, '--resume', '--out', join(work, 'resumed.onnx')));
    const straight = summary(slalom(...TRAIN, '--out', join(work, 'straight.onnx')));
    assert.equal(resumed.steps, 6);
    assert.equal(resumed.finalStateHash, straight.finalStateHash);
    assert.deepEqual(readFileSync(join(work, 'resumed.onnx')), readFileSync(join(work, 'straight.onnx')));
  });

  test('the training receipt verifies and fails once changed; the model loads in slalom infer', () => {
    const receiptFile = join(work, 'receipt.json');
    const model = join(work, 'trained.onnx');
    const out = summary(slalom(...TRAIN, '--steps', '2', '--out', model, '--receipt-out', receiptFile));
    const saved = JSON.parse(readFileSync(receiptFile, 'utf8'));
    assert.equal(saved.receipt.body.finalStateHash, out.finalStateHash);
    assert.equal(saved.receipt.body.steps, 2);
    assert.equal(saved.receipt.body.integrity, 'freivalds');
    const ok = slalom('client', 'verify-receipt', receiptFile, '--allow-development', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).valid, true);

    // One changed field through the CLI (every field is changed in test/attest/training-receipt.test.ts).
    const tampered = join(work, 'tampered.json');
    writeFileSync(tampered, JSON.stringify({ ...saved, receipt: { ...saved.receipt, body: { ...saved.receipt.body, steps: 3 } } }));
    const bad = slalom('client', 'verify-receipt', tampered, '--allow-development');
    assert.equal(bad.status, 7, bad.stderr);
    assert.match(bad.stderr, /training receipt does not verify/);

    const image = join(work, 'item.npy');
    writeFileSync(image, writeNpy({ dims: [1, 1, 28, 28], data: new Float64Array(784).fill(0.5) }));
    const infer = slalom('infer', '--model', model, '--input', image, '--mode', 'verified', '--accelerator', 'local', '--json');
    assert.equal(infer.status, 0, infer.stderr);
  });

  test('--arch vit-fashion-mnist from the committed ViT: the receipt names the architecture and the model loads in slalom infer', () => {
    const model = join(work, 'vit.onnx');
    const receiptFile = join(work, 'vit-receipt.json');
    const out = summary(slalom(...TRAIN, '--steps', '1', '--arch', 'vit-fashion-mnist', '--model', 'models/vit-fashion-mnist.onnx', '--optimizer', 'adam', '--lr', '0.0005', '--out', model, '--receipt-out', receiptFile));
    const body = JSON.parse(readFileSync(receiptFile, 'utf8')).receipt.body;
    assert.equal(body.architecture, 'vit-fashion-mnist');
    assert.equal(body.hyperparameters.architecture, 'vit-fashion-mnist');
    assert.equal(body.finalStateHash, out.finalStateHash);
    assert.equal(body.verification.products, 29);
    const image = join(work, 'vit-item.npy');
    writeFileSync(image, writeNpy({ dims: [1, 1, 28, 28], data: new Float64Array(784).fill(0.5) }));
    const infer = slalom('infer', '--model', model, '--input', image, '--mode', 'verified', '--accelerator', 'local', '--json');
    assert.equal(infer.status, 0, infer.stderr);
    const wrong = slalom(...TRAIN, '--steps', '1', '--arch', 'fashion-mnist-cnn', '--model', 'models/vit-fashion-mnist.onnx');
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /the model is not a fashion-mnist-cnn: tensor 'conv1.weight' is missing/);
  });
});
