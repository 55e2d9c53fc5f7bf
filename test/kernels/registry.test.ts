/**
 * The kernel registry (src/kernels/registry.ts): implementations and (op, implementation) pairs
 * registered once (a duplicate throws), an implementation opened only when asked for, each layer
 * sent to the kernel of its op, one-line errors for an unknown implementation or a missing op, and
 * every built-in CPU implementation — js, ort, and the accelerator service's onnx-graph — giving the
 * BigInt reference's residues on the same random layers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import '../../src/accel/http/onnx-graph-kernels.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { createExactKernels, type KernelLayer } from '../../src/kernels/exact-linear.js';
import { getKernel, kernelImplementations, kernelOps, openKernels, registerKernel, registerKernelImplementation } from '../../src/kernels/registry.js';
import { convRef, gemmRef } from '../reference/bigint.js';
import { int, rng, size } from '../helpers/random.js';

declare module '../../src/kernels/registry.js' {
  interface KernelOptionMap {
    'test-gemm-only': { readonly offset?: number };
  }
}

let opened = 0;
registerKernelImplementation('test-gemm-only', {
  async open() {
    opened++;
    return { device: 'a test', close: async () => {} };
  },
});
registerKernel({ op: 'Gemm', impl: 'test-gemm-only', run: async (_, __, ___, x) => x.map((v) => (v + 1) % P) });

const random = (r: () => number, dims: readonly number[], lo: number, hi: number): Float64Array => Float64Array.from({ length: size(dims) }, () => int(r, lo, hi));

describe('kernel registry', () => {
  it('lists the built-in implementations, each with a Conv and a Gemm kernel', () => {
    for (const impl of ['js', 'ort', 'onnx-graph'] as const) {
      assert.ok(kernelImplementations().includes(impl), impl);
      assert.deepEqual(kernelOps(impl).sort(), ['Conv', 'Gemm'], impl);
    }
    assert.ok(getKernel('Conv', 'js') !== undefined);
    assert.equal(getKernel('Conv', 'test-gemm-only'), undefined);
  });

  it('refuses a second registration of an implementation or of an (op, implementation) pair', () => {
    assert.throws(() => registerKernelImplementation('js', { open: async () => ({ close: async () => {} }) }), (e: unknown) => e instanceof InvalidArgumentError && /'js' is already registered/.test(e.message));
    assert.throws(() => registerKernel({ op: 'Gemm', impl: 'test-gemm-only', run: async (_, __, ___, x) => x }), (e: unknown) => e instanceof InvalidArgumentError && /Gemm of implementation 'test-gemm-only' is already registered/.test(e.message));
  });

  it('opens an implementation only when asked, and sends each layer to the kernel of its op', async () => {
    assert.equal(opened, 0, 'registering does not open');
    const k = await openKernels('test-gemm-only', {});
    assert.equal(opened, 1);
    assert.equal(k.device, 'a test');
    const gemm: KernelLayer = { op: 'Gemm', wDims: [1, 1], w: { dims: [1, 1], data: Float64Array.of(1) } };
    assert.deepEqual([...(await k.apply(gemm, [1, 1], Uint32Array.of(P - 1)))], [0]);
    const conv: KernelLayer = { op: 'Conv', name: 'conv1', conv: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }, wDims: [1, 1, 1, 1], w: { dims: [1, 1, 1, 1], data: Float64Array.of(1) } };
    await assert.rejects(k.apply(conv, [1, 1, 1, 1], Uint32Array.of(0)), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'conv1: the test-gemm-only kernels have no Conv kernel (they have Gemm)');
    await k.close();
  });

  it('names the registered implementations when asked for an unknown one', async () => {
    await assert.rejects(openKernels('nonexistent' as 'js', {}), (e: unknown) => e instanceof InvalidArgumentError && /unknown kernel implementation 'nonexistent' \(one of .*\bjs\b.*\bort\b/.test(e.message));
    await assert.rejects(createExactKernels('webgpu' as 'js'), (e: unknown) => e instanceof InvalidArgumentError && /kernels must be one of ort, js/.test(e.message), 'the trusted runtime takes only its own CPU kernels');
  });

  it('gives the BigInt reference on random layers, in every built-in CPU implementation', async () => {
    const r = rng(2016);
    const impls = [await createExactKernels('js'), await createExactKernels('ort'), await openKernels('onnx-graph', {})];
    try {
      for (let i = 0; i < 6; i++) {
        const n = int(r, 1, 2);
        const c = int(r, 1, 4);
        const m = int(r, 1, 4);
        const h = int(r, 3, 6);
        const conv: KernelLayer = { op: 'Conv', name: `conv${i}`, conv: { strides: [int(r, 1, 2), 1], pads: [1, 0, int(r, 0, 1), 1], dilations: [1, 1], group: 1 }, wDims: [m, c, 3, 2], w: { dims: [m, c, 3, 2], data: random(r, [m, c, 3, 2], -128, 127) }, inDims: [n, c, h, h] };
        const gemm: KernelLayer = { op: 'Gemm', name: `gemm${i}`, wDims: [c * 3, m], w: { dims: [c * 3, m], data: random(r, [c * 3, m], -1000, 1000) } };
        const xc = Uint32Array.from(random(r, [n, c, h, h], 0, P - 1));
        const xg = Uint32Array.from(random(r, [n, c * 3], 0, P - 1));
        const wantConv = convRef([n, c, h, h], xc, conv.w.dims, conv.w.data, conv.conv!).data;
        const wantGemm = gemmRef(n, c * 3, m, xg, gemm.w.data);
        for (const k of impls) {
          await k.prepare?.(conv);
          await k.prepare?.(gemm);
          assert.deepEqual([...(await k.apply(conv, [n, c, h, h], xc))], [...wantConv], `${k.name} ${conv.name}`);
          assert.deepEqual([...(await k.apply(gemm, [n, c * 3], xg))], [...wantGemm], `${k.name} ${gemm.name}`);
          k.release?.(conv);
          k.release?.(gemm);
        }
      }
    } finally {
      for (const k of impls) await k.close();
    }
  });
});
