/**
 * Models using the new ops in every mode (docs/design.md §5): a decoder with two ConvTranspose layers
 * (stride 2 with BatchNorm folded in, and a grouped stride-1 one) and a nearest Resize, and a small
 * transformer block (LayerNormalization, Gelu, the Erf form of GELU, Tanh, ReduceMean over
 * tokens). Every mode gives logits bit-identical to baseline, baseline stays within quantization
 * error of onnxruntime fp32, and a lying accelerator on a ConvTranspose's Conv is caught like on
 * any Conv (it is one).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { LocalBackend } from '../../../src/accel/local.js';
import { IntegrityError } from '../../../src/errors.js';
import { OnnxBuilder } from '../../../src/onnx/build.js';
import { createReferenceSession } from '../../../src/reference/ort-session.js';
import { SlalomModel } from '../../../src/runtime/model.js';
import { openProtocol } from '../../../src/runtime/session.js';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { CHECK_VARIANTS } from '../../../src/verify/soundness.js';
import { Rng } from '../../../src/util/seeded-rng.js';
import { CheatingBackend } from '../../accel/cheating.js';
import { logitsInEveryMode, syntheticInput } from '../../runtime/modes-helpers.js';

const rng = new Rng(2024);
const normal = (n: number, std: number): Float32Array => rng.fillNormal(new Float32Array(n), std);
const positive = (n: number): Float32Array => Float32Array.from(normal(n, 0.2), (v) => 1 + Math.abs(v));

/** x[1,3,8,8] → Conv s2 → Relu → ConvTranspose s2 (4×4, pads 1) → BN → Relu → Resize ×2 nearest → ConvTranspose (3×3, group 2) → GAP → Flatten → Gemm → logits[1,10]. */
function decoder(): Uint8Array {
  return new OnnxBuilder('decoder')
    .input('x', [1, 3, 8, 8])
    .initializer('c.w', [8, 3, 3, 3], normal(216, 0.27))
    .initializer('c.b', [8], normal(8, 0.1))
    .initializer('t1.w', [8, 4, 4, 4], normal(512, 0.18))
    .initializer('t1.b', [4], normal(4, 0.1))
    .initializer('bn.s', [4], positive(4))
    .initializer('bn.b', [4], normal(4, 0.1))
    .initializer('bn.m', [4], normal(4, 0.1))
    .initializer('bn.v', [4], positive(4))
    .initializer('up', [4], new Float32Array([1, 1, 2, 2]))
    .initializer('t2.w', [4, 3, 3, 3], normal(108, 0.27))
    .initializer('t2.b', [6], normal(6, 0.1))
    .initializer('fc.w', [10, 6], normal(60, 0.5))
    .initializer('fc.b', [10], normal(10, 0.1))
    .node('Conv', ['x', 'c.w', 'c.b'], ['c'], { strides: [2, 2], pads: [1, 1, 1, 1] }, 'conv')
    .node('Relu', ['c'], ['r1'])
    .node('ConvTranspose', ['r1', 't1.w', 't1.b'], ['t1'], { strides: [2, 2], pads: [1, 1, 1, 1] }, 'deconv_s2')
    .node('BatchNormalization', ['t1', 'bn.s', 'bn.b', 'bn.m', 'bn.v'], ['bn'])
    .node('Relu', ['bn'], ['r2'])
    .node('Resize', ['r2', '', 'up'], ['u'], { mode: 'nearest' })
    .node('ConvTranspose', ['u', 't2.w', 't2.b'], ['t2'], { group: 2 }, 'deconv_g2')
    .node('GlobalAveragePool', ['t2'], ['gap'])
    .node('Flatten', ['gap'], ['flat'])
    .node('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc')
    .output('logits')
    .toBytes();
}

