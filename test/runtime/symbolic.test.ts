/**
 * The PaddleOCR case (issue 13): a model with a symbolic input size runs on a .npy of concrete shape
 * without being told the shape; the default seeded-normal calibration overflows on real text lines,
 * with an error saying which flag fixes it; calibrated on real text lines and saved as an artifact,
 * it loads and runs every mode bit-identical to baseline, and agrees with onnxruntime.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { argmax } from '../../src/api/predictions.js';
import { OverflowError } from '../../src/errors.js';
import { writeNpy } from '../../src/io/npy.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { OCR_LINE, ocrModel, textLines } from '../helpers/ocr-model.js';
import { logitsInEveryMode } from './modes-helpers.js';

describe('a model with a symbolic input size (PaddleOCR-style)', () => {
  let dir: string;
  let onnx: string;
  let line: string;
  let calibration: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-symbolic-'));
    onnx = join(dir, 'ocr.onnx');
    writeFileSync(onnx, ocrModel());
    line = join(dir, 'line.npy');
    writeFileSync(line, writeNpy(textLines(1, 99), 'float32'));
    calibration = join(dir, 'lines.npy');
    writeFileSync(calibration, writeNpy(textLines(8, 1), 'float32'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('takes its shape from the given input; the default calibration overflows on a real text line and says which flag fixes it', async () => {
    const model = await SlalomModel.load(onnx, { sample: line });
    assert.deepEqual(model.inputDims, OCR_LINE);
    assert.equal(model.provenance.calibration.source, 'seeded-normal:4');
    await assert.rejects(model.infer(textLines(1, 99)), (e: unknown) => {
      assert.ok(e instanceof OverflowError, String(e));
      assert.equal(e.layer, 'p2o.Conv.6');
      assert.match(e.message, /^p2o\.Conv\.6: output magnitude \d+ exceeds/);
      assert.match(e.message, /seeded normal inputs/);
      assert.match(e.message, /--calibration/);
      assert.match(e.message, /--margin/);
      return true;
    });
  });

  it('a symbolic size with neither an input nor calibration inputs is a one-line error naming the dimension', async () => {
    await assert.rejects(SlalomModel.load(onnx), /model input 'x' has symbolic dimension 'H' at axis 2: give an input or calibration inputs/);
  });

  it('calibrated on real text lines: the shape comes from them; the artifact loads and runs every mode bit-identical to baseline', async () => {
    const model = await SlalomModel.load(onnx, { calibration });
    assert.deepEqual(model.inputDims, OCR_LINE);
    assert.equal(model.provenance.calibration.samples, 8);
    assert.equal(model.outputKind, 'probabilities');
    const path = join(dir, 'ocr.slalom');
    model.save(path);
    const artifact = await SlalomModel.load(path);
    assert.equal(artifact.weightsHash, model.weightsHash);
    for (const seed of [99, 100]) {
      const x = textLines(1, seed);
      const logits = await logitsInEveryMode(artifact, x);
      const base = logits.get('baseline')!;
      assert.equal(logits.size, 7, 'five modes, the private two also with the memory pool');
      for (const [mode, l] of logits) assert.deepEqual(Array.from(l), Array.from(base), `mode ${mode} differs from baseline`);
      assert.deepEqual(Array.from((await model.infer(x)).logits), Array.from(base), 'the ONNX-loaded model gives the same');
    }
  });

  it('calibrated on real text lines, it agrees with onnxruntime on held-out lines', async () => {
    const model = await SlalomModel.load(onnx, { calibration });
    const session = await createReferenceSession(model.onnxBytes);
    try {
      const lines = textLines(12, 7);
      const per = lines.data.length / 12;
      for (let i = 0; i < 12; i++) {
        const x = { dims: OCR_LINE, data: lines.data.slice(i * per, (i + 1) * per) };
        const ref = (await session.run([x])).get('probs')!.data;
        const ours = (await model.infer(x)).logits;
        assert.equal(argmax(ours), argmax(ref), `line ${i}`);
        for (let j = 0; j < ref.length; j++) assert.ok(Math.abs(ours[j]! - ref[j]!) < 0.02, `line ${i} class ${j}: ${ours[j]} vs ${ref[j]}`);
      }
    } finally {
      await session.close();
    }
  });
});
