/**
 * The trust boundary for accelerator replies (src/boundary/accept.ts, DESIGN.md §1): every hostile
 * reply — a non-residue value (NaN, −1, p, 2^53, 0.5, ±Infinity, …), a wrong length, the wrong
 * container (Float32Array, a plain Array, other typed arrays, null), wrong ids, a dims mismatch —
 * becomes a MalformedResponseError naming the layer; a valid reply is accepted and returned as it
 * came (the same Float64Array, values untouched).
 *
 * Decision on SharedArrayBuffer-backed Float64Arrays: REJECTED. Such memory stays writable by
 * whoever shares it (a worker can post one and keep writing to it), so values could change after
 * they were validated and after Freivalds' check passed — a time-of-check/time-of-use hole. The
 * honest backends transfer or copy ordinary ArrayBuffers, so nothing legitimate is lost.
 * −0 is accepted (it equals the residue 0); a Float64Array view into a larger ordinary buffer is
 * accepted; extra fields (computeMs, anything else) are ignored. Validation that also computes a
 * Freivalds check's output sums (one read of the reply for both) rejects exactly the same values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { LinearReply } from '../../src/accel/backend.js';
import { acceptLinearOutput, type ExpectedReply } from '../../src/boundary/accept.js';
import { untrusted } from '../../src/boundary/untrusted.js';
import { MalformedResponseError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { OutputSums, type PreprocessedSecret } from '../../src/verify/freivalds.js';

const EXPECTED: ExpectedReply = { requestId: '5eed5eed5eed5eed-41', layerId: 3, layerName: 'block3.conv', dims: [2, 3, 2, 2] };
const N = 24;

function validData(): Float64Array {
  const d = new Float64Array(N);
  for (let i = 0; i < N; i++) d[i] = (i * 699_053) % P;
  d[0] = 0;
  d[N - 1] = P - 1;
  return d;
}

function reply(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { requestId: EXPECTED.requestId, layerId: EXPECTED.layerId, dims: [...EXPECTED.dims], data: validData(), computeMs: 1.5, ...overrides };
}

/** A Freivalds check's output side over EXPECTED's shape (2 items × 3 channels × 4 pixels): two repetitions' secrets. */
function checkSide(): { sums: OutputSums; a: PreprocessedSecret; b: PreprocessedSecret } {
  const a: PreprocessedSecret = { r: Float64Array.of(1, 2, 3), s: Float64Array.of(5, 6, 7, P - 1), t: new Float32Array(0) };
  const b: PreprocessedSecret = { r: Float64Array.of(3, 1, 2), s: Float64Array.of(P - 2, 11, 0, 1), t: new Float32Array(0) };
  return { sums: new OutputSums(4, a, b), a, b };
}

const outputSums = (): OutputSums => checkSide().sums;

function accept(raw: unknown, sums?: OutputSums): Float64Array {
  return acceptLinearOutput(untrusted(raw as LinearReply), EXPECTED, sums);
}

