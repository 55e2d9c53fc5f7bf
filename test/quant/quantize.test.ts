/**
 * Calibration and per-layer quantization (docs/design.md §2) on a small residual conv net
 * (Conv-BN-Relu-MaxPool-Conv-Relu-Add-GlobalAveragePool-Flatten-Gemm, seeded random weights):
 * every layer's scales keep the calibrated maximum, times the margin, inside (−p/2, p/2) and satisfy
 * the 2^53 exactness bound; quantized inference agrees with onnxruntime fp32 and is deterministic;
 * inputs far outside the calibrated range fail with an OverflowError naming a layer; layers that
 * cannot be quantized exactly are rejected at load.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { OverflowError, SlalomError } from '../../src/errors.js';
import { HALF_P, linearIsExact, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { execute } from '../../src/graph/execute.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { importOnnx } from '../../src/graph/onnx/import.js';
import { isLinear } from '../../src/graph/ops/registry.js';
import { gemmField } from '../../src/kernels/field.js';
import { quantizeInput } from '../helpers/requantize.js';
import { DEFAULT_MARGIN, quantizeGraph, type QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';

const IN_DIMS = [1, 3, 8, 8];
const CLASSES = 10;

function normalF32(rng: Rng, n: number, std: number, mean = 0): Float32Array {
  return rng.fillNormal(new Float32Array(n), std, mean);
}

/** x → Conv(3→8) → BN → Relu → MaxPool 2×2 → a; a → Conv(8→8) → Relu → b; a + b → GAP → Flatten → Gemm(8→10). */
function smallResNet(seed = 7): Uint8Array {
  const rng = new Rng(seed);
  const he = (fanIn: number): number => Math.sqrt(2 / fanIn);
  return new OnnxBuilder('small_resnet')
    .input('input', ['batch', 3, 8, 8])
    .initializer('conv1.weight', [8, 3, 3, 3], normalF32(rng, 216, he(27)))
    .initializer('conv1.bias', [8], normalF32(rng, 8, 0.1))
    .initializer('bn1.weight', [8], normalF32(rng, 8, 0.1, 1))
    .initializer('bn1.bias', [8], normalF32(rng, 8, 0.1))
    .initializer('bn1.running_mean', [8], normalF32(rng, 8, 0.1))
    .initializer('bn1.running_var', [8], Float32Array.from(normalF32(rng, 8, 0.2, 1), Math.abs))
    .initializer('conv2.weight', [8, 8, 3, 3], normalF32(rng, 576, he(72)))
    .initializer('conv2.bias', [8], normalF32(rng, 8, 0.1))
    .initializer('fc.weight', [CLASSES, 8], normalF32(rng, 80, he(8)))
    .initializer('fc.bias', [CLASSES], normalF32(rng, CLASSES, 0.1))
    .node('Conv', ['input', 'conv1.weight', 'conv1.bias'], ['c1'], { pads: [1, 1, 1, 1] }, 'conv1')
    .node('BatchNormalization', ['c1', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var'], ['bn1'], {}, 'bn1')
    .node('Relu', ['bn1'], ['r1'], {}, 'relu1')
    .node('MaxPool', ['r1'], ['a'], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool')
    .node('Conv', ['a', 'conv2.weight', 'conv2.bias'], ['c2'], { pads: [1, 1, 1, 1] }, 'conv2')
    .node('Relu', ['c2'], ['b'], {}, 'relu2')
    .node('Add', ['a', 'b'], ['s'], {}, 'residual')
    .node('GlobalAveragePool', ['s'], ['gap'], {}, 'gap')
    .node('Flatten', ['gap'], ['flat'], {}, 'flatten')
    .node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }, 'fc')
    .output('logits', ['batch', CLASSES])
    .toBytes();
}

/** Standard-normal inputs, float32-rounded so ORT and slalom see the same values. */
function normalInputs(seed: number, count: number, scale = 1): Tensor[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => tensor(IN_DIMS, Float64Array.from(rng.fillNormal(new Float32Array(3 * 64), scale))));
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  return m;
}

