/**
 * The embedded worker-thread accelerator (src/accel/worker/client.ts) against the in-thread
 * LocalBackend: the same results on random layers (conv of every kind, gemm, batch > 1, many requests
 * in flight at once), the caller's input left untouched; and its failure modes are typed and bounded
 * (docs/design.md §1): an unknown layer or a non-residue input → TransportError; a tiny timeoutMs on a
 * large layer → TransportError, not a hang; requests after close() → TransportError; loadWeights
 * refuses a layer whose Σ|w|·(p − 1) reaches 2^53 (the exactness bound of field/prime.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { LinearReply, PublicLayer } from '../../src/accel/backend.js';
import { LocalBackend } from '../../src/accel/local.js';
import { WorkerBackend } from '../../src/accel/worker/client.js';
import { acceptValues } from '../helpers/accept.js';
import { alloc, release, u32 } from '../../src/simd/arena.js';
import { revealForValidation } from '../../src/boundary/untrusted.js';
import { OverflowError, InvalidArgumentError, TransportError } from '../../src/errors.js';
import { MAX_EXACT, MAX_WEIGHT_L1, P } from '../../src/field/prime.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ConvAttrs } from '../../src/kernels/names.js';
import { tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { convRef, gemmRef } from '../reference/bigint.js';
import { reference, type LinearCase } from '../helpers/linear-case.js';

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const rng = new Rng(0x3017);

function ints(n: number, max: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((rng.nextI32() >>> 0) % (2 * max + 1)) - max;
  return out;
}

function residues(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.nextI32() >>> 0) % P;
  return out;
}

function convCase(id: number, inDims: number[], wDims: [number, number, number, number], conv: ConvAttrs, maxW = 127): LinearCase {
  return { layer: { id, name: `conv${id}`, op: 'Conv', conv, wDims: wDims, w: tensor(wDims, ints(size(wDims), maxW)) }, inDims, outDims: convOutputDims(inDims, wDims, conv) };
}

function gemmCase(id: number, b: number, k: number, n: number, maxW = 127): LinearCase {
  return { layer: { id, name: `fc${id}`, op: 'Gemm', wDims: [k, n], w: tensor([k, n], ints(k * n, maxW)) }, inDims: [b, k], outDims: [b, n] };
}

const A = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], group = 1): ConvAttrs => ({ strides, pads, dilations, group });

const CASES: LinearCase[] = [
  convCase(0, [2, 3, 9, 9], [5, 3, 3, 3], A([2, 2], [1, 0, 2, 1])),
  convCase(1, [1, 4, 8, 8], [4, 1, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1], 4)),
  convCase(2, [3, 6, 5, 5], [4, 3, 3, 3], A([1, 1], [2, 2, 2, 2], [2, 2], 2)),
  convCase(3, [2, 5, 6, 6], [7, 5, 1, 1], A([1, 1], [0, 0, 0, 0])),
  convCase(4, [1, 16, 6, 6], [8, 16, 3, 3], A([3, 3], [0, 1, 1, 0]), 40_000),
  gemmCase(5, 3, 40, 11),
  gemmCase(6, 1, 2048, 3, 100_000),
];

let worker: WorkerBackend;
const local = new LocalBackend();
let counter = 0;
/** A fresh request id. */
const nextId = (): string => `worker-test-${++counter}`;

before(async () => {
  worker = new WorkerBackend();
  await worker.loadWeights(CASES.map((c) => c.layer));
  await local.loadWeights(CASES.map((c) => c.layer));
});

after(async () => {
  await worker.close();
});

