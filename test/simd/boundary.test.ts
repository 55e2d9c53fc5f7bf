/**
 * The fused boundary pass (src/simd/assembly/boundary.ts, boundary-pool.ts) against the plain
 * reference of boundary-reference.ts, on random plans: every source, every step on and off, row
 * lengths with every remainder mod 4 and past a dot product's segment, worst-case residues (p − 1,
 * 0), keystreams with rejected words, NaN/±0/±∞ floats, values ≥ p in a reply — once per
 * implementation (WebAssembly; native AVX-512, AVX2, portable), which also agree with each other
 * bit for bit and refuse a plan that names memory outside the module's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeEachBoundary, unavailable } from '../helpers/boundary-implementations.js';
import { P } from '../../src/field/prime.js';
import { alloc, f64, i32, release, u32, u8, type Region } from '../../src/simd/arena.js';
import { BOUNDARY_IMPLEMENTATIONS, boundaryImplementation, boundaryPass, useBoundaryImplementation, type PassPlan } from '../../src/simd/boundary.js';
import { simd } from '../../src/simd/module.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { referencePass, type ReferencePlan } from './boundary-reference.js';
import { rng as seeded } from '../helpers/random.js';

type Case = ReferencePlan & { readonly label: string };
type Rng = { uniform(): number };
const makeRng = (seed: number): Rng => ({ uniform: seeded(seed) });

/** Residues, half of them at the extremes of [0, p) when `extreme`. */
function residues(rng: Rng, n: number, extreme = false): Uint32Array {
  return Uint32Array.from({ length: n }, () => (extreme && rng.uniform() < 0.5 ? (rng.uniform() < 0.5 ? P - 1 : 0) : Math.floor(rng.uniform() * P)));
}

function packedOf(values: Uint32Array): Uint8Array {
  const out = new Uint8Array(3 * values.length);
  values.forEach((v, i) => out.set([v & 255, (v >> 8) & 255, v >> 16], 3 * i));
  return out;
}

/** Keystream bytes for `words` accepted words, with rejected words (≥ p) put in at random. */
function keystream(rng: Rng, words: number, rejectRate: number): Uint8Array {
  const out: number[] = [];
  for (let k = 0; k < words; k++) {
    while (rng.uniform() < rejectRate) out.push(P + Math.floor(rng.uniform() * 3));
    out.push(Math.floor(rng.uniform() * P));
  }
  return packedOf(Uint32Array.from(out));
}

function resident(view: Uint32Array | Float64Array | Uint8Array | Int32Array, regions: Region[]): number {
  const r = alloc(view.byteLength + 16);
  regions.push(r);
  u8(r, view.byteLength).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return r.at;
}

/**
 * Every other run with a next layer also writes a request buffer (PassPlan.wire), which must then
 * hold exactly the next values; every other run over a reply reads it where it lies, outside the
 * memory (PassPlan.reply), instead of from a copy in it.
 */
let runs = 0;
let replies = 0;