function assertRejected(raw: unknown, what: string, because?: RegExp, sums?: OutputSums): void {
  assert.throws(
    () => accept(raw, sums),
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
}

describe('acceptLinearOutput: valid replies', () => {
  it('accepts a valid reply and returns its data unchanged (the very same array)', () => {
    const r = reply();
    const before = [...(r.data as Float64Array)];
    const out = accept(r);
    assert.equal(out, r.data, 'the same Float64Array, not a copy');
    assert.deepEqual([...out], before);
  });

  it('accepts a valid reply while computing a check\'s output sums on the same pass, and those sums are right', () => {
    const r = reply();
    const data = r.data as Float64Array;
    const { sums, a, b } = checkSide();
    assert.equal(accept(r, sums), data);
    const got = sums.for(data, a, b);
    assert.ok(got !== undefined, 'the sums of this very reply are kept for the check');
    // Row (item, channel) of 4 pixels: Σ_q s[q]·y[q] mod p for each repetition's s, against BigInt.
    const p = BigInt(P);
    const mod = (v: bigint): bigint => ((v % p) + p) % p;
    for (let row = 0; row < N / 4; row++) {
      for (const [k, secret] of [a, b].entries()) {
        let want = 0n;
        for (let q = 0; q < 4; q++) want += BigInt(secret.s[q]!) * BigInt(data[row * 4 + q]!);
        assert.equal(mod(BigInt(got[2 * row + k]!)), mod(want), `row ${row}, repetition ${k}`);
      }
    }
    assert.equal(sums.for(new Float64Array(data), a, b), undefined, 'never handed out for another array');
    assert.equal(sums.for(data, b, a), undefined, 'nor for other secrets');
  });

  it('accepts the extremes 0 and p − 1 everywhere', () => {
    for (const v of [0, P - 1]) assert.deepEqual([...accept(reply({ data: new Float64Array(N).fill(v) }))], new Array(N).fill(v));
  });

  it('accepts −0 (it is the residue 0)', () => {
    const data = validData();
    data[5] = -0;
    assert.equal(accept(reply({ data })), data);
  });

  it('accepts a Float64Array view into a larger ordinary buffer', () => {
    const backing = new Float64Array(N + 8);
    backing.set(validData(), 4);
    const view = backing.subarray(4, 4 + N);
    assert.equal(accept(reply({ data: view })), view);
  });

  it('ignores extra and missing informational fields', () => {
    const { computeMs: _, ...withoutMs } = reply();
    accept(withoutMs);
    accept(reply({ computeMs: 'a lot', note: { nested: true } }));
  });

  it('accepts an empty output when the expected shape is empty', () => {
    const expected: ExpectedReply = { ...EXPECTED, dims: [0, 3] };
    const data = new Float64Array(0);
    assert.equal(acceptLinearOutput(untrusted({ ...reply(), dims: [0, 3], data } as unknown as LinearReply), expected), data);
  });
});

describe('acceptLinearOutput: hostile values', () => {
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
    it(`${name} at the first, a middle and the last index, with and without a check's output sums`, () => {
      for (const at of [0, 11, N - 1]) {
        for (const sums of [undefined, outputSums()]) {
          const data = validData();
          data[at] = v;
          const copy = data.slice();
          assertRejected(reply({ data }), `${name} at ${at}`, new RegExp(`index ${at}`), sums);
          assert.deepEqual([...data], [...copy], 'validation does not modify the reply');
        }
      }
    });
  }
});

describe('acceptLinearOutput: hostile containers', () => {
  it('wrong length: one short, one long, empty', () => {
    assertRejected(reply({ data: validData().slice(0, N - 1) }), 'short', /23 values, expected 24/);
    assertRejected(reply({ data: new Float64Array(N + 1) }), 'long', /25 values/);
    assertRejected(reply({ data: new Float64Array(0) }), 'empty');
  });

  it('data of the wrong type, even with the right values', () => {
    const values = validData();
    const wrong: [string, unknown][] = [
      ['Float32Array', Float32Array.from(values)],
      ['plain Array', Array.from(values)],
      ['Int32Array', Int32Array.from(values)],
      ['Uint32Array', Uint32Array.from(values)],
      ['BigInt64Array', BigInt64Array.from(values, (v) => BigInt(v))],
      ['Uint8Array of the bytes', new Uint8Array(values.buffer)],
      ['ArrayBuffer', values.buffer],
      ['DataView', new DataView(values.buffer)],
      ['array-like object', { ...Array.from(values), length: N }],
      ['string', values.join(',')],
      ['number', 7],
      ['null', null],
      ['undefined', undefined],
    ];
    for (const [name, data] of wrong) assertRejected(reply({ data }), name, /expected a Float64Array/);
    const { data: _, ...noData } = reply();
    assertRejected(noData, 'missing data');
  });

  it('a Float64Array on a SharedArrayBuffer is rejected (its sender could still write to it)', () => {
    const shared = new Float64Array(new SharedArrayBuffer(N * 8));
    shared.set(validData());
    assertRejected(reply({ data: shared }), 'SharedArrayBuffer', /SharedArrayBuffer/);
  });

  it('a reply that is not an object', () => {
    for (const raw of [null, undefined, 0, 41, 'reply', true, Symbol('reply')]) assertRejected(raw, String(raw), /not an object/);
    assertRejected({}, 'empty object');
    assertRejected([], 'array');
  });
});

describe('acceptLinearOutput: hostile ids and shapes', () => {
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