describe('WorkerBackend computes what LocalBackend computes', () => {
  it('on random layers of every kind, with the extremes of the residues', async () => {
    for (const c of CASES) {
      for (const fill of [undefined, P - 1, 0]) {
        const x = fill === undefined ? residues(size(c.inDims)) : new Uint32Array(size(c.inDims)).fill(fill);
        const xCopy = x.slice();
        const requestId = nextId();
        const expected = { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims };
        const fromWorker = acceptValues(await worker.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x }), expected);
        const fromLocal = acceptValues(await local.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x }), expected);
        assert.deepEqual([...x], [...xCopy], 'the caller’s input is left untouched');
        assert.deepEqual([...fromWorker], [...fromLocal], c.layer.name);
        assert.deepEqual([...fromWorker], [...reference(c, x)], `${c.layer.name} against BigInt`);
      }
    }
  });

  it("a request in the trusted runtime's memory leaves as a copy in a buffer of its own, never as shared memory", async () => {
    const c = CASES[0]!;
    const n = size(c.inDims);
    const region = alloc(4 * n);
    const x = u32(region, n);
    x.set(residues(n));
    assert.ok(x.buffer instanceof SharedArrayBuffer, 'the arena is shared memory (it grows without detaching views)');
    const posted: unknown[] = [];
    const inner = (worker as unknown as { worker: { postMessage(m: unknown, t?: unknown[]): void } }).worker;
    const post = inner.postMessage.bind(inner);
    inner.postMessage = (m: unknown, t?: unknown[]) => {
      posted.push((m as { x?: Uint32Array }).x?.buffer);
      post(m, t);
    };
    try {
      for (let round = 0; round < 3; round++) {
        const requestId = nextId();
        const y = acceptValues(await worker.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x }), { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
        assert.deepEqual([...y], [...reference(c, x)]);
      }
    } finally {
      inner.postMessage = post;
      release(region);
    }
    assert.equal(posted.length, 3);
    for (const b of posted) assert.ok(b instanceof ArrayBuffer && !(b instanceof SharedArrayBuffer), 'a plain ArrayBuffer went to the worker');
    assert.equal(x.length, n, 'the view is still attached');
  });

  it('a request already written into its requestBuffer leaves as that buffer, with no copy; a detached or foreign one is copied into', async () => {
    const c = CASES[0]!;
    const n = size(c.inDims);
    const x = residues(n);
    const expected = (requestId: string) => ({ requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
    const posted: unknown[] = [];
    const inner = (worker as unknown as { worker: { postMessage(m: unknown, t?: unknown[]): void } }).worker;
    const post = inner.postMessage.bind(inner);
    inner.postMessage = (m: unknown, t?: unknown[]) => {
      posted.push((m as { x?: Uint32Array }).x);
      post(m, t);
    };
    try {
      const wire = worker.requestBuffer(n);
      assert.ok(wire.buffer instanceof ArrayBuffer && wire.length === n);
      wire.set(x);
      let requestId = nextId();
      const y = acceptValues(await worker.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x, wire }), expected(requestId));
      assert.deepEqual([...y], [...reference(c, x)]);
      assert.equal(posted.at(-1), wire, 'the request buffer itself went to the worker');
      assert.equal(wire.length, 0, 'and is the worker’s now (transferred)');
      for (const other of [wire, new Uint32Array(n + 1).subarray(0, n), new Uint32Array(n - 1)]) {
        requestId = nextId();
        const z = acceptValues(await worker.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x, wire: other }), expected(requestId));
        assert.deepEqual([...z], [...reference(c, x)], 'x, copied, whatever the unusable buffer held');
        assert.notEqual(posted.at(-1), other);
      }
    } finally {
      inner.postMessage = post;
    }
  });

  it('many requests in flight at once come back to the right callers', async () => {
    const jobs = Array.from({ length: 24 }, (_, i) => {
      const c = CASES[i % CASES.length]!;
      const x = residues(size(c.inDims));
      return { c, x, requestId: nextId() };
    });
    const replies = await Promise.all(jobs.map((j) => worker.linear({ requestId: j.requestId, layerId: j.c.layer.id, dims: j.c.inDims, x: j.x })));
    for (let i = 0; i < jobs.length; i++) {
      const { c, x, requestId } = jobs[i]!;
      const y = acceptValues(replies[i]!, { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
      assert.deepEqual([...y], [...reference(c, x)], `job ${i}`);
      assert.equal((revealForValidation(replies[i]!) as LinearReply).requestId, requestId);
    }
  });
});