function run(c: Case): { got: ReturnType<typeof referencePass>; want: ReturnType<typeof referencePass> } {
  const regions: Region[] = [];
  try {
    const outs = (bytes: number): Region => {
      const r = alloc(bytes);
      regions.push(r);
      return r;
    };
    const n = c.rows * c.rowLen;
    const nextCount = c.poolWidth !== undefined ? n / 4 : n;
    const items = Math.ceil(nextCount / c.nextItem);
    const sums = outs(8 * c.rows);
    const dots = outs(8 * items);
    const floatOut = outs(8 * nextCount);
    const next = outs(4 * nextCount);
    const plan: PassPlan = {
      source: c.source,
      sourceAt: resident(c.values, regions),
      rows: c.rows,
      rowLen: c.rowLen,
      ...(c.sa ? { checkOut: { sa: resident(c.sa, regions), sb: resident(c.sb!, regions), sums: sums.at } } : {}),
      ...(c.u ? { unblindAt: resident(c.u, regions) } : {}),
      ...(c.bias ? { bias: { at: resident(c.bias, regions), perColumn: c.perColumn ?? false, channels: c.bias.length } } : {}),
      lo: c.lo,
      hi: c.hi,
      ...(c.poolWidth !== undefined ? { poolWidth: c.poolWidth } : {}),
      shift: c.shift,
      dequant: c.dequant,
      ...(c.addend ? { addendAt: resident(c.addend, regions), relu: c.relu ?? false } : {}),
      ...(c.floatOut ? { floatOutAt: floatOut.at } : {}),
      quantScale: c.quantScale,
      ...(c.next ? { nextAt: next.at } : {}),
      nextItem: c.nextItem,
      ...(c.ta ? { checkIn: { ta: resident(c.ta, regions), tb: resident(c.tb!, regions), dots: dots.at } } : {}),
      ...(c.keystream ? { padAt: resident(c.keystream, regions) } : {}),
    };
    const wire = c.next && runs++ % 2 === 0 ? new Uint32Array(nextCount).fill(0xdeadbeef) : undefined;
    const inPlace = c.source === 'reply' && replies++ % 2 === 0 ? { sourceAt: 0, reply: Uint32Array.from(c.values as Uint32Array) } : {};
    const r = boundaryPass({ ...plan, ...inPlace, ...(wire !== undefined ? { wire } : {}) });
    const want = referencePass(c);
    if (wire !== undefined && !r.bad && !r.inexact) assert.deepEqual([...wire], [...u32(next, nextCount)], `${c.label}: the request buffer holds the next values`);
    const got = {
      ...r,
      ...(c.sa ? { sums: [...u32(sums, 2 * c.rows)] } : {}),
      ...(c.ta ? { dots: [...u32(dots, want.dots!.length)] } : {}),
      ...(c.floatOut ? { floats: [...f64(floatOut, want.floats!.length)] } : {}),
      ...(c.next ? { next: [...u32(next, want.next!.length)] } : {}),
    };
    return { got, want };
  } finally {
    for (const r of regions) release(r);
  }
}

function check(c: Case): void {
  const { got, want } = run(c);
  assert.equal(got.bad, want.bad, `${c.label}: range flag`);
  if (want.bad) return; // nothing else means anything
  assert.equal(got.inexact, want.inexact, `${c.label}: inexact flag`);
  assert.equal(got.worst, want.worst, `${c.label}: worst magnitude`);
  assert.deepEqual(got.sums, want.sums, `${c.label}: output side`);
  assert.deepEqual(got.floats?.map((v) => Object.is(v, -0) ? '-0' : v), want.floats?.map((v) => Object.is(v, -0) ? '-0' : v), `${c.label}: floats`);
  if (want.inexact) return; // the next layer's values are refused then
  assert.equal(got.nextMax, want.nextMax, `${c.label}: next magnitude`);
  assert.equal(got.padBytes, want.padBytes, `${c.label}: keystream used`);
  assert.deepEqual(got.dots, want.dots, `${c.label}: input side`);
  assert.deepEqual(got.next, want.next, `${c.label}: next values`);
}