/** Exact Σ|w̃| per output unit (BigInt), max over units. */
function bigRowL1(layer: QuantizedLayer): bigint {
  const w = layer.w;
  let best = 0n;
  const units = layer.op === 'Conv' ? w.dims[0]! : w.dims[1]!;
  for (let u = 0; u < units; u++) {
    let s = 0n;
    if (layer.op === 'Conv') {
      const per = w.data.length / units;
      for (let i = u * per; i < (u + 1) * per; i++) s += BigInt(Math.abs(w.data[i]!));
    } else {
      for (let k = 0; k < w.dims[0]!; k++) s += BigInt(Math.abs(w.data[k * units + u]!));
    }
    if (s > best) best = s;
  }
  return best;
}

describe('quantizeGraph on a small residual net', () => {
  const bytes = smallResNet();
  const calibration = normalInputs(1, 8);
  let model: SlalomModel;
  /** The imported float graph (the model's quantized graph keeps only integer weights). */
  const float = importOnnx(bytes);

  before(async () => {
    model = await SlalomModel.load(bytes, { calibration });
  });

  it('imports as three linear layers with BN folded into conv1', () => {
    assert.deepEqual(
      model.graph.nodes.map((n) => n.op),
      ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'Add', 'GlobalAveragePool', 'Reshape', 'Gemm'],
    );
    assert.deepEqual(model.quantized.layers.map((l) => [l.name, l.op]), [['conv1', 'Conv'], ['conv2', 'Conv'], ['fc', 'Gemm']]);
    assert.equal(model.quantized.margin, DEFAULT_MARGIN);
  });

  it('calibration records the max |input| and |output| of every linear layer', async () => {
    const expected = new Map<string, number>();
    const record = (name: string, t: Tensor): void => {
      expected.set(name, Math.max(expected.get(name) ?? 0, maxAbs(t.data)));
    };
    for (const x of calibration) {
      record('input', x);
      await execute(float, [x], { onValue: (name, t) => record(name, t) });
    }
    for (const layer of model.quantized.layers) {
      const inMax = expected.get(layer.node.inputs[0]!)!;
      const outMax = expected.get(layer.node.outputs[0]!)!;
      assert.ok(Math.abs(layer.stats.maxAbsIn - inMax) <= 1e-4 * inMax, `${layer.name} maxAbsIn ${layer.stats.maxAbsIn} vs ${inMax}`);
      assert.ok(Math.abs(layer.stats.maxAbsOut - outMax) <= 1e-4 * outMax, `${layer.name} maxAbsOut ${layer.stats.maxAbsOut} vs ${outMax}`);
    }
  });

  it('per layer: maxAbsOut·2^(lx+lw)·margin ≤ (p−1)/2, weights and biases are the rounded scaled floats, and the exactness bound holds', () => {
    const { layers, margin } = model.quantized;
    const graph = float;
    for (const layer of layers) {
      const bits = layer.lx + layer.lw;
      assert.ok(Number.isInteger(layer.lx) && Number.isInteger(layer.lw), `${layer.name}: integer scale bits`);
      assert.ok(layer.stats.maxAbsOut * 2 ** bits * margin <= HALF_P, `${layer.name}: output headroom`);
      // Not needlessly coarse: one more bit would break the headroom.
      assert.ok(layer.stats.maxAbsOut * 2 ** (bits + 1) * margin > HALF_P, `${layer.name}: ${bits} bits leaves a whole bit unused`);
      assert.ok(bits >= 8, `${layer.name}: only ${bits} bits`);

      const w = graph.constants.get(layer.node.inputs[1]!)!;
      assert.deepEqual(layer.w.dims, w.dims);
      for (let i = 0; i < w.data.length; i++) assert.equal(layer.w.data[i], Math.round(w.data[i]! * 2 ** layer.lw));
      const b = graph.constants.get(layer.node.inputs[2]!)!;
      for (let i = 0; i < b.data.length; i++) assert.equal(layer.bias![i], Math.round(b.data[i]! * 2 ** bits));

      const l1 = bigRowL1(layer);
      assert.equal(BigInt(layer.weightRowL1), l1, `${layer.name}: weightRowL1`);
      assert.equal(layer.maxAbsBias, maxAbs(layer.bias!));
      assert.ok(l1 <= BigInt(MAX_WEIGHT_L1));
      assert.ok(l1 * BigInt(P - 1) + BigInt(layer.maxAbsBias) < 2n ** 53n, `${layer.name}: exactness bound`);
      assert.ok(linearIsExact(layer.weightRowL1, layer.maxAbsBias));
    }
  });

  it('the baseline Gemm layer equals a BigInt evaluation mod p', async () => {
    const fc = model.quantized.byNode.get('fc')!;
    let flat: Tensor | undefined;
    await model.infer(calibration[0]!, {
      fuse: false,
      onValue: (name, t) => {
        if (name === fc.node.inputs[0]) flat = t;
      },
    });
    const xq = quantizeInput(fc, flat!.data);
    const fx = gemmField(tensor(fc.inDims, xq.residues), fc.w).data;
    const [k, n] = [fc.w.dims[0]!, fc.w.dims[1]!];
    for (let j = 0; j < n; j++) {
      let s = 0n;
      for (let i = 0; i < k; i++) s += BigInt(xq.residues[i]!) * BigInt(fc.w.data[i * n + j]!);
      const r = ((s % BigInt(P)) + BigInt(P)) % BigInt(P);
      assert.equal(BigInt(fx[j]!), r, `output ${j}`);
    }
  });

  it('model.infer agrees with onnxruntime fp32: same top-1, max logit error < 2 % of the logit range', async () => {
    const session = await createReferenceSession(bytes);
    try {
      for (const x of normalInputs(99, 6)) {
        const ref = (await session.run([x])).get('logits')!.data;
        const ours = (await model.infer(x)).logits;
        assert.equal(ours.length, CLASSES);
        const range = Math.max(...ref) - Math.min(...ref);
        let err = 0;
        for (let i = 0; i < CLASSES; i++) err = Math.max(err, Math.abs(ours[i]! - ref[i]!));
        assert.ok(err < 0.02 * range, `max logit error ${err} vs range ${range}`);
        assert.equal(argmax(ours), argmax(ref));
      }
    } finally {
      await session.close();
    }
  });

  it('quantized logits are bit-identical across runs, and match inferFloat closely', async () => {
    const [x] = normalInputs(5, 1);
    const a = await model.infer(x!);
    const b = await model.infer(x!);
    assert.deepEqual(Array.from(a.logits), Array.from(b.logits));
    assert.equal(a.mode, 'baseline');
    const [f] = await model.inferFloat(x!);
    const range = Math.max(...f!.data) - Math.min(...f!.data);
    for (let i = 0; i < CLASSES; i++) assert.ok(Math.abs(a.logits[i]! - f!.data[i]!) < 0.02 * range);
    // Every quantized output is a multiple of 2^-(lx+lw) of the last layer: no float rounding leaks in.
    const fc = model.quantized.byNode.get('fc')!;
    for (const v of a.logits) assert.ok(Number.isInteger(v * 2 ** (fc.lx + fc.lw)));
  });

  it('inputs 100× larger than the calibration data → OverflowError naming a layer', async () => {
    const names = new Set(model.quantized.layers.map((l) => l.name));
    for (const x of normalInputs(11, 3, 100)) {
      await assert.rejects(model.infer(x), (e: unknown) => {
        assert.ok(e instanceof OverflowError, `expected OverflowError, got ${String(e)}`);
        assert.ok(e.layer !== undefined && names.has(e.layer), `layer ${e.layer}`);
        assert.ok(e.message.startsWith(`${e.layer}: `), e.message);
        return true;
      });
    }
  });

  it('a smaller margin buys scale bits; quantization is deterministic', () => {
    const stats = new Map(model.quantized.layers.map((l) => [l.name, l.stats]));
    const again = quantizeGraph(float, stats);
    assert.deepEqual(again.layers.map((l) => [l.lx, l.lw]), model.quantized.layers.map((l) => [l.lx, l.lw]));
    const tight = quantizeGraph(float, stats, 1);
    tight.layers.forEach((l, i) => {
      const base = model.quantized.layers[i]!;
      assert.equal(l.lx + l.lw, base.lx + base.lw + 2, `${l.name}: margin 1 vs 4 is two more bits`);
    });
  });
});