/** tokens x[6,16] → LN → MatMul+b → Gelu → MatMul+b → + x → LN → MatMul → ½x(1+erf(x/√2)) → Tanh → ReduceMean(tokens) → MatMul → logits[1,10] (opset 20). */
function transformerBlock(): Uint8Array {
  return new OnnxBuilder('block', { opset: 20 })
    .input('x', [6, 16])
    .initializer('ln1.g', [16], positive(16))
    .initializer('ln1.b', [16], normal(16, 0.1))
    .initializer('w1', [16, 32], normal(512, 0.25))
    .initializer('b1', [32], normal(32, 0.1))
    .initializer('w2', [32, 16], normal(512, 0.18))
    .initializer('b2', [16], normal(16, 0.1))
    .initializer('ln2.g', [16], positive(16))
    .initializer('w3', [16, 16], normal(256, 0.25))
    .initializer('sqrt2', [], new Float32Array([Math.SQRT2]))
    .initializer('one', [], new Float32Array([1]))
    .initializer('half', [], new Float32Array([0.5]))
    .initializer('axes', [1], new BigInt64Array([0n]))
    .initializer('head', [16, 10], normal(160, 0.25))
    .node('LayerNormalization', ['x', 'ln1.g', 'ln1.b'], ['n1'], {}, 'ln1')
    .node('MatMul', ['n1', 'w1'], ['h1'], {}, 'mlp_in')
    .node('Add', ['h1', 'b1'], ['h1b'])
    .node('Gelu', ['h1b'], ['g'])
    .node('MatMul', ['g', 'w2'], ['h2'], {}, 'mlp_out')
    .node('Add', ['h2', 'b2'], ['h2b'])
    .node('Add', ['h2b', 'x'], ['res'])
    .node('LayerNormalization', ['res', 'ln2.g'], ['n2'], { epsilon: 1e-6 }, 'ln2')
    .node('MatMul', ['n2', 'w3'], ['h3'], {}, 'proj')
    .node('Div', ['h3', 'sqrt2'], ['e0'])
    .node('Erf', ['e0'], ['e1'])
    .node('Add', ['e1', 'one'], ['e2'])
    .node('Mul', ['h3', 'e2'], ['e3'])
    .node('Mul', ['e3', 'half'], ['gelu2'])
    .node('Tanh', ['gelu2'], ['t'])
    .node('ReduceMean', ['t', 'axes'], ['pooled'], { keepdims: 1 })
    .node('MatMul', ['pooled', 'head'], ['logits'], {}, 'head')
    .output('logits')
    .toBytes();
}

async function ortLogits(bytes: Uint8Array, x: Tensor): Promise<Float64Array> {
  const session = await createReferenceSession(bytes);
  try {
    return [...(await session.run([x])).values()][0]!.data;
  } finally {
    await session.close();
  }
}

const MODELS = [
  { name: 'decoder with ConvTranspose and Resize', bytes: decoder(), linear: ['conv', 'deconv_s2', 'deconv_g2', 'fc'] },
  { name: 'transformer block with LayerNorm and GELU', bytes: transformerBlock(), linear: ['mlp_in', 'mlp_out', 'proj', 'head'] },
];

for (const m of MODELS) {
  describe(m.name, () => {
    let model: SlalomModel;
    let x: Tensor;
    before(async () => {
      model = await SlalomModel.load(m.bytes);
      x = syntheticInput(model.inputDims, 5);
    });

    it('imports into outsourced Conv/Gemm layers only', () => {
      assert.deepEqual(model.quantized.layers.map((l) => l.name), m.linear);
      assert.ok(model.graph.nodes.every((n) => n.op !== 'ConvTranspose' && n.op !== 'BatchNormalization'), 'ConvTranspose rewritten, BatchNorm folded');
    });

    it('every mode is bit-identical to baseline, and baseline is within quantization error of onnxruntime', async () => {
      const logits = await logitsInEveryMode(model, x);
      assert.equal(logits.size, 7, 'five modes, the private two also with the memory pool');
      const base = logits.get('baseline')!;
      for (const [mode, l] of logits) assert.deepEqual(Array.from(l), Array.from(base), `mode ${mode} differs from baseline`);
      const ref = await ortLogits(m.bytes, x);
      const range = ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      ref.forEach((r, i) => assert.ok(Math.abs(base[i]! - r) <= 2 ** -6 * range, `logit ${i}: slalom ${base[i]}, onnxruntime ${r}`));
    });
  });
}

describe('a lying accelerator on a ConvTranspose layer', () => {
  for (const variant of CHECK_VARIANTS) {
    it(`is caught in verified mode (${variant} check: IntegrityError naming the layer)`, async () => {
      const model = await SlalomModel.load(decoder());
      const layer = model.quantized.layers.find((l) => l.name === 'deconv_s2')!;
      const cheat = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [layer.index], seed: 3 });
      const protocol = await openProtocol(model, 'verified', { accelerator: cheat, verify: { variant } });
      try {
        await assert.rejects(model.infer(syntheticInput(model.inputDims, 9), { mode: 'verified', protocol }), (e: unknown) => e instanceof IntegrityError && e.layer === 'deconv_s2');
        assert.equal(cheat.tampered.length, 1);
      } finally {
        await protocol.close?.();
      }
    });
  }
});
