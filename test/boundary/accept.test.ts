/**
 * The trust boundary for accelerator replies (src/boundary/accept.ts, docs/design.md §1, §7): every
 * hostile reply — a non-residue value (≥ p as u32; NaN, −1, p, 2^53, 0.5, ±Infinity… as FP64), a
 * wrong length, the wrong container (Float32Array, a plain Array, other typed arrays, null), wrong
 * ids, a dims mismatch — becomes a MalformedResponseError naming the layer; a valid reply is
 * accepted, its values reach the pass's outputs exactly, and the reply itself is left untouched.
 *
 * Decision on SharedArrayBuffer-backed arrays: REJECTED. Such memory stays writable by whoever
 * shares it (a worker can post one and keep writing to it), so values could change while they are
 * copied — a time-of-check/time-of-use hole. The honest backends transfer or copy ordinary
 * ArrayBuffers, so nothing legitimate is lost. −0 is accepted from FP64 (it equals the residue 0);
 * a view into a larger ordinary buffer is accepted; extra fields (computeMs, anything else) are
 * ignored. The pass that also computes a check's output side rejects exactly the same values, and
 * the decisions come in their fixed order: range, then the check, then the magnitudes; a refused
 * reply leaves nothing allocated behind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeEachBoundary } from '../helpers/boundary-implementations.js';

import type { LinearReply } from '../../src/accel/backend.js';
import { acceptReply } from '../../src/boundary/accept.js';
import type { BoundaryPlan, Crossing, ExpectedReply, OutputSide } from '../../src/boundary/pass-plan.js';
import { untrusted } from '../../src/boundary/untrusted.js';
import { IntegrityError, MalformedResponseError, OverflowError } from '../../src/errors.js';
import { HALF_P, P } from '../../src/field/prime.js';
import { alloc, arenaBytes, i32, regionOf, release, u32, type Region } from '../../src/simd/arena.js';

const EXPECTED: ExpectedReply = { requestId: '5eed5eed5eed5eed-41', layerId: 3, layerName: 'block3.conv', dims: [2, 3, 2, 2] };
const N = 24;

function validData(): Uint32Array {
  const d = new Uint32Array(N);
  for (let i = 0; i < N; i++) d[i] = (i * 699_053) % P;
  d[0] = 0;
  d[N - 1] = P - 1;
  return d;
}

function reply(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { requestId: EXPECTED.requestId, layerId: EXPECTED.layerId, dims: [...EXPECTED.dims], data: validData(), computeMs: 1.5, ...overrides };
}

const centered = (v: number): number => (v > HALF_P ? v - P : v);

/** A check's output side over EXPECTED's shape (2 items × 3 channels, rows of 4 pixels), recording what the pass summed. */
function outputSide(seen: Uint32Array[], verdict: () => void = () => undefined): OutputSide {
  return { weights: { sa: weights, sb: weights }, decide: ({ sums }) => (seen.push(sums!.slice()), verdict()) };
}
const weights: Region = alloc(16);
u32(weights, 4).set([5, 6, 7, P - 1]);
const zeroBias: Region = alloc(12);
i32(zeroBias, 3).fill(0);

/** The layer's boundary: no bias, no clamp, the outputs as floats at scale 1 (so they show the accepted values, centered). */
function plan(check?: OutputSide, decideWorst: (worst: number) => void = () => undefined): BoundaryPlan {
  return {
    reply: EXPECTED,
    layout: { rows: 6, rowLen: 4 },
    ...(check !== undefined ? { check } : {}),
    requant: { bias: zeroBias, perColumn: false, channels: 3, lo: -(2 ** 30), hi: 2 ** 30, poolWidth: 0, shift: -1, dequant: 1, floatDims: EXPECTED.dims, decide: decideWorst },
    fuse: true,
  };
}

function accept(raw: unknown, check?: OutputSide): Crossing {
  const crossing = acceptReply(untrusted(raw as LinearReply), plan(check));
  const floats = crossing.floats!;
  return { floats: { dims: floats.dims, data: floats.data.slice() } };
}

/** The accepted values, as the pass's float outputs give them back. */
function values(raw: unknown, check?: OutputSide): number[] {
  const c = acceptReply(untrusted(raw as LinearReply), plan(check));
  const out = [...c.floats!.data];
  release(regionOf(c.floats!.data)!);
  return out;
}

function assertRejected(raw: unknown, what: string, because?: RegExp, check?: OutputSide): void {
  const before = arenaBytes().live;
  assert.throws(
    () => accept(raw, check),
    (e: unknown) => {
      assert.ok(e instanceof MalformedResponseError, `${what}: got ${String(e)}`);
      assert.equal(e.code, 'SLALOM_ERR_MALFORMED', what);
      assert.equal(e.layer, EXPECTED.layerName, what);
      assert.ok(e.message.startsWith(`${EXPECTED.layerName}: `), `${what}: the message names the layer: ${e.message}`);
      if (because) assert.match(e.message, because, what);
      return true;
    },
    what,
  );
  assert.equal(arenaBytes().live, before, `${what}: nothing the pass wrote is left allocated`);
}

