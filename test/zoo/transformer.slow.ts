/**
 * The full-size transformer encoders of the zoo (slow): vit-tiny and bert-base have timm's and
 * Hugging Face's parameter counts (BERT without its embedding tables, whose lookup precedes the
 * model's input), agree with onnxruntime fp32 in the float graph, and run in every mode (the private
 * ones also with the memory pool) bit-identical to baseline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { SlalomModel } from '../../src/runtime/model.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { assertAgreesWithOrt } from '../helpers/ort-agree.js';
import { logitsInEveryMode, syntheticInput } from '../runtime/modes-helpers.js';

/** timm vit_tiny_patch16_224; bert-base-uncased (109 482 240) less its embedding tables (23 835 648), plus a 2-way classifier (1 538). */
const PARAMS = { 'vit-tiny': 5_717_416, 'bert-base': 85_648_130 } as const;

for (const name of ['vit-tiny', 'bert-base'] as const) {
  test(`${name}: parameters, float graph against onnxruntime, every mode bit-identical to baseline`, { timeout: 3_600_000 }, async () => {
    const bytes = buildZooModel(name, { seed: 1 });
    const onnx = fromBinary(ModelProtoSchema, bytes);
    const params = onnx.graph!.initializer.filter((t) => !t.name.startsWith('const.') && !t.name.startsWith('shape.') && t.dataType === 1).reduce((n, t) => n + t.dims.reduce((a, d) => a * Number(d), 1), 0);
    assert.equal(params, PARAMS[name]);
    // Calibrated on the input it runs, among others: with random weights, bert-base's attention output
    // projections reach up to 7× the maximum calibrated on four other inputs, past the wrap-around
    // threshold (an OverflowError, never a silent wrap); this test is about the modes, not calibration.
    const dims = name === 'bert-base' ? [1, 128, 768] : [1, 3, 224, 224];
    const x = syntheticInput(dims);
    const model = await SlalomModel.load(bytes, { calibration: [x, ...[1, 2, 3].map((seed) => syntheticInput(dims, seed))] });
    await assertAgreesWithOrt(bytes, [x], 1e-3, 1e-4, name);
    const logits = await logitsInEveryMode(model, x);
    const base = Array.from(logits.get('baseline')!);
    for (const [mode, l] of logits) assert.deepEqual(Array.from(l), base, `mode ${mode} differs from baseline`);
  });
}
