/**
 * The dot4 scheme of the WebGPU conv and dense kernels (src/accel/webgpu/dot4.ts, wgsl/tiled-dot4.ts,
 * wgsl/dense-dot4.ts): its weight packing and segment bound (no adapter needed), then on the adapter
 * test/helpers/webgpu.ts picks (llvmpipe here: dot4U8Packed polyfilled) — every tiled mode (conv with
 * stride, asymmetric padding, dilation and groups; pointwise, plain and grouped; 1×1 stride 2; batched
 * Gemm) and the small-batch Gemm (one workgroup, split-K, several row groups) with the path forced to
 * dot4, bit-identical to the path forced to 12-bit limbs and to BigInt at the extremes (x = p − 1
 * everywhere, weights at ±2^15), K across a fold point, depthwise (still on limbs) on a dot4 engine, the refusal of a weight past the bound (and auto's fallback), and
 * how a path is chosen (option, SLALOM_WEBGPU_KERNEL, the probe; a tile dot4 cannot use). GPU parts skip with the reason
 * where no adapter exists.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { DOT4_BIAS, DOT4_MAX_WEIGHT, DOT4_MIN_WEIGHT, dot4SegmentTaps, packDot4Weights, U32_MAX } from '../../src/accel/webgpu/dot4.js';
import { WebGpuEngine } from '../../src/accel/webgpu/engine.js';
import { PROBE_TAPS } from '../../src/accel/webgpu/probe-dot4.js';
import { InvalidArgumentError, OverflowError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import type { ExactLinearLayer } from '../../src/kernels/exact-linear.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { tensor } from '../../src/tensor/tensor.js';
import { int, rng, size } from '../helpers/random.js';
import { TEST_ADAPTER, webgpuSkipReason } from '../helpers/webgpu.js';
import { convRef, gemmRef } from '../reference/bigint.js';

const skip = await webgpuSkipReason();
const r = rng(0xd04);

const A = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], group = 1): ConvAttrs => ({ strides, pads, dilations, group });
/** Weights spanning dot4's whole range, both ends included. */
const extremeWeights = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => (i % 7 === 0 ? DOT4_MIN_WEIGHT : i % 7 === 1 ? DOT4_MAX_WEIGHT : int(r, DOT4_MIN_WEIGHT, DOT4_MAX_WEIGHT)));
const conv = (wDims: [number, number, number, number], attrs: ConvAttrs, w = extremeWeights(size(wDims))): ExactLinearLayer => ({ op: 'Conv', conv: attrs, wDims, w: tensor(wDims, w) });
const gemm = (k: number, n: number, w = extremeWeights(k * n)): ExactLinearLayer => ({ op: 'Gemm', wDims: [k, n], w: tensor([k, n], w) });

function bigintRef(layer: ExactLinearLayer, inDims: readonly number[], x: Float64Array): number[] {
  if (layer.op === 'Gemm') return [...gemmRef(inDims[0]!, inDims[1]!, layer.w.dims[1]!, x, layer.w.data)];
  return [...convRef(inDims, x, layer.w.dims, layer.w.data, layer.conv!).data];
}

async function run(engine: WebGpuEngine, layer: ExactLinearLayer, inDims: readonly number[], x: Float64Array, name = 'test'): Promise<number[]> {
  const registered = engine.register(layer, name);
  try {
    return [...(await engine.run(registered, inDims, Uint32Array.from(x))).data];
  } finally {
    engine.release(registered);
  }
}

/** The layer's dot4 plan on `engine` (undefined: it runs on 12-bit limbs). */
function dot4Plan(engine: WebGpuEngine, layer: ExactLinearLayer): ReturnType<WebGpuEngine['register']>['dot4'] {
  const registered = engine.register(layer, 'plan');
  engine.release(registered);
  return registered.dot4;
}

/** The scheme a request of shape `inDims` runs in on `engine`. */
function schemeOf(engine: WebGpuEngine, layer: ExactLinearLayer, inDims: readonly number[]): string {
  const registered = engine.register(layer, 'scheme');
  engine.release(registered);
  return engine.schemeOf(registered, inDims);
}

describe('dot4 weight packing and segment bound', () => {
  it('packs w + 2^15 as low and high byte quads, four taps per u32, taps past K zero', () => {
    const w = [DOT4_MIN_WEIGHT, DOT4_MAX_WEIGHT, 0, -1, 258, -300];
    const packed = packDot4Weights(1, 1, w.length, (_, __, k) => w[k]!);
    assert.equal(packed.length, 4);
    for (let k = 0; k < w.length; k++) {
      const q = k >> 2;
      const shift = 8 * (k & 3);
      const low = (packed[2 * q]! >>> shift) & 0xff;
      const high = (packed[2 * q + 1]! >>> shift) & 0xff;
      assert.equal(high * 256 + low - DOT4_BIAS, w[k], `tap ${k}`);
    }
    assert.equal(packed[2]! >>> 16, 0, 'the padded taps of the last quad');
    assert.equal(packed[3]! >>> 16, 0);
  });

  it('the widest segment keeps every u32 sum below 2^32 and is a whole number of 16-tap steps', () => {
    const f = dot4SegmentTaps(255, 255);
    assert.equal(f, 33_024);
    assert.ok(f * 255 * 510 <= U32_MAX && (f + 16) * 255 * 510 > U32_MAX, 'one more step could wrap');
    assert.equal(PROBE_TAPS, f + 16);
    assert.ok(dot4SegmentTaps(0, 0) % 16 === 0 && dot4SegmentTaps(0, 0) * 255 <= U32_MAX);
  });
});