describe('quantizeGraph rejects layers it cannot run exactly', () => {
  /** x[1,4] → Gemm(W [4,2], b [2]). */
  function gemmModel(w: Float32Array, b: Float32Array): Uint8Array {
    return new OnnxBuilder('gemm')
      .input('x', [1, 4])
      .initializer('W', [4, 2], w)
      .initializer('b', [2], b)
      .node('Gemm', ['x', 'W', 'b'], ['y'], {}, 'big_fc')
      .output('y', [1, 2])
      .toBytes();
  }

  it('a huge bias cancelled by huge weights on the calibration data: Σ|w̃|·(p−1) + |b̃| > 2^53 → OverflowError at load', async () => {
    // On the all-ones calibration input, y = 4·(−2^18) + 2^20 = 0: the tiny calibrated output asks
    // for ~40 bits of scale, which the 2^20 bias cannot take inside 2^53.
    const bytes = gemmModel(new Float32Array(8).fill(-(2 ** 18)), new Float32Array([2 ** 20, 2 ** 20]));
    const ones = tensor([1, 4], new Float64Array(4).fill(1));
    await assert.rejects(SlalomModel.load(bytes, { calibration: [ones] }), (e: unknown) => {
      assert.ok(e instanceof OverflowError, String(e));
      assert.equal(e.layer, 'big_fc');
      assert.match(e.message, /2\^53/);
      return true;
    });
  });

  it('huge weights alone are scaled down to keep Σ|w̃| within the bound', () => {
    const graph = importOnnx(gemmModel(new Float32Array(8).fill(2 ** 27), new Float32Array(2)));
    const q = quantizeGraph(graph, new Map([['big_fc', { maxAbsIn: 2 ** -10, maxAbsOut: 2 ** -6 }]]));
    const layer = q.layers[0]!;
    assert.ok(layer.lw < 0, `lw ${layer.lw}`);
    assert.ok(linearIsExact(layer.weightRowL1, layer.maxAbsBias));
    assert.ok(BigInt(layer.weightRowL1) * BigInt(P - 1) < 2n ** 53n);
    assert.ok(2 ** -6 * 2 ** (layer.lx + layer.lw) * DEFAULT_MARGIN <= HALF_P);
  });

  it('a calibrated output too large for a few bits of scale → OverflowError', () => {
    const graph = importOnnx(gemmModel(new Float32Array(8).fill(1), new Float32Array(2)));
    assert.throws(
      () => quantizeGraph(graph, new Map([['big_fc', { maxAbsIn: 1e6, maxAbsOut: 4e6 }]])),
      (e: unknown) => e instanceof OverflowError && e.layer === 'big_fc',
    );
  });

  it('a linear layer with no calibration statistics → OverflowError naming it', () => {
    const graph = importOnnx(gemmModel(new Float32Array(8).fill(1), new Float32Array(2)));
    assert.ok(graph.nodes.some((n) => isLinear(n.op)));
    assert.throws(
      () => quantizeGraph(graph, new Map()),
      (e: unknown) => e instanceof SlalomError && e.code === 'SLALOM_ERR_OVERFLOW' && e.layer === 'big_fc',
    );
  });
});
