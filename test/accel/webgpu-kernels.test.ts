/**
 * The WebGPU exact kernels (src/accel/webgpu/) against the BigInt reference (test/reference/bigint.ts)
 * and slalom's JS kernels, on the adapter test/helpers/webgpu.ts picks (llvmpipe on CI): every kernel
 * family and mode — tiled conv (strides, asymmetric padding, dilation, groups, more channels and
 * pixels than one tile), pointwise, depthwise (channel multiplier, stride, dilation), dense small
 * batch (one workgroup and split-K) and dense large batch (tiled) — on random residues and weights,
 * on the extremes (x = 0 and p − 1 everywhere; weights at ±max), a layer exactly at the limb bound
 * (Σ|w| = 524 416 in one segment), layers that fold many segments (|w| = 32 776), and the refusal
 * of a layer just past the bound — on the 12-bit-limb kernels, forced; the same cases again with the
 * conv and dense kernels on packed dot products (test/accel/webgpu-dot4.test.ts has that scheme's own
 * bounds).
 * Skipped with the reason where no adapter exists.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { WebGpuEngine } from '../../src/accel/webgpu/engine.js';
import { MAX_FOLDED_WEIGHT, SEGMENT_L1 } from '../../src/accel/webgpu/limbs.js';
import { OverflowError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import { applyExactSync, type ExactLinearLayer } from '../../src/kernels/exact-linear.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { tensor } from '../../src/tensor/tensor.js';
import { int, rng, size } from '../helpers/random.js';
import { TEST_ADAPTER, webgpuSkipReason } from '../helpers/webgpu.js';
import { convRef, gemmRef } from '../reference/bigint.js';

const skip = await webgpuSkipReason();
const r = rng(0x14);

const A = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], group = 1): ConvAttrs => ({ strides, pads, dilations, group });
const weights = (n: number, max: number): Float64Array => Float64Array.from({ length: n }, () => int(r, -max, max));
const residues = (n: number): Float64Array => Float64Array.from({ length: n }, () => int(r, 0, P - 1));

interface Case {
  readonly label: string;
  readonly layer: ExactLinearLayer;
  readonly inDims: number[];
  /** Check against BigInt too (small enough for it). */
  readonly bigint: boolean;
}

function convCase(label: string, inDims: number[], wDims: [number, number, number, number], conv: ConvAttrs, maxW = 1500, bigint = true): Case {
  return { label, layer: { op: 'Conv', conv, wDims: wDims, w: tensor(wDims, weights(size(wDims), maxW)) }, inDims, bigint };
}

function gemmCase(label: string, b: number, k: number, n: number, maxW = 1500, bigint = true): Case {
  return { label, layer: { op: 'Gemm', wDims: [k, n], w: tensor([k, n], weights(k * n, maxW)) }, inDims: [b, k], bigint };
}

const CASES: Case[] = [
  convCase('conv 3×3 pad 1', [2, 3, 9, 9], [8, 3, 3, 3], A([1, 1], [1, 1, 1, 1])),
  convCase('conv stride 2, asymmetric pads, 70 channels (two row tiles)', [2, 5, 11, 10], [70, 5, 3, 3], A([2, 2], [1, 0, 2, 1])),
  convCase('conv dilation 2, group 2', [3, 6, 5, 5], [6, 3, 3, 3], A([1, 1], [2, 2, 2, 2], [2, 2], 2)),
  convCase('conv 5×3 kernel, stride (1, 2), group 3', [1, 9, 12, 11], [12, 3, 5, 3], A([1, 2], [2, 1, 2, 1], [1, 1], 3)),
  convCase('conv 7×7 stride 2 pad 3 (a ResNet stem), 300 pixels per image', [1, 3, 40, 30], [16, 3, 7, 7], A([2, 2], [3, 3, 3, 3]), 1500, false),
  convCase('pointwise 1×1', [3, 20, 5, 7], [33, 20, 1, 1], A([1, 1], [0, 0, 0, 0])),
  convCase('pointwise grouped', [2, 16, 6, 6], [24, 4, 1, 1], A([1, 1], [0, 0, 0, 0], [1, 1], 4)),
  convCase('1×1 stride 2 (tiled, not pointwise)', [1, 8, 9, 9], [5, 8, 1, 1], A([2, 2], [0, 0, 0, 0])),
  convCase('depthwise 3×3', [2, 4, 8, 8], [4, 1, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1], 4)),
  convCase('depthwise stride 2, dilation, channel multiplier 2', [1, 6, 13, 9], [12, 1, 3, 2], A([2, 1], [2, 1, 0, 1], [2, 1], 6)),
  convCase('depthwise 5×5, 40×36 pixels (several tiles)', [1, 3, 40, 36], [3, 1, 5, 5], A([1, 1], [2, 2, 2, 2], [1, 1], 3), 1500, false),
  convCase('C = 1 input (depthwise path, multiplier 16)', [1, 1, 28, 28], [16, 1, 3, 3], A([1, 1], [1, 1, 1, 1])),
  gemmCase('dense batch 3', 3, 40, 11),
  gemmCase('dense batch 1, split-K', 1, 3000, 70),
  gemmCase('dense batch 5 (two row groups), 100 columns', 5, 700, 100),
  gemmCase('dense batch 37 (tiled)', 37, 100, 130),
];

let engine: WebGpuEngine;
let dot4Engine: WebGpuEngine;

