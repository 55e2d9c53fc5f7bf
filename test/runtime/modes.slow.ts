/**
 * Every zoo classifier (not the decoders, which take token ids), every mode: bit-identical logits to
 * baseline, and fused passes identical to separate ones (slow: VGG16 and ResNet-50).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlalomModel } from '../../src/runtime/model.js';
import { buildZooModel, ZOO_CLASSIFIERS } from '../../src/zoo/index.js';
import { logitsInEveryMode, syntheticInput } from './modes-helpers.js';

for (const name of ZOO_CLASSIFIERS) {
  test(`${name}: every mode is bit-identical to baseline`, { timeout: 1_800_000 }, async () => {
    const model = await SlalomModel.load(buildZooModel(name, { seed: 1 }));
    const logits = await logitsInEveryMode(model, syntheticInput(model.inputDims));
    const base = Array.from(logits.get('baseline')!);
    for (const [mode, l] of logits) assert.deepEqual(Array.from(l), base, `mode ${mode} differs from baseline`);
    // Every fusion off (ReLU/Clip, pools and Adds in the boundary pass, the next layer's grid): the owners' passes apart.
    const separate = (await model.infer(syntheticInput(model.inputDims), { fuse: false })).logits;
    assert.deepEqual(Array.from(separate), base, 'fused and separate passes differ');
  });
}