describeEachBoundary('acceptReply: valid replies', () => {
  it('accepts a valid reply: its values reach the outputs exactly, and the reply is left as it came', () => {
    const r = reply();
    const before = [...(r.data as Uint32Array)];
    assert.deepEqual(values(r), before.map(centered));
    assert.deepEqual([...(r.data as Uint32Array)], before);
  });

  it('accepts a valid reply while computing a check\'s output side in the same pass', () => {
    const seen: Uint32Array[] = [];
    const r = reply();
    assert.deepEqual(values(r, outputSide(seen)), [...(r.data as Uint32Array)].map(centered));
    const data = r.data as Uint32Array;
    const expected = Array.from({ length: 6 }, (_, row) => {
      const sum = [0, 1, 2, 3].reduce((acc, q) => acc + BigInt(data[4 * row + q]!) * BigInt([5, 6, 7, P - 1][q]!), 0n);
      return Number(sum % BigInt(P));
    });
    assert.deepEqual([...seen[0]!].filter((_, i) => i % 2 === 0), expected, 'the first secret\'s row sums');
  });

  it('accepts FP64 replies (a service speaking FP64), −0 included, as the same residues', () => {
    const data = Float64Array.from(validData());
    data[5] = -0;
    assert.deepEqual(values(reply({ data })), [...validData()].map((v, i) => (i === 5 ? 0 : centered(v))));
  });

  it('accepts the extremes 0 and p − 1 everywhere', () => {
    for (const v of [0, P - 1]) assert.deepEqual(values(reply({ data: new Uint32Array(N).fill(v) })), new Array(N).fill(centered(v)));
  });

  it('accepts a view into a larger ordinary buffer', () => {
    const backing = new Uint32Array(N + 8);
    backing.set(validData(), 4);
    assert.deepEqual(values(reply({ data: backing.subarray(4, 4 + N) })), [...validData()].map(centered));
  });

  it('ignores extra and missing informational fields', () => {
    const { computeMs: _, ...withoutMs } = reply();
    values(withoutMs);
    values(reply({ computeMs: 'a lot', note: { nested: true } }));
  });
});

describeEachBoundary('acceptReply: the decisions, in their order', () => {
  it('a value out of range is refused before the check is asked', () => {
    const data = validData();
    data[3] = P;
    let asked = false;
    assertRejected(reply({ data }), 'range before check', /index 3/, outputSide([], () => (asked = true)));
    assert.equal(asked, false);
  });

  it('a failed check is reported before a magnitude the reply would overflow, and nothing is returned', () => {
    const fail = outputSide([], () => {
      throw new IntegrityError('check failed', { layer: EXPECTED.layerName });
    });
    const before = arenaBytes().live;
    assert.throws(() => acceptReply(untrusted(reply() as unknown as LinearReply), plan(fail, () => { throw new OverflowError('too big'); })), IntegrityError);
    assert.equal(arenaBytes().live, before);
    assert.throws(() => acceptReply(untrusted(reply() as unknown as LinearReply), plan(undefined, () => { throw new OverflowError('too big'); })), OverflowError);
    assert.equal(arenaBytes().live, before);
  });
});

describeEachBoundary('acceptReply: hostile values', () => {
  for (const [name, v] of [['p', P], ['p + 1', P + 1], ['2^24', 2 ** 24], ['2^31', 2 ** 31], ['2^32 − 1', 2 ** 32 - 1]] as const) {
    it(`u32 ${name} at the first, a middle and the last index, with and without a check's output side`, () => {
      for (const at of [0, 11, N - 1]) {
        for (const check of [undefined, outputSide([])]) {
          const data = validData();
          data[at] = v;
          const copy = data.slice();
          assertRejected(reply({ data }), `${name} at ${at}`, new RegExp(`index ${at}`), check);
          assert.deepEqual([...data], [...copy], 'validation does not modify the reply');
        }
      }
    });
  }
  const bad: [string, number][] = [
    ['NaN', Number.NaN],
    ['−1', -1],
    ['−p', -P],
    ['p', P],
    ['p + 1', P + 1],
    ['2p', 2 * P],
    ['2^53', 2 ** 53],
    ['2^53 + 2', 2 ** 53 + 2],
    ['1e300', 1e300],
    ['0.5', 0.5],
    ['p − 0.5', P - 0.5],
    ['the smallest subnormal', Number.MIN_VALUE],
    ['1 + ε', 1 + Number.EPSILON],
    ['+Infinity', Number.POSITIVE_INFINITY],
    ['−Infinity', Number.NEGATIVE_INFINITY],
  ];
  for (const [name, v] of bad) {
    it(`FP64 ${name} at the first, a middle and the last index, with and without a check's output side`, () => {
      for (const at of [0, 11, N - 1]) {
        for (const check of [undefined, outputSide([])]) {
          const data = Float64Array.from(validData());
          data[at] = v;
          const copy = data.slice();
          assertRejected(reply({ data }), `${name} at ${at}`, new RegExp(`index ${at}`), check);
          assert.deepEqual([...data], [...copy], 'validation does not modify the reply');
        }
      }
    });
  }
});