describeEachBoundary('the boundary pass equals its plain reference', () => {
  const rng = makeRng(20261201);
  const lengths = [1, 3, 4, 5, 7, 8, 17, 31, 49, 196, 70_001];

  it('a reply: range, output side, unblinding, bias, clamp, shift onto the next grid, input side, pad', () => {
    for (const len of lengths) {
      for (const variant of ['plain', 'private', 'gemm'] as const) {
        const rows = len > 1000 ? 2 : 3 + Math.floor(rng.uniform() * 4);
        const n = rows * len;
        const channels = variant === 'gemm' ? len : rows;
        const perColumn = variant === 'gemm';
        const item = variant === 'gemm' ? len : len * rows;
        const shift = Math.floor(rng.uniform() * 12);
        check({
          label: `${variant} len ${len}`,
          source: 'reply',
          values: residues(rng, n, true),
          rows,
          rowLen: len,
          sa: residues(rng, len, true),
          sb: residues(rng, len),
          ...(variant === 'private' ? { u: packedOf(residues(rng, n, true)), keystream: keystream(rng, n, 0.05) } : {}),
          bias: Int32Array.from(residues(rng, channels, true)),
          perColumn,
          lo: variant === 'plain' ? 0 : -(2 ** 30),
          hi: variant === 'plain' ? 6 << shift : 2 ** 30,
          shift,
          dequant: 2 ** -10,
          quantScale: 0,
          next: true,
          nextItem: item,
          ta: residues(rng, item, true),
          tb: residues(rng, item),
        });
      }
    }
  });

  it('a reply with a 2×2 pool, widths with every remainder of the pooled width mod 4', () => {
    for (const [h, w] of [[2, 2], [4, 6], [6, 10], [14, 14], [28, 28], [8, 16], [2, 30], [2, 34], [4, 46], [2, 64]] as const) {
      for (const variant of ['float', 'next', 'pad only', 'check only'] as const) {
        const toFloat = variant === 'float';
        const planes = 3;
        const n = planes * h * w;
        const item = (planes * h * w) / 4;
        check({
          label: `pool ${h}×${w} ${variant}`,
          source: 'reply',
          values: residues(rng, n, true),
          rows: planes,
          rowLen: h * w,
          poolWidth: w,
          sa: residues(rng, h * w, true),
          sb: residues(rng, h * w),
          u: packedOf(residues(rng, n)),
          bias: Int32Array.from(residues(rng, planes)),
          lo: 0,
          hi: 2 ** 30,
          shift: toFloat ? -1 : 3,
          dequant: 2 ** -7,
          floatOut: toFloat,
          quantScale: 0,
          ...(toFloat ? {} : { next: true }),
          ...(variant === 'next' || variant === 'check only' ? { ta: residues(rng, item, true), tb: residues(rng, item) } : {}),
          ...(variant === 'next' || variant === 'pad only' ? { keystream: keystream(rng, item, 0.1) } : {}),
          nextItem: item,
        });
      }
    }
  });

  it('a reply leaving as floats, with a residual Add and ReLU, also quantized for the next layer', () => {
    for (const len of [3, 8, 49, 1001]) {
      const rows = 4;
      const n = rows * len;
      const addend = Float64Array.from({ length: n }, () => (rng.uniform() - 0.5) * 8);
      addend[0] = -0;
      check({
        label: `residual len ${len}`,
        source: 'reply',
        values: residues(rng, n, true),
        rows,
        rowLen: len,
        bias: Int32Array.from(residues(rng, rows)),
        lo: -(2 ** 30),
        hi: 2 ** 30,
        shift: -1,
        dequant: 2 ** -20,
        addend,
        relu: len % 2 === 1,
        floatOut: true,
        quantScale: 2 ** 6,
        next: true,
        nextItem: n,
        ta: residues(rng, n),
        tb: residues(rng, n),
      });
    }
  });

  it('floats onto a grid: NaN, ±0, ±∞ and values past 2^31 are flagged, the rest rounded half up', () => {
    const special = [0.5, -0.5, 1.5, -1.5, -0, 0, 2.4999999, -2.5000001, 1e6, -1e6];
    for (const len of [4, 5, 10, 150_528]) {
      const values = Float64Array.from({ length: len }, (_, i) => special[i % special.length]! * (1 + rng.uniform()));
      check({ label: `floats len ${len}`, source: 'floats', values, rows: 1, rowLen: len, lo: 0, hi: 0, shift: -1, dequant: 1, quantScale: 4, next: true, nextItem: len, ta: residues(rng, len), tb: residues(rng, len), keystream: keystream(rng, len, 0.02) });
      for (const bad of [NaN, Infinity, -Infinity, 2 ** 40]) {
        const v = values.slice();
        v[len - 1] = bad;
        check({ label: `floats len ${len} with ${bad}`, source: 'floats', values: v, rows: 1, rowLen: len, lo: 0, hi: 0, shift: -1, dequant: 1, quantScale: 4, next: true, nextItem: len });
      }
    }
  });

  it('residues as they are: the input side and the pad alone', () => {
    for (const len of [1, 6, 4097]) {
      check({ label: `residues len ${len}`, source: 'residues', values: residues(rng, 2 * len, true), rows: 2, rowLen: len, lo: 0, hi: 0, shift: -1, dequant: 1, quantScale: 0, next: true, nextItem: len, ta: residues(rng, len, true), tb: residues(rng, len), keystream: keystream(rng, 2 * len, 0.3) });
    }
  });

  it('worst-case residues (all p − 1) over rows longer than a lane may sum unreduced', () => {
    const len = 300_001;
    const top = new Uint32Array(len).fill(P - 1);
    check({ label: 'all p − 1', source: 'reply', values: top, rows: 1, rowLen: len, sa: top, sb: top, lo: -(2 ** 30), hi: 2 ** 30, shift: 0, dequant: 1, quantScale: 0, next: true, nextItem: len, ta: top, tb: top });
    check({ label: 'all p − 1 as they are', source: 'residues', values: top, rows: 1, rowLen: len, lo: 0, hi: 0, shift: -1, dequant: 1, quantScale: 0, nextItem: len, ta: top, tb: top });
    // Pooled planes whose pairs of rows reach the widest a pool may be (2·16384 products a pair), and
    // planes of many narrower pairs, folded every few pairs.
    for (const [h, w] of [[2, 16384], [8, 8192], [6, 2050]] as const) {
      const plane = new Uint32Array(h * w).fill(P - 1);
      const values = new Uint32Array(2 * h * w).fill(P - 1);
      const pooled = (h * w) / 2;
      check({ label: `all p − 1 pooled ${h}×${w}`, source: 'reply', values, rows: 2, rowLen: h * w, poolWidth: w, sa: plane, sb: plane, lo: -(2 ** 30), hi: 2 ** 30, shift: 0, dequant: 1, quantScale: 0, next: true, nextItem: pooled, ta: new Uint32Array(pooled).fill(P - 1), tb: new Uint32Array(pooled).fill(P - 1) });
    }
  });

  it('a reply value ≥ p anywhere is flagged, whatever else the pass does', () => {
    for (const len of [1, 4, 5, 33]) {
      for (const at of [0, len - 1]) {
        for (const bad of [P, P + 1, 2 ** 32 - 1, 2 ** 31]) {
          const values = residues(rng, 2 * len);
          values[len + at] = bad;
          const { got } = run({ label: 'bad', source: 'reply', values, rows: 2, rowLen: len, lo: -(2 ** 30), hi: 2 ** 30, shift: 0, dequant: 1, quantScale: 0, nextItem: 1 });
          assert.equal(got.bad, true, `value ${bad} at ${len + at} of ${2 * len}`);
          const { got: pooled } = run({ label: 'bad pool', source: 'reply', values: residues(rng, 16).map((v, i) => (i === (at % 16) ? bad : v)), rows: 1, rowLen: 16, poolWidth: 4, lo: 0, hi: 2 ** 30, shift: 1, dequant: 1, quantScale: 0, next: true, nextItem: 4 });
          assert.equal(pooled.bad, true, `pooled: value ${bad}`);
        }
      }
    }
  });
});

