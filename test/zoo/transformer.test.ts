/**
 * The transformer encoders of the zoo on small shapes: a ViT (Conv patches, class token, pre-norm,
 * fused LayerNormalization, tanh GELU) and a BERT-like encoder (post-norm, spelled-out LayerNorm,
 * erf GELU, pooler) agree with onnxruntime fp32 in the float graph, import with every Linear as one
 * outsourced layer over token rows and attention's two products in the trusted runtime, and run in
 * all five modes (the private two also with the memory pool) bit-identical to baseline; a lying
 * accelerator on a token-row layer is caught. Full-size vit-tiny and bert-base: transformer.slow.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { LocalBackend } from '../../src/accel/local.js';
import { IntegrityError } from '../../src/errors.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { BERT_BASE, buildEncoder, tokensOf, VIT_TINY, type EncoderConfig } from '../../src/zoo/transformer.js';
import { CheatingBackend } from '../accel/cheating.js';
import { assertAgreesWithOrt } from '../helpers/ort-agree.js';
import { logitsInEveryMode, syntheticInput } from '../runtime/modes-helpers.js';

export const SMALL_VIT: EncoderConfig = { ...VIT_TINY, name: 'vit-small-test', layers: 2, d: 32, heads: 2, hidden: 64, input: { kind: 'patches', image: 16, patch: 4, channels: 3 }, classes: 10 };
export const SMALL_BERT: EncoderConfig = { ...BERT_BASE, name: 'bert-small-test', layers: 2, d: 48, heads: 4, hidden: 96, input: { kind: 'embeddings', tokens: 12 } };

async function ortLogits(bytes: Uint8Array, x: Tensor): Promise<Float64Array> {
  const session = await createReferenceSession(bytes);
  try {
    return [...(await session.run([x])).values()][0]!.data;
  } finally {
    await session.close();
  }
}

for (const config of [SMALL_VIT, SMALL_BERT]) {
  describe(`${config.name} (${config.layers} blocks, d ${config.d}, ${config.heads} heads, ${tokensOf(config)} tokens)`, () => {
    const bytes = buildEncoder(config, 3);
    let model: SlalomModel;
    let x: Tensor;
    before(async () => {
      model = await SlalomModel.load(bytes);
      x = syntheticInput(model.inputDims, 5);
    });

    it('the float graph agrees with onnxruntime fp32', async () => {
      await assertAgreesWithOrt(bytes, [syntheticInput(model.inputDims, 8)], 1e-4, 1e-5, config.name);
    });

    it('every Linear is one outsourced layer over token rows; attention products stay in the trusted runtime', () => {
      const perBlock = 6; // query, key, value, attention output, intermediate, output
      // Besides the blocks: ViT's patch Conv and head, BERT's pooler and classifier.
      assert.equal(model.quantized.layers.length, config.layers * perBlock + 2);
      const tokenRows = model.quantized.layers.filter((l) => l.op === 'Gemm' && l.inDims[0] === tokensOf(config));
      assert.equal(tokenRows.length, config.layers * perBlock);
      assert.equal(model.graph.nodes.filter((n) => n.op === 'ActivationMatMul').length, 2 * config.layers);
    });

    it('every mode is bit-identical to baseline, which is within quantization error of onnxruntime', async () => {
      const logits = await logitsInEveryMode(model, x);
      assert.equal(logits.size, 7);
      const base = logits.get('baseline')!;
      for (const [mode, l] of logits) assert.deepEqual(Array.from(l), Array.from(base), `mode ${mode} differs from baseline`);
      const ref = await ortLogits(bytes, x);
      const range = ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      ref.forEach((r, i) => assert.ok(Math.abs(base[i]! - r) <= 2 ** -5 * range, `logit ${i}: slalom ${base[i]}, onnxruntime ${r}`));
      const separate = (await model.infer(x, { fuse: false })).logits;
      assert.deepEqual(Array.from(separate), Array.from(base), 'fused and separate passes differ');
    });

    it('a lying accelerator on a token-row layer is caught in verified and private+verified', async () => {
      const layer = model.quantized.layers.find((l) => l.name.endsWith('.intermediate/MatMul'))!;
      for (const mode of ['verified', 'private+verified'] as const) {
        const cheat = new CheatingBackend(new LocalBackend(), 'off-by-one', { layers: [layer.index], seed: 4 });
        const protocol = await openProtocol(model, mode, { accelerator: cheat, pads: { source: 'memory', capacity: 1 } });
        try {
          await assert.rejects(model.infer(x, { mode, protocol }), (e: unknown) => e instanceof IntegrityError && e.layer === layer.name);
          assert.equal(cheat.tampered.length, 1);
        } finally {
          await protocol.close?.();
        }
      }
    });
  });
}

describe('vit-tiny at full size', () => {
  it("has timm's vit_tiny_patch16_224 parameter count and sane logits in onnxruntime; a seed fixes the bytes", async () => {
    const bytes = buildZooModel('vit-tiny', { seed: 1 });
    const session = await createReferenceSession(bytes);
    try {
      const [logits] = [...(await session.run([syntheticInput([1, 3, 224, 224])])).values()];
      assert.deepEqual(logits!.dims, [1, 1000]);
      const m = logits!.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      assert.ok(Number.isFinite(m) && m > 0.1 && m < 100, `max |logit| = ${m}`);
    } finally {
      await session.close();
    }
    const onnx = fromBinary(ModelProtoSchema, bytes);
    const params = onnx.graph!.initializer.filter((t) => t.dataType === 1 && !t.name.startsWith('const.')).reduce((n, t) => n + t.dims.reduce((a, d) => a * Number(d), 1), 0);
    assert.equal(params, 5_717_416);
    assert.equal(Buffer.compare(bytes, buildZooModel('vit-tiny', { seed: 1 })), 0);
  });
});
