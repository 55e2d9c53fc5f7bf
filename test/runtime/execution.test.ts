/**
 * The execution record (src/runtime/execution.ts), as a session reports it: baseline says every layer
 * ran in the trusted runtime; outsourced, on the accelerator unchecked; verified, on the accelerator
 * under Freivalds' check. Under `recompute` with an accelerator that lies on layer 1, the run says
 * layer 0 was checked, layer 1 recomputed (with the incident) and the rest trusted, and its soundness
 * is the union bound over the one checked layer; the next run (the accelerator distrusted) takes no
 * pad, says every layer ran in the trusted runtime, and claims no soundness.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../src/accel/local.js';
import { createSession } from '../../src/api/session.js';
import { P } from '../../src/field/prime.js';
import { FIELD_SET } from '../../src/field/random.js';
import { checkedSoundnessLog2, type LayerRun } from '../../src/runtime/execution.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { log2ErrorPerInference } from '../../src/verify/soundness.js';
import { CheatingBackend } from '../accel/cheating.js';

const FASHION = 'models/fashion-mnist.onnx';
const BOOT = 'examples/fashion-mnist-0-boot.png';

describe('execution record', async () => {
  const model = await SlalomModel.load(FASHION);
  const x = await model.loadInput(BOOT);
  const names = model.quantized.layers.map((l) => l.name);

  it('checkedSoundnessLog2: the union bound over the checked layers only; null when none was checked', () => {
    const v = { variant: 'preprocessed' as const, repetitions: 2, sampleSet: FIELD_SET };
    const run = (...ran: LayerRun['ran'][]): LayerRun[] => ran.map((r, i) => ({ layer: `l${i}`, ran: r }));
    assert.equal(checkedSoundnessLog2(v, run('trusted', 'trusted')), null);
    assert.equal(checkedSoundnessLog2(v, run('accelerator+freivalds', 'trusted', 'accelerator+freivalds')), log2ErrorPerInference('preprocessed', P, 2, 2));
  });

  it('says where each layer ran in baseline, outsourced and verified', async () => {
    const expected = { baseline: 'trusted', outsourced: 'accelerator (unchecked)', verified: 'accelerator+freivalds' } as const;
    for (const mode of ['baseline', 'outsourced', 'verified'] as const) {
      const s = await createSession(model, { mode });
      try {
        const r = await s.run(x);
        assert.deepEqual(r.execution, [names.map(() => expected[mode])].map((row) => row.map((ran, i) => ({ layer: names[i], ran, ...(ran === 'trusted' ? { reason: 'mode baseline' } : {}) }))));
        assert.deepEqual(r.incidents, []);
      } finally {
        await s.close();
      }
    }
  });

  it('under recompute, after a lie: the recomputed layer, the incident, the checked-only soundness; then no pad and every layer trusted', async () => {
    const liar = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [1] });
    const s = await createSession(model, { mode: 'private+verified', accelerator: liar, onFailure: 'recompute', pads: { source: 'memory', capacity: 2 } });
    try {
      const first = await s.run(x);
      assert.deepEqual(first.execution[0]!.map((l) => l.ran), names.map((_, i) => (i === 0 ? 'accelerator+freivalds' : 'trusted')));
      assert.match(first.execution[0]![1]!.reason!, /recomputed .*SLALOM_ERR_INTEGRITY/);
      assert.match(first.execution[0]![2]!.reason!, /no longer asked/);
      assert.deepEqual(first.incidents.map((i) => [i.layer, i.code]), [[names[1], 'SLALOM_ERR_INTEGRITY']]);
      assert.equal(first.verification!.soundnessLog2PerInference, log2ErrorPerInference(first.verification!.variant as 'preprocessed', P, 1, first.verification!.repetitions));
      assert.equal(first.mode, 'private+verified');
      assert.deepEqual(first.pads!.indices, [0]);

      const second = await s.run(x);
      assert.deepEqual(second.execution[0]!.map((l) => l.ran), names.map(() => 'trusted'));
      assert.equal(second.mode, 'baseline');
      assert.equal(second.verification, undefined);
      assert.equal(second.pads, undefined, 'no pad is taken for an inference the accelerator has no part in');
      assert.deepEqual(Array.from(second.outputs[model.outputNames[0]!]!.data), Array.from(first.outputs[model.outputNames[0]!]!.data));
      assert.equal(liar.tampered.length, 1);
    } finally {
      await s.close();
    }
  });
});