describe('the implementations side by side', () => {
  const available = BOUNDARY_IMPLEMENTATIONS.filter((name) => unavailable(name) === '');
  const bits = (v: number): string => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : String(v));

  /** Every output of `c` under each available implementation, floats by their bits. */
  function under(c: Case): Map<string, unknown> {
    const previous = boundaryImplementation();
    const out = new Map<string, unknown>();
    try {
      for (const name of available) {
        useBoundaryImplementation(name);
        const { got } = run(c);
        out.set(name, { ...got, floats: got.floats?.map(bits) });
      }
    } finally {
      useBoundaryImplementation(previous);
    }
    return out;
  }

  it('give the same outputs, findings and keystream use, bit for bit', () => {
    const rng = makeRng(20261207);
    for (const len of [5, 16, 23, 49, 784]) {
      const rows = 3;
      const n = rows * len;
      const addend = Float64Array.from({ length: n }, (_, i) => (i % 7 === 0 ? [NaN, -0, Infinity, 0][i % 4]! : (rng.uniform() - 0.5) * 8));
      const common = { source: 'reply', values: residues(rng, n, true), rows, rowLen: len, sa: residues(rng, len), sb: residues(rng, len), bias: Int32Array.from(residues(rng, rows)), lo: -(2 ** 30), hi: 2 ** 30, dequant: 2 ** -12, nextItem: n, ta: residues(rng, n), tb: residues(rng, n) } as const;
      const cases: Case[] = [
        { ...common, label: `private len ${len}`, u: packedOf(residues(rng, n)), keystream: keystream(rng, n, 0.2), shift: 5, quantScale: 0, next: true },
        { ...common, label: `floats len ${len}`, shift: -1, addend, relu: true, floatOut: true, quantScale: 2 ** 30, next: true },
      ];
      for (const c of cases) {
        const results = under(c);
        const wasm = results.get('wasm');
        for (const [name, got] of results) assert.deepEqual(got, wasm, `${c.label}: ${name} against wasm`);
      }
    }
  });

  it('refuse a plan that names memory outside the module’s, reading none of it', () => {
    const previous = boundaryImplementation();
    try {
      for (const name of available) {
        useBoundaryImplementation(name);
        const end = simd().memory.buffer.byteLength;
        assert.throws(() => boundaryPass({ source: 'reply', sourceAt: end - 32, rows: 1, rowLen: 64 }), { name: /Error$/ }, `${name}: the source past the end`);
        assert.throws(() => boundaryPass({ source: 'reply', sourceAt: 64, rows: 2 ** 31 - 1, rowLen: 2 ** 31 - 1 }), { name: /Error$/ }, `${name}: a size past any memory`);
        const r = alloc(4 * 64);
        const next = alloc(4 * 64);
        try {
          assert.throws(() => boundaryPass({ source: 'reply', sourceAt: r.at, rows: 1, rowLen: 64, checkOut: { sa: end - 4, sb: r.at, sums: r.at } }), { name: /Error$/ }, `${name}: a weight past the end`);
          const plan: PassPlan = { source: 'residues', sourceAt: r.at, rows: 1, rowLen: 64, nextAt: next.at, nextItem: 64 };
          assert.throws(() => boundaryPass({ ...plan, wire: new Uint32Array(63) }), RangeError, `${name}: a request buffer too short`);
          assert.throws(() => boundaryPass({ ...plan, wire: u32(r, 64) }), RangeError, `${name}: a request buffer inside the memory`);
          assert.throws(() => boundaryPass({ ...plan, nextAt: undefined, wire: new Uint32Array(64) }), RangeError, `${name}: a request buffer without next values`);
          const reply: PassPlan = { source: 'reply', sourceAt: 0, rows: 1, rowLen: 64, reply: new Uint32Array(64) };
          assert.throws(() => boundaryPass({ ...reply, reply: new Uint32Array(63) }), RangeError, `${name}: a reply too short`);
          assert.throws(() => boundaryPass({ ...reply, reply: u32(r, 64) }), RangeError, `${name}: a reply inside the memory`);
          assert.throws(() => boundaryPass({ ...reply, sourceAt: r.at }), RangeError, `${name}: a reply beside a source in the memory`);
          assert.throws(() => boundaryPass({ ...reply, source: 'residues', nextItem: 64 }), RangeError, `${name}: residues are no reply`);
          const shared = new Uint32Array(128);
          assert.throws(() => boundaryPass({ ...reply, nextAt: next.at, nextItem: 64, reply: shared.subarray(0, 64), wire: shared.subarray(32, 96) }), RangeError, `${name}: a request buffer over the reply`);
        } finally {
          release(r);
          release(next);
        }
      }
    } finally {
      useBoundaryImplementation(previous);
    }
  });

  it('are picked by name, and an unknown or unavailable one is refused with a clear error', () => {
    const previous = boundaryImplementation();
    try {
      assert.throws(() => useBoundaryImplementation('gpu'), InvalidArgumentError);
      assert.equal(useBoundaryImplementation('wasm'), 'wasm');
      for (const name of BOUNDARY_IMPLEMENTATIONS) {
        const why = unavailable(name);
        if (why === '') assert.equal(useBoundaryImplementation(name), name);
        else assert.throws(() => useBoundaryImplementation(name), InvalidArgumentError);
      }
    } finally {
      useBoundaryImplementation(previous);
    }
  });
});

describe('arena views', () => {
  it('stay valid when the memory grows', () => {
    const r = alloc(64);
    const view = i32(r, 4);
    view.set([1, 2, 3, 4]);
    const big = alloc(64 << 20);
    assert.deepEqual([...view], [1, 2, 3, 4]);
    release(big);
    release(r);
  });
});
