/**
 * Decoder recognition (src/graph/decoder/structure.ts) and its guard, the self-check against
 * onnxruntime fp32 (src/quant/calibrate-decoder.ts): the zoo's gpt-tiny with and without its cache
 * is recognized, the same structure either way, and generates the same tokens; a model that takes input_ids but is not a GPT-2
 * decoder is refused with every mismatch named; and a model that fits the pattern but computes
 * something else (attention scaled by 1/2 instead of 1/√8) is refused before it is quantized.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { hasErrorCode } from '../../../src/errors.js';
import { generateTokens } from '../../../src/generate/generation.js';
import { OnnxBuilder } from '../../../src/onnx/build.js';
import { SlalomModel } from '../../../src/runtime/model.js';
import { trustedProtocol } from '../../../src/runtime/protocols/trusted.js';
import { buildDecoder, GPT_TINY } from '../../../src/zoo/decoder.js';

const refused = (re: RegExp) => (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_UNSUPPORTED') && re.test((e as Error).message);

describe('decoder recognition', () => {
  it('recognizes gpt-tiny with and without the exported cache: the same blocks, weights and activation', async () => {
    const [withPast, without] = await Promise.all([true, false].map(async (withPast) => SlalomModel.load(buildDecoder(GPT_TINY, 1, { withPast }))));
    for (const m of [withPast, without]) {
      const d = m.decoder!;
      assert.equal(d.blocks.length, 2);
      assert.deepEqual(d.blocks[0]!.activation.map((n) => n.op), ['Div', 'Erf', 'Add', 'Mul', 'Mul']);
      assert.equal(d.tokenEmbedding.dims.join(), '40,32');
      assert.equal(d.positionEmbedding.dims.join(), '64,32');
    }
    assert.deepEqual([withPast.decoder!.exportedCache, without.decoder!.exportedCache], [true, false]);
    assert.equal(withPast.weightsHash === without.weightsHash, false, 'different graphs hash apart');
    assert.deepEqual(withPast.quantized.layers.map((l) => [l.name, l.lx, l.lw]), without.quantized.layers.map((l) => [l.name, l.lx, l.lw]));
    // The runtime keeps its own cache either way: the same weights generate the same tokens.
    const [a, b] = await Promise.all([withPast, without].map((m) => generateTokens(m, trustedProtocol(), [[1, 2, 3]], { maxTokens: 10, temperature: 1, seed: 3 })));
    assert.deepEqual(a!.sequences, b!.sequences);
  });

  it('a model with input_ids that is not a decoder is refused, every mismatch named', async () => {
    const b = new OnnxBuilder('not-gpt', { opset: 17 }).input('input_ids', [1, 4], 'int64').initializer('table', [10, 8], new Float32Array(80).fill(0.1));
    b.node('Gather', ['table', 'input_ids'], ['y'], { axis: 0 }).output('y');
    await assert.rejects(SlalomModel.load(b.toBytes()), refused(/not a GPT-style decoder.*no 'position_ids' input.*0 products of two activations/));
  });

  it('a decoder whose attention differs from GPT-2 is refused by the self-check against onnxruntime', async () => {
    const model = fromBinary(ModelProtoSchema, buildDecoder(GPT_TINY, 1, { withPast: true }));
    const scale = model.graph!.initializer.filter((t) => t.name === `const.${1 / Math.sqrt(8)}`);
    assert.equal(scale.length, 1);
    scale[0]!.rawData = new Uint8Array(new Float32Array([0.5]).buffer);
    scale[0]!.floatData = [];
    await assert.rejects(SlalomModel.load(toBinary(ModelProtoSchema, model)), refused(/does not compute what the ONNX graph computes \(logits differ by .* at position \d+ of \d+\)/));
  });
});