async function gpu(layer: ExactLinearLayer, inDims: readonly number[], x: Float64Array, on: WebGpuEngine = engine): Promise<{ dims: number[]; data: number[] }> {
  const registered = on.register(layer, 'test');
  try {
    const out = await on.run(registered, inDims, Uint32Array.from(x));
    return { dims: out.dims, data: [...out.data] };
  } finally {
    on.release(registered);
  }
}

async function checkCase(c: Case, on: WebGpuEngine): Promise<void> {
  for (const x of [residues(size(c.inDims)), new Float64Array(size(c.inDims)), new Float64Array(size(c.inDims)).fill(P - 1)]) {
    const out = await gpu(c.layer, c.inDims, x, on);
    const js = applyExactSync(c.layer, c.inDims, Uint32Array.from(x));
    assert.deepEqual(out.dims, c.layer.op === 'Conv' ? convOutputDims(c.inDims, c.layer.w.dims, c.layer.conv!) : [c.inDims[0], c.layer.w.dims[1]]);
    assert.deepEqual(out.data, [...js], 'against the JS kernels');
    if (c.bigint) assert.deepEqual(out.data, bigintRef(c.layer, c.inDims, x), 'against BigInt');
  }
}

function bigintRef(layer: ExactLinearLayer, inDims: readonly number[], x: Float64Array): number[] {
  if (layer.op === 'Gemm') return [...gemmRef(inDims[0]!, inDims[1]!, layer.w.dims[1]!, x, layer.w.data)];
  return [...convRef(inDims, x, layer.w.dims, layer.w.data, layer.conv!).data];
}

describe(`WebGPU exact kernels, 12-bit limbs (${TEST_ADAPTER} adapter)`, { skip }, () => {
  before(async () => {
    engine = await WebGpuEngine.open({ adapter: TEST_ADAPTER, kernel: 'limbs' });
  });
  after(async () => {
    await engine?.close();
  });

  for (const c of CASES) {
    it(`${c.label}: random, all-zero and all-(p − 1) inputs`, () => checkCase(c, engine));
  }

  it('a layer exactly at the bound: one 16-tap segment with Σ|w| = 524 416 against x = p − 1', async () => {
    for (const sign of [1, -1]) {
      const layer: ExactLinearLayer = { op: 'Gemm', wDims: [16, 3], w: tensor([16, 3], Float64Array.from({ length: 48 }, (_, i) => (i % 3 === 2 ? 1 : sign * MAX_FOLDED_WEIGHT))) };
      assert.equal(16 * MAX_FOLDED_WEIGHT, SEGMENT_L1);
      const x = new Float64Array(32).fill(P - 1);
      assert.deepEqual((await gpu(layer, [2, 16], x)).data, [...gemmRef(2, 16, 3, x, layer.w.data)]);
    }
  });

  it('layers that fold every 16 taps (|w| = 32 776 over long rows): conv, dense small and large batch', async () => {
    const extreme = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => (i % 5 === 0 ? -MAX_FOLDED_WEIGHT : MAX_FOLDED_WEIGHT));
    const c: ExactLinearLayer = { op: 'Conv', conv: A([1, 1], [1, 1, 1, 1]), wDims: [6, 40, 3, 3], w: tensor([6, 40, 3, 3], extreme(6 * 360)) };
    const d: ExactLinearLayer = { op: 'Gemm', wDims: [2000, 5], w: tensor([2000, 5], extreme(10_000)) };
    for (const [layer, inDims] of [[c, [1, 40, 4, 4]], [d, [2, 2000]], [d, [20, 2000]]] as const) {
      assert.ok(engine.register(layer, 'probe').plan.segmentTaps === 16);
      for (const x of [new Float64Array(size(inDims)).fill(P - 1), residues(size(inDims))]) {
        assert.deepEqual((await gpu(layer, inDims, x)).data, bigintRef(layer, inDims, x), `${layer.op} ${inDims.join('×')}`);
      }
    }
  });

  it('a layer just past the bound is refused at registration, naming it; nothing is uploaded', () => {
    const over: ExactLinearLayer = { op: 'Conv', conv: A([1, 1], [0, 0, 0, 0]), wDims: [1, 16, 1, 1], w: tensor([1, 16, 1, 1], new Float64Array(16).fill(MAX_FOLDED_WEIGHT + 1)) };
    assert.throws(() => engine.register(over, 'over_the_bound'), (e: unknown) => e instanceof OverflowError && e.layer === 'over_the_bound');
  });

  it('the same registered layer serves requests of different batch sizes, in any order', async () => {
    const c = CASES[1]!;
    const registered = engine.register(c.layer, 'reused');
    try {
      const jobs = [1, 3, 2].map((n) => {
        const dims = [n, ...c.inDims.slice(1)];
        const x = residues(size(dims));
        return { dims, x, out: engine.run(registered, dims, Uint32Array.from(x)) };
      });
      for (const j of jobs) assert.deepEqual([...(await j.out).data], [...applyExactSync(c.layer, j.dims, Uint32Array.from(j.x))]);
    } finally {
      engine.release(registered);
    }
  });
});

describe(`WebGPU exact kernels, conv and dense on packed dot products (${TEST_ADAPTER} adapter)`, { skip }, () => {
  before(async () => {
    dot4Engine = await WebGpuEngine.open({ adapter: TEST_ADAPTER, kernel: 'dot4' });
  });
  after(async () => {
    await dot4Engine?.close();
  });

  for (const c of CASES) it(`${c.label}: random, all-zero and all-(p − 1) inputs`, () => checkCase(c, dot4Engine));
});