describe(`the dot4 tiled kernels (${TEST_ADAPTER} adapter)`, { skip }, () => {
  let dot4: WebGpuEngine;
  let limbs: WebGpuEngine;
  before(async () => {
    dot4 = await WebGpuEngine.open({ adapter: TEST_ADAPTER, kernel: 'dot4' });
    limbs = await WebGpuEngine.open({ adapter: TEST_ADAPTER, kernel: 'limbs' });
  });
  after(async () => {
    await dot4?.close();
    await limbs?.close();
  });

  const cases: { label: string; layer: ExactLinearLayer; inDims: number[] }[] = [
    { label: 'conv 3×3 pad 1', layer: conv([8, 3, 3, 3], A([1, 1], [1, 1, 1, 1])), inDims: [2, 3, 9, 9] },
    { label: 'conv stride 2, asymmetric pads, 70 channels (two row tiles), K = 45 (a partial quad)', layer: conv([70, 5, 3, 3], A([2, 2], [1, 0, 2, 1])), inDims: [2, 5, 11, 10] },
    { label: 'conv dilation 2, group 2', layer: conv([6, 3, 3, 3], A([1, 1], [2, 2, 2, 2], [2, 2], 2)), inDims: [3, 6, 5, 5] },
    { label: 'conv 5×3 kernel, stride (1, 2), group 3', layer: conv([12, 3, 5, 3], A([1, 2], [2, 1, 2, 1], [1, 1], 3)), inDims: [1, 9, 12, 11] },
    { label: 'pointwise 1×1', layer: conv([33, 20, 1, 1], A([1, 1], [0, 0, 0, 0])), inDims: [3, 20, 5, 7] },
    { label: 'pointwise grouped', layer: conv([24, 4, 1, 1], A([1, 1], [0, 0, 0, 0], [1, 1], 4)), inDims: [2, 16, 6, 6] },
    { label: '1×1 stride 2 (tiled, not pointwise)', layer: conv([5, 8, 1, 1], A([2, 2], [0, 0, 0, 0])), inDims: [1, 8, 9, 9] },
    { label: 'Gemm batch 37 (tiled), K = 101', layer: gemm(101, 130), inDims: [37, 101] },
    { label: 'Gemm batch 3 (small-batch kernel), K = 41 (a partial quad)', layer: gemm(41, 11), inDims: [3, 41] },
    { label: 'Gemm batch 1, split-K, K = 3001', layer: gemm(3001, 70), inDims: [1, 3001] },
    { label: 'Gemm batch 5 (two row groups), 100 columns', layer: gemm(702, 100), inDims: [5, 702] },
  ];

  for (const c of cases) {
    it(`${c.label}: dot4 = 12-bit limbs = BigInt on random, all-zero and all-(p − 1) inputs`, async () => {
      assert.equal(schemeOf(dot4, c.layer, c.inDims), 'dot4', 'the layer runs on the dot4 kernel');
      assert.equal(schemeOf(limbs, c.layer, c.inDims), 'limbs');
      const n = size(c.inDims);
      for (const x of [Float64Array.from({ length: n }, () => int(r, 0, P - 1)), new Float64Array(n), new Float64Array(n).fill(P - 1)]) {
        const viaDot4 = await run(dot4, c.layer, c.inDims, x);
        assert.deepEqual(viaDot4, await run(limbs, c.layer, c.inDims, x), 'dot4 against 12-bit limbs');
        assert.deepEqual(viaDot4, bigintRef(c.layer, c.inDims, x), 'dot4 against BigInt');
      }
    });
  }

  it('K across a fold point at the bound (weights 2^15 − 1, x = p − 1): conv, batched and small-batch Gemm', async () => {
    const k = PROBE_TAPS + 8; // one fold after 33 024 taps, then a partial step
    const cg = k / 8;
    const convLayer = conv([2, cg, 2, 4], A([1, 1], [0, 0, 0, 0]), Float64Array.from({ length: 2 * k }, (_, i) => (i < k || i % 5 !== 0 ? DOT4_MAX_WEIGHT : DOT4_MIN_WEIGHT)));
    const gemmLayer = gemm(k, 2, Float64Array.from({ length: 2 * k }, (_, i) => (i % 2 === 0 ? DOT4_MAX_WEIGHT : i % 6 === 1 ? DOT4_MIN_WEIGHT : 12_345)));
    for (const [layer, inDims] of [[convLayer, [1, cg, 2, 4]], [gemmLayer, [17, k]], [gemmLayer, [2, k]]] as const) {
      const plan = dot4Plan(dot4, layer)!;
      assert.ok(plan.segmentTaps < k && plan.segmentTaps === 33_024, `a fold inside K (segment ${plan.segmentTaps})`);
      const x = new Float64Array(size(inDims)).fill(P - 1);
      const viaDot4 = await run(dot4, layer, inDims, x);
      assert.deepEqual(viaDot4, bigintRef(layer, inDims, x), `${layer.op} against BigInt`);
      assert.deepEqual(viaDot4, await run(limbs, layer, inDims, x), `${layer.op} against 12-bit limbs`);
    }
  });

  it('depthwise stays on 12-bit limbs on a dot4 engine, exactly', async () => {
    const dw = conv([12, 1, 3, 2], A([2, 1], [2, 1, 0, 1], [2, 1], 6));
    assert.equal(dot4Plan(dot4, dw), undefined);
    assert.equal(schemeOf(dot4, dw, [1, 6, 13, 9]), 'limbs');
    const x = new Float64Array(6 * 13 * 9).fill(P - 1);
    assert.deepEqual(await run(dot4, dw, [1, 6, 13, 9], x), bigintRef(dw, [1, 6, 13, 9], x));
  });

  it('a weight past ±2^15 is refused on a forced dot4 engine, naming the layer; auto leaves that layer to the limbs', async () => {
    for (const bad of [DOT4_MAX_WEIGHT + 1, DOT4_MIN_WEIGHT - 1]) {
      const layer = gemm(20, 3, Float64Array.from({ length: 60 }, (_, i) => (i === 31 ? bad : 7)));
      assert.throws(() => dot4.register(layer, 'too_wide'), (e: unknown) => e instanceof OverflowError && e.layer === 'too_wide' && /outside \[-32768, 32767\]/.test(e.message));
      const auto = await WebGpuEngine.open({ adapter: TEST_ADAPTER, kernel: 'auto' });
      try {
        if (auto.kernelConfig.path !== 'dot4') continue; // nothing to fall back from
        assert.equal(dot4Plan(auto, layer), undefined, 'on the limb kernels');
        const x = new Float64Array(17 * 20).fill(P - 1);
        assert.deepEqual(await run(auto, layer, [17, 20], x), bigintRef(layer, [17, 20], x));
      } finally {
        await auto.close();
      }
    }
  });

  it('a tile the dot4 kernel cannot use: forced dot4 refuses to open, auto runs the 12-bit limbs and says why', async () => {
    const tile = { wgX: 8, wgY: 8, tm: 1, tn: 1 }; // 64 threads over 8 columns: 8 rows of quads, KT holds 4
    await assert.rejects(WebGpuEngine.open({ adapter: TEST_ADAPTER, kernel: 'dot4', tile }), (e: unknown) => e instanceof InvalidArgumentError && /dot4 WebGPU kernels were asked for/.test(e.message));
    const auto = await WebGpuEngine.open({ adapter: TEST_ADAPTER, tile });
    try {
      assert.equal(auto.kernelConfig.path, 'limbs');
      assert.match(auto.kernelDescription, /12-bit limbs on i32 \(dot4 not used: .*not usable by the dot4 kernel/);
      const layer = conv([5, 8, 3, 3], A([1, 1], [1, 1, 1, 1]));
      const x = new Float64Array(2 * 8 * 6 * 6).fill(P - 1);
      assert.deepEqual(await run(auto, layer, [2, 8, 6, 6], x), bigintRef(layer, [2, 8, 6, 6], x));
    } finally {
      await auto.close();
    }
  });

  it('the path: forced by the option or SLALOM_WEBGPU_KERNEL, named in the description; auto takes dot4 where the probe passes', async () => {
    assert.equal(dot4.kernelConfig.path, 'dot4');
    assert.match(dot4.kernelDescription, /packed 4×8-bit dot products/);
    assert.equal(limbs.kernelConfig.path, 'limbs');
    assert.match(limbs.kernelDescription, /^exact kernels: 12-bit limbs on i32$/);
    const saved = process.env.SLALOM_WEBGPU_KERNEL;
    try {
      process.env.SLALOM_WEBGPU_KERNEL = 'limbs';
      const fromEnv = await WebGpuEngine.open({ adapter: TEST_ADAPTER });
      assert.equal(fromEnv.kernelConfig.path, 'limbs');
      await fromEnv.close();
      process.env.SLALOM_WEBGPU_KERNEL = 'fastest';
      await assert.rejects(WebGpuEngine.open({ adapter: TEST_ADAPTER }), (e: unknown) => e instanceof InvalidArgumentError && /SLALOM_WEBGPU_KERNEL/.test(e.message));
      delete process.env.SLALOM_WEBGPU_KERNEL;
      const auto = await WebGpuEngine.open({ adapter: TEST_ADAPTER });
      // This adapter passed the forced dot4 probe above, so auto must take dot4 too.
      assert.equal(auto.kernelConfig.path, 'dot4');
      await auto.close();
    } finally {
      if (saved === undefined) delete process.env.SLALOM_WEBGPU_KERNEL;
      else process.env.SLALOM_WEBGPU_KERNEL = saved;
    }
  });
});
