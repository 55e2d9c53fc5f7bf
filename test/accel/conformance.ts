/**
 * Test helper: what every embedded accelerator backend must do,
 * as one suite that takes the backend as a parameter (noble's `platform` argument). Against the
 * in-thread LocalBackend and the BigInt reference: the same residues on layers of every kind (conv
 * with stride, padding, dilation, groups; depthwise; pointwise; gemm; batch > 1) with random and
 * extreme inputs, the caller's input untouched; many requests in flight answered to the right
 * callers; failures as TransportErrors, the backend still serving after them (unknown layer, a
 * non-residue input, a short input); requests after close() refused; a layer over the float64
 * exactness bound refused at registration, naming it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { AcceleratorBackend, LinearReply, PublicLayer } from '../../src/accel/backend.js';
import { LocalBackend } from '../../src/accel/local.js';
import { acceptValues } from '../helpers/accept.js';
import { revealForValidation } from '../../src/boundary/untrusted.js';
import { TransportError } from '../../src/errors.js';
import { MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { tensor } from '../../src/tensor/tensor.js';
import { int, rng, size } from '../helpers/random.js';
import { reference, type LinearCase } from '../helpers/linear-case.js';

const A = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], group = 1): ConvAttrs => ({ strides, pads, dilations, group });

function cases(seed: number): LinearCase[] {
  const r = rng(seed);
  const w = (dims: number[], max: number) => tensor(dims, Float64Array.from({ length: size(dims) }, () => int(r, -max, max)));
  const conv = (id: number, inDims: number[], wDims: number[], conv: ConvAttrs, max = 127): LinearCase => ({ layer: { id, name: `conv${id}`, op: 'Conv', conv, wDims, w: w(wDims, max) }, inDims, outDims: convOutputDims(inDims, wDims, conv) });
  const gemm = (id: number, b: number, k: number, n: number, max = 127): LinearCase => ({ layer: { id, name: `fc${id}`, op: 'Gemm', wDims: [k, n], w: w([k, n], max) }, inDims: [b, k], outDims: [b, n] });
  return [
    conv(0, [2, 3, 9, 9], [5, 3, 3, 3], A([2, 2], [1, 0, 2, 1])),
    conv(1, [1, 4, 8, 8], [4, 1, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1], 4)),
    conv(2, [3, 6, 5, 5], [4, 3, 3, 3], A([1, 1], [2, 2, 2, 2], [2, 2], 2)),
    conv(3, [2, 5, 6, 6], [7, 5, 1, 1], A([1, 1], [0, 0, 0, 0])),
    conv(4, [1, 16, 6, 6], [8, 16, 3, 3], A([3, 3], [0, 1, 1, 0]), 20_000),
    gemm(5, 3, 40, 11),
    gemm(6, 1, 2048, 3, 1500),
  ];
}

/** Registers a `describe` block checking `make()`'s backend; `make` is called once for the shared backend and once per lifecycle test. */
export function backendConformance(label: string, make: () => Promise<AcceleratorBackend>, options: { skip?: string | false } = {}): void {
  describe(`${label} conforms to the accelerator contract`, { skip: options.skip ?? false }, () => {
    const all = cases(0xc0f);
    const r = rng(0xc10);
    const residues = (n: number): Uint32Array => Uint32Array.from({ length: n }, () => int(r, 0, P - 1));
    const local = new LocalBackend();
    let backend: AcceleratorBackend;
    let counter = 0;
    /** A fresh request id. */
    const nextId = (): string => `conformance-${++counter}`;
    const run = async (b: AcceleratorBackend, c: LinearCase, x: Uint32Array): Promise<Uint32Array> => {
      const requestId = nextId();
      return acceptValues(await b.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x }), { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
    };

    before(async () => {
      backend = await make();
      await backend.loadWeights(all.map((c) => c.layer));
      await local.loadWeights(all.map((c) => c.layer));
    });
    after(async () => {
      await backend?.close();
    });

    it('computes what LocalBackend and BigInt compute, on layers of every kind, random and extreme inputs', async () => {
      for (const c of all) {
        for (const fill of [undefined, P - 1, 0]) {
          const x = fill === undefined ? residues(size(c.inDims)) : new Uint32Array(size(c.inDims)).fill(fill);
          const copy = x.slice();
          const y = await run(backend, c, x);
          assert.deepEqual([...x], [...copy], 'the caller’s input is left untouched');
          assert.deepEqual([...y], [...(await run(local, c, x))], c.layer.name);
          assert.deepEqual([...y], [...reference(c, x)], `${c.layer.name} against BigInt`);
        }
      }
    });

    it('answers many requests in flight at once to the right callers', async () => {
      const jobs = Array.from({ length: 24 }, (_, i) => {
        const c = all[i % all.length]!;
        return { c, x: residues(size(c.inDims)), requestId: nextId() };
      });
      const replies = await Promise.all(jobs.map((j) => backend.linear({ requestId: j.requestId, layerId: j.c.layer.id, dims: j.c.inDims, x: j.x })));
      jobs.forEach(({ c, x, requestId }, i) => {
        const y = acceptValues(replies[i]!, { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
        assert.deepEqual([...y], [...reference(c, x)], `job ${i}`);
        assert.equal((revealForValidation(replies[i]!) as LinearReply).requestId, requestId);
      });
    });

    it('fails an unknown layer, a non-residue or a short input with TransportError, and keeps serving', async () => {
      const c = all[5]!;
      await assert.rejects(backend.linear({ requestId: nextId(), layerId: 999, dims: [1, 2], x: new Uint32Array(2) }), (e: unknown) => e instanceof TransportError && /unknown layer/.test(e.message));
      // A u32 holds only integers: the values a residue is not are those ≥ p (−1 is 2^32 − 1 here).
      for (const bad of [-1, P, P + 1, 2 ** 31]) {
        const x = residues(size(c.inDims));
        x[3] = bad;
        await assert.rejects(backend.linear({ requestId: nextId(), layerId: c.layer.id, dims: c.inDims, x }), TransportError, String(bad));
      }
      await assert.rejects(backend.linear({ requestId: nextId(), layerId: c.layer.id, dims: c.inDims, x: new Uint32Array(5) }), TransportError);
      const x = residues(size(c.inDims));
      assert.deepEqual([...(await run(backend, c, x))], [...reference(c, x)]);
    });

    it('refuses, naming it, a layer over the float64 bound (Σ|w|·(p − 1) ≥ 2^53)', async () => {
      const bad: PublicLayer = { id: 100, name: 'huge_fc', op: 'Gemm', wDims: [2, 2], w: tensor([2, 2], [MAX_WEIGHT_L1, 3, 1, -3]) };
      const b = await make();
      try {
        await assert.rejects(b.loadWeights([bad]), (e: unknown) => e instanceof TransportError && e.message.includes('huge_fc'));
      } finally {
        await b.close();
      }
    });

    it('refuses every request after close()', async () => {
      const b = await make();
      const c = all[5]!;
      await b.loadWeights([c.layer]);
      await b.close();
      await assert.rejects(b.linear({ requestId: nextId(), layerId: c.layer.id, dims: c.inDims, x: residues(size(c.inDims)) }), TransportError);
      await b.close(); // twice is harmless
    });
  });
}