describe('WorkerBackend failures are TransportErrors', () => {
  it('a request for an unknown layer', async () => {
    await assert.rejects(worker.linear({ requestId: nextId(), layerId: 999, dims: [1, 2], x: new Uint32Array(2) }), (e: unknown) => e instanceof TransportError && /unknown layer/.test(e.message));
    // The worker is still serving.
    const c = CASES[5]!;
    const x = residues(size(c.inDims));
    const requestId = nextId();
    const y = acceptValues(await worker.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x }), { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
    assert.deepEqual([...y], [...reference(c, x)]);
  });

  it('an input that is not residues, or does not fill its shape', async () => {
    const c = CASES[5]!;
    // A u32 holds only integers: the values a residue is not are those ≥ p (−1 is 2^32 − 1 here).
    for (const bad of [-1, P, P + 1, 2 ** 31]) {
      const x = residues(size(c.inDims));
      x[3] = bad;
      await assert.rejects(worker.linear({ requestId: nextId(), layerId: c.layer.id, dims: c.inDims, x }), TransportError, String(bad));
    }
    await assert.rejects(worker.linear({ requestId: nextId(), layerId: c.layer.id, dims: c.inDims, x: new Uint32Array(5) }), TransportError);
  });

  it('a tiny timeoutMs on a large layer: TransportError, not a hang', async () => {
    // 64×64×64 input, 64 3×3 filters: ≈ 151 M multiply-adds, far more than 1 ms of work.
    const big = convCase(0, [1, 64, 64, 64], [64, 64, 3, 3], A([1, 1], [1, 1, 1, 1]), 3);
    const impatient = new WorkerBackend({ timeoutMs: 1 });
    const start = performance.now();
    try {
      // Even loading (the worker starts up first) may outlast 1 ms; either way it must settle.
      await impatient.loadWeights([big.layer]).catch((e: unknown) => {
        assert.ok(e instanceof TransportError, String(e));
        assert.match(e.message, /within 1 ms/);
      });
      await assert.rejects(
        impatient.linear({ requestId: 'r1', layerId: 0, dims: big.inDims, x: residues(size(big.inDims)) }),
        (e: unknown) => e instanceof TransportError && /within 1 ms/.test(e.message),
      );
    } finally {
      await impatient.close();
    }
    assert.ok(performance.now() - start < 10_000, 'the timeout settled promptly');
  });

  it('a timeout while the worker is busy on a large layer; its late reply is ignored and the worker keeps serving', async () => {
    const big = convCase(0, [1, 64, 64, 64], [64, 64, 3, 3], A([1, 1], [1, 1, 1, 1]), 3);
    const small = gemmCase(1, 2, 8, 3);
    const w = new WorkerBackend();
    try {
      await w.loadWeights([big.layer, small.layer]);
      // Loaded with the patient default; now make it impatient (a private field: a test may).
      (w as unknown as { timeoutMs: number }).timeoutMs = 5;
      const start = performance.now();
      await assert.rejects(
        w.linear({ requestId: 'r1', layerId: 0, dims: big.inDims, x: residues(size(big.inDims)) }),
        (e: unknown) => e instanceof TransportError && /within 5 ms/.test(e.message),
      );
      const waited = performance.now() - start;
      assert.ok(waited < 5_000, `settled after ${waited.toFixed(0)} ms`);
      (w as unknown as { timeoutMs: number }).timeoutMs = 60_000;
      const x = residues(size(small.inDims));
      const y = acceptValues(await w.linear({ requestId: 'r2', layerId: 1, dims: small.inDims, x }), { requestId: 'r2', layerId: 1, layerName: small.layer.name, dims: small.outDims });
      assert.deepEqual([...y], [...reference(small, x)]);
    } finally {
      await w.close();
    }
  });

  it('after close(), every request rejects with TransportError', async () => {
    const w = new WorkerBackend();
    const c = CASES[5]!;
    await w.loadWeights([c.layer]);
    const requestId = nextId();
    const x = residues(size(c.inDims));
    acceptValues(await w.linear({ requestId, layerId: c.layer.id, dims: c.inDims, x }), { requestId, layerId: c.layer.id, layerName: c.layer.name, dims: c.outDims });
    await w.close();
    await assert.rejects(w.linear({ requestId: nextId(), layerId: c.layer.id, dims: c.inDims, x }), TransportError);
    await assert.rejects(w.loadWeights([c.layer]), TransportError);
    await w.close(); // closing twice is harmless
  });
});

describe('loadWeights refuses a layer it cannot compute exactly', () => {
  // One output whose weights have L1 = MAX_WEIGHT_L1 + 1: (p − 1)·L1 ≥ 2^53.
  const tooBig = (op: 'Conv' | 'Gemm', l1: number): PublicLayer =>
    op === 'Gemm'
      ? { id: 100, name: 'huge_fc', op, wDims: [2, 2], w: tensor([2, 2], [l1 - 1, 3, 1, -3]) }
      : { id: 101, name: 'huge_conv', op, conv: A([1, 1], [0, 0, 0, 0]), wDims: [2, 2, 1, 1], w: tensor([2, 2, 1, 1], [1 - l1, 1, 2, 2]) };

  it('the bound: L1 = MAX_WEIGHT_L1 is exact, MAX_WEIGHT_L1 + 1 is not', () => {
    assert.ok(MAX_WEIGHT_L1 * (P - 1) <= MAX_EXACT);
    assert.ok((MAX_WEIGHT_L1 + 1) * (P - 1) >= 2 ** 53);
  });

  for (const op of ['Gemm', 'Conv'] as const) {
    it(`${op}: the worker refuses with TransportError, LocalBackend with OverflowError, both naming the layer`, async () => {
      const bad = tooBig(op, MAX_WEIGHT_L1 + 1);
      const w = new WorkerBackend();
      try {
        await assert.rejects(w.loadWeights([bad]), (e: unknown) => e instanceof TransportError && e.message.includes(bad.name) && /2\^53/.test(e.message));
        // Right at the bound it loads and computes exactly.
        const ok = tooBig(op, MAX_WEIGHT_L1);
        await w.loadWeights([ok]);
        const inDims = op === 'Gemm' ? [1, 2] : [1, 2, 1, 1];
        const x = new Uint32Array([P - 1, P - 1]);
        const reply = revealForValidation(await w.linear({ requestId: 'r1', layerId: ok.id, dims: inDims, x })) as LinearReply;
        const expected = op === 'Gemm' ? gemmRef(1, 2, 2, x, ok.w.data) : convRef(inDims, x, ok.w.dims, ok.w.data, ok.conv!).data;
        assert.deepEqual([...reply.data], [...expected]);
      } finally {
        await w.close();
      }
      await assert.rejects(new LocalBackend().loadWeights([bad]), (e: unknown) => e instanceof OverflowError && e.layer === bad.name);
    });
  }

  it('non-integer weights are refused too', async () => {
    const layer: PublicLayer = { id: 7, name: 'fractional', op: 'Gemm', wDims: [1, 1], w: tensor([1, 1], [0.5]) };
    await assert.rejects(new LocalBackend().loadWeights([layer]), InvalidArgumentError);
    const w = new WorkerBackend();
    try {
      await assert.rejects(w.loadWeights([layer]), TransportError);
    } finally {
      await w.close();
    }
  });
});
