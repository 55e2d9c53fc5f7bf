/**
 * The session API (api/session.ts): a session owns its mode, so a result names the mode that ran;
 * outputs come back named with their shapes, predictions per batch item (a final Softmax is not
 * applied twice); models with several inputs take a record; protocols carry their mode, so the old
 * `openProtocol` + `model.infer` path cannot mislabel a result; a script that forgets `close()` exits.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createSession } from '../../src/api/session.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { writeNpy } from '../../src/io/npy.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { ExecutionLog } from '../../src/runtime/execution.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { syntheticInput } from '../runtime/modes-helpers.js';

const FASHION = 'models/fashion-mnist.onnx';
const BOOT = 'examples/fashion-mnist-0-boot.png';

/** image [1,3,8,8] → Conv → Relu → GAP → Flatten ┐
 *  meta [1,4] → Gemm → Relu ───────────────────────┴ Concat → Gemm → Softmax */
function twoInputModel(): Uint8Array {
  const rng = new Rng(5);
  const normal = (n: number, std: number): Float32Array => rng.fillNormal(new Float32Array(n), std);
  return new OnnxBuilder('two-inputs')
    .input('image', [1, 3, 8, 8])
    .input('meta', [1, 4])
    .initializer('conv.w', [4, 3, 3, 3], normal(108, 0.3))
    .initializer('conv.b', [4], normal(4, 0.1))
    .initializer('meta.w', [4, 4], normal(16, 0.5))
    .initializer('meta.b', [4], normal(4, 0.1))
    .initializer('fc.w', [5, 8], normal(40, 0.7))
    .initializer('fc.b', [5], normal(5, 0.1))
    .node('Conv', ['image', 'conv.w', 'conv.b'], ['c'], { pads: [1, 1, 1, 1] }, 'conv')
    .node('Relu', ['c'], ['rc'], {}, 'relu_c')
    .node('GlobalAveragePool', ['rc'], ['g'], {}, 'gap')
    .node('Flatten', ['g'], ['f'], {}, 'flatten')
    .node('Gemm', ['meta', 'meta.w', 'meta.b'], ['m'], { transB: 1 }, 'meta_fc')
    .node('Relu', ['m'], ['rm'], {}, 'relu_m')
    .node('Concat', ['f', 'rm'], ['joined'], { axis: 1 }, 'concat')
    .node('Gemm', ['joined', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc')
    .node('Softmax', ['logits'], ['probs'], { axis: 1 }, 'softmax')
    .output('probs', [1, 5])
    .toBytes();
}

function fashionBatch(n: number): Tensor {
  const data = new Float64Array(n * 784);
  for (let k = 0; k < n; k++) data.set(syntheticInput([1, 1, 28, 28], k + 1).data, k * 784);
  return tensor([n, 1, 28, 28], data);
}

describe('createSession', () => {
  let model: SlalomModel;
  let dir: string;

  before(async () => {
    model = await SlalomModel.load(FASHION);
    dir = mkdtempSync(join(tmpdir(), 'slalom-session-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs an image in verified mode: named outputs with shapes, labelled predictions, the mode that ran', async () => {
    const s = await createSession(model, { mode: 'verified', top: 3 });
    try {
      const r = await s.run(await model.loadInput(BOOT));
      assert.equal(r.mode, 'verified');
      assert.equal(r.insecure, false);
      assert.equal(r.items, 1);
      assert.deepEqual(r.outputNames, ['logits']);
      assert.deepEqual(r.outputs['logits']!.dims, [1, 10]);
      assert.equal(r.predictions!.length, 1);
      assert.equal(r.predictions![0]!.length, 3);
      assert.equal(r.predictions![0]![0]!.label, 'Ankle boot');
      assert.ok(r.verification !== undefined && r.verification.repetitions >= 1 && r.verification.soundnessLog2PerInference <= -40);
      // The check runs inside the boundary passes (one 'boundary' phase per layer; fuse: false times 'verify' apart).
      assert.ok(r.timings['boundary']! > 0 && r.acceleratorMs > 0);
      const base = (await model.infer(await model.loadInput(BOOT))).logits;
      assert.deepEqual(Array.from(r.outputs['logits']!.data), Array.from(base));
    } finally {
      await s.close();
    }
    await assert.rejects(s.run(syntheticInput(model.inputDims)), /the session is closed/);
  });

  it('a path loads the model; private+verified with pads runs and names its mode', async () => {
    const stateDir = join(dir, 'state');
    const store = join(dir, 'store');
    const kernels = await createExactKernels('js');
    await precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(store), 2, kernels);
    await kernels.close();
    const s = await createSession(FASHION, { mode: 'private+verified', pads: { store, stateDir } });
    try {
      const x = syntheticInput(s.model.inputDims, 4);
      const r = await s.run(x);
      assert.equal(r.mode, 'private+verified');
      assert.deepEqual(Array.from(r.outputs['logits']!.data), Array.from((await model.infer(x)).logits));
    } finally {
      await s.close();
    }
  });

  it('items that ran in the trusted runtime for want of a pad are named; a run that was all local says baseline', async () => {
    const stateDir = join(dir, 'state-local');
    const store = join(dir, 'store-local');
    const kernels = await createExactKernels('js');
    await precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(store), 1, kernels);
    await kernels.close();
    const s = await createSession(model, { mode: 'private', pads: { store, stateDir, onExhausted: 'local', lowWater: 0 } });
    try {
      const mixed = await s.run(fashionBatch(2));
      assert.equal(mixed.mode, 'private');
      assert.deepEqual(mixed.ranLocally, [1]);
      assert.equal(mixed.incidents.length, 1);
      const local = await s.run(fashionBatch(1));
      assert.equal(local.mode, 'baseline');
      assert.equal(local.ranLocally, undefined);
      assert.deepEqual(Array.from(local.outputs['logits']!.data), Array.from((await model.infer(syntheticInput([1, 1, 28, 28], 1))).logits));
    } finally {
      await s.close();
    }
  });

  it('a batch of N runs item by item: one prediction list per item, outputs stacked', async () => {
    const s = await createSession(model, { mode: 'outsourced' });
    try {
      const batch = fashionBatch(3);
      const r = await s.run(batch);
      assert.equal(r.mode, 'outsourced');
      assert.equal(r.insecure, true);
      assert.equal(r.items, 3);
      assert.deepEqual(r.outputs['logits']!.dims, [3, 10]);
      assert.equal(r.predictions!.length, 3);
      for (let k = 0; k < 3; k++) {
        const single = (await model.infer(syntheticInput([1, 1, 28, 28], k + 1))).logits;
        assert.deepEqual(Array.from(r.outputs['logits']!.data.subarray(k * 10, (k + 1) * 10)), Array.from(single), `item ${k}`);
        assert.equal(r.predictions![k]![0]!.index, single.indexOf(Math.max(...single)));
      }
      await assert.rejects(s.run(tensor([2, 1, 27, 28])), (e: unknown) => e instanceof InvalidArgumentError && /expects \[1×1×28×28\] or a batch/.test(e.message));
    } finally {
      await s.close();
    }
  });

  it('a model with several inputs takes a record of tensors; calibration, sessions and loadInput handle every input', async () => {
    const bytes = twoInputModel();
    const m = await SlalomModel.load(bytes);
    assert.deepEqual(m.inputs.map((i) => i.name), ['image', 'meta']);
    assert.ok(m.quantized.layers.some((l) => l.name === 'meta_fc' && l.stats.maxAbsIn > 0), 'the second input is calibrated');
    const image = syntheticInput([1, 3, 8, 8], 2);
    const meta = syntheticInput([1, 4], 3);
    const ref = await createReferenceSession(bytes);
    const expected = (await ref.run([image, meta])).get('probs')!.data;
    await ref.close();
    for (const mode of ['baseline', 'verified'] as const) {
      const s = await createSession(m, { mode });
      try {
        const r = await s.run({ image, meta });
        assert.equal(r.mode, mode);
        const probs = r.outputs['probs']!.data;
        // The model ends in Softmax: scores are its own probabilities, not a softmax of them.
        assert.ok(Math.abs(r.predictions![0]![0]!.score - Math.max(...probs)) < 1e-12);
        for (let j = 0; j < 5; j++) assert.ok(Math.abs(probs[j]! - expected[j]!) < 0.02, `${mode} class ${j}: ${probs[j]} vs ${expected[j]}`);
        await assert.rejects(s.run(image), /takes 2 inputs \(image, meta\): pass a record/);
        await assert.rejects(s.run({ image }), /no tensor for input 'meta'/);
        await assert.rejects(s.run({ image, meta, extra: meta }), /has no input 'extra'/);
      } finally {
        await s.close();
      }
    }
    const files = { image: join(dir, 'image.npy'), meta: join(dir, 'meta.npy') };
    writeFileSync(files.image, writeNpy(image, 'float32'));
    writeFileSync(files.meta, writeNpy(meta, 'float32'));
    const loaded = await m.loadInput(files);
    assert.deepEqual(loaded['image']!.dims, [1, 3, 8, 8]);
    await assert.rejects(m.loadInput(files.image), /takes 2 inputs/);
  });
});

describe('protocols carry their mode', () => {
  it('openProtocol(outsourced) then infer(mode: private+verified) is refused; without a mode the result says outsourced', async () => {
    const model = await SlalomModel.load(FASHION);
    const x = syntheticInput(model.inputDims);
    const protocol = await openProtocol(model, 'outsourced');
    try {
      await assert.rejects(model.infer(x, { mode: 'private+verified', protocol }), (e: unknown) => e instanceof InvalidArgumentError && /protocol runs 'outsourced'/.test(e.message));
      const r = await model.infer(x, { protocol });
      assert.equal(r.mode, 'outsourced');
      assert.equal(r.insecure, true);
    } finally {
      await protocol.close?.();
    }
    const homemade = { start: async () => ({ execution: new ExecutionLog(), cross: async () => ({}), end() {} }) };
    await assert.rejects(model.infer(x, { protocol: homemade }), /not opened by openProtocol/);
  });
});

describe('the embedded worker does not keep a process alive', () => {
  it('a script that opens a verified session, runs and never closes it exits by itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-forget-'));
    const script = join(dir, 'forget-close.mts'); // ESM outside the package: top-level await
    writeFileSync(
      script,
      [
        `import { createSession } from '${join(process.cwd(), 'src/api/session.ts')}';`,
        `import { syntheticInput } from '${join(process.cwd(), 'test/runtime/modes-helpers.ts')}';`,
        `const s = await createSession('${join(process.cwd(), FASHION)}', { mode: 'verified' });`,
        'const r = await s.run(syntheticInput([1, 1, 28, 28]));',
        "console.log('ran', r.mode);",
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(run.error, undefined, 'the script did not exit within 60 s');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'ran verified');
  });
});