describeEachBoundary('acceptReply: hostile containers', () => {
  it('wrong length: one short, one long, empty', () => {
    assertRejected(reply({ data: validData().slice(0, N - 1) }), 'short', /23 values, expected 24/);
    assertRejected(reply({ data: new Uint32Array(N + 1) }), 'long', /25 values/);
    assertRejected(reply({ data: new Float64Array(0) }), 'empty');
  });

  it('data of the wrong type, even with the right values', () => {
    const v = validData();
    const wrong: [string, unknown][] = [
      ['Float32Array', Float32Array.from(v)],
      ['plain Array', Array.from(v)],
      ['Int32Array', Int32Array.from(v)],
      ['Uint16Array', Uint16Array.from(v)],
      ['BigInt64Array', BigInt64Array.from(v, (x) => BigInt(x))],
      ['Uint8Array of the bytes', new Uint8Array(v.buffer)],
      ['ArrayBuffer', v.buffer],
      ['DataView', new DataView(v.buffer)],
      ['array-like object', { ...Array.from(v), length: N }],
      ['string', v.join(',')],
      ['number', 7],
      ['null', null],
      ['undefined', undefined],
    ];
    for (const [name, data] of wrong) assertRejected(reply({ data }), name, /expected a Uint32Array/);
    const { data: _, ...noData } = reply();
    assertRejected(noData, 'missing data');
  });

  it('an array on a SharedArrayBuffer is rejected (its sender could still write to it)', () => {
    const shared = new Uint32Array(new SharedArrayBuffer(N * 4));
    shared.set(validData());
    assertRejected(reply({ data: shared }), 'SharedArrayBuffer', /SharedArrayBuffer/);
    const wide = new Float64Array(new SharedArrayBuffer(N * 8));
    wide.set(validData());
    assertRejected(reply({ data: wide }), 'SharedArrayBuffer (FP64)', /SharedArrayBuffer/);
  });

  it('a reply that is not an object', () => {
    for (const raw of [null, undefined, 0, 41, 'reply', true, Symbol('reply')]) assertRejected(raw, String(raw), /not an object/);
    assertRejected({}, 'empty object');
    assertRejected([], 'array');
  });
});

describeEachBoundary('acceptReply: hostile ids and shapes', () => {
  it('a reply to another request', () => {
    for (const requestId of ['5eed5eed5eed5eed-40', '5eed5eed5eed5eed-42', '5eed5eed5eed5eed-41 ', 41, '41', '-41', 41.5, undefined, null, Number.NaN, ['5eed5eed5eed5eed-41']]) {
      assertRejected(reply({ requestId }), `requestId ${String(requestId)}`, /answers request/);
    }
  });

  it("a reply to another trusted runtime's request is named as such (issue 11: ids carry a per-runtime random prefix)", () => {
    assertRejected(reply({ requestId: '0123456789abcdef-41' }), 'same counter, other prefix', /answers request "0123456789abcdef-41", a request of another client, not 5eed5eed5eed5eed-41/);
    assertRejected(reply({ requestId: '5eed5eed5eed5eed-40' }), 'own prefix, other counter', /answers request "5eed5eed5eed5eed-40", not/);
  });

  it('a reply for another layer', () => {
    for (const layerId of [2, 4, '3', 3.000001, undefined, null]) assertRejected(reply({ layerId }), `layerId ${String(layerId)}`, /is for layer/);
  });

  it('dims that do not match, even with the same number of values', () => {
    const wrong: unknown[] = [
      [2, 3, 2, 3],
      [3, 2, 2, 2],
      [24],
      [2, 3, 4],
      [2, 3, 2, 2, 1],
      [1, 2, 3, 2, 2],
      [],
    ];
    for (const dims of wrong) assertRejected(reply({ dims }), `dims ${JSON.stringify(dims)}`, /shape/);
  });

  it('dims that are not a list of integers', () => {
    const wrong: unknown[] = [undefined, null, '2,3,2,2', { 0: 2, 1: 3, 2: 2, 3: 2, length: 4 }, [2, 3, 2, 2.5], [2, '3', 2, 2], [2, 3, Number.NaN, 2], [2, 3, 2, Infinity]];
    for (const dims of wrong) assertRejected(reply({ dims }), `dims ${String(dims)}`, /dims/);
    // A typed array is not an Array either.
    assertRejected(reply({ dims: Int32Array.from([2, 3, 2, 2]) }), 'Int32Array dims');
  });
});
