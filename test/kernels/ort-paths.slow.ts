/**
 * Every exact path of the ort kernels, forced one by one (where this CPU's probe lets it be forced):
 * every mode of the committed Fashion-MNIST model bit-identical to baseline with SLALOM_ORT_KERNEL
 * naming the path (the trusted runtime's kernels, the pad precomputation and the embedded accelerator
 * all take it), and to the float64 path's baseline; and a lying accelerator over that path caught on
 * every layer by every strategy of the cheating suite (minutes on a loaded 2-core machine: slow suite).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../../src/accel/local.js';
import { IntegrityError, MalformedResponseError } from '../../src/errors.js';
import { openKernels } from '../../src/kernels/registry.js';
import '../../src/kernels/exact-linear.js';
import { ORT_KERNEL_PATHS, type OrtKernelPath } from '../../src/kernels/ort-exact.js';
import { ortPathSkipReasons } from '../helpers/ort-paths.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openProtocol } from '../../src/runtime/session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { loadFashionMnist } from '../../src/io/idx.js';
import { FASHION_MNIST_SAMPLE_DIR } from '../helpers/data.js';
import { CheatingBackend, STRATEGIES } from '../accel/cheating.js';
import { logitsInEveryMode } from '../runtime/modes-helpers.js';

/** Which paths this CPU's probes allow, decided before the suites are declared. */
const ortPathSkipReason = await ortPathSkipReasons();

describe('every mode through each ort path', () => {
  let model: SlalomModel;
  let x: Tensor;
  let reference: Float64Array;
  const saved = process.env['SLALOM_ORT_KERNEL'];

  before(async () => {
    model = await SlalomModel.load('models/fashion-mnist.onnx');
    const data = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR, limit: 1 });
    x = tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(0, 784), (v) => (v / 255 - 0.286) / 0.353));
    process.env['SLALOM_ORT_KERNEL'] = 'f64';
    reference = (await model.infer(x)).logits;
  });
  after(() => {
    if (saved === undefined) delete process.env['SLALOM_ORT_KERNEL'];
    else process.env['SLALOM_ORT_KERNEL'] = saved;
  });

  for (const path of ORT_KERNEL_PATHS) {
    it(`${path}: every mode bit-identical to baseline and to the float64 path's`, { skip: ortPathSkipReason(path) }, async () => {
      process.env['SLALOM_ORT_KERNEL'] = path;
      const logits = await logitsInEveryMode(model, x);
      assert.equal(logits.size, 7);
      for (const [mode, l] of logits) assert.deepEqual([...l], [...reference], `${path}, mode ${mode}`);
    });

    it(`${path}: every lie on every layer is caught`, { skip: ortPathSkipReason(path) }, async () => {
      const kernels = await openKernels('ort', { path });
      try {
        for (const info of STRATEGIES) {
          for (const layer of model.quantized.layers) {
            const cheat = new CheatingBackend(new LocalBackend(kernels), info.name, { layers: [layer.index], seed: 3 + layer.index });
            const protocol = await openProtocol(model, 'verified', { accelerator: cheat, onFailure: 'abort' });
            try {
              let result: Float64Array | undefined;
              let error: unknown;
              try {
                result = (await model.infer(x, { mode: 'verified', protocol })).logits;
              } catch (e) {
                error = e;
              }
              // a strategy with nothing to tamper with here (swap-batch on one image) leaves an honest reply
              if (cheat.tampered.length === 0) assert.deepEqual([...(result ?? [])], [...reference], `${info.name} on ${layer.name}, untampered`);
              else assert.ok(error instanceof (info.kind === 'wrong-value' ? IntegrityError : MalformedResponseError), `${info.name} on ${layer.name}: got ${String(error ?? 'a result')}`);
            } finally {
              await protocol.close?.();
            }
          }
        }
      } finally {
        await kernels.close();
      }
    });
  }
});
