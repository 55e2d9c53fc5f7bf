/**
 * The standalone SIMD kernels (src/simd/assembly/residues.ts, freivalds.ts, blind.ts, pool.ts)
 * against plain references (BigInt for the dot products), on arrays resident in the trusted
 * runtime's memory and on ordinary ones (staged through it). Lengths end in partial vectors, values
 * include the worst cases for exactness (residues near p) and, for the float pools, NaN, ±0 and ±∞.
 * The fused boundary pass has its own reference (boundary.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { P } from '../../src/field/prime.js';
import { alloc, release, u32 } from '../../src/simd/arena.js';
import { countRejected } from '../../src/simd/blind.js';
import { dots2 } from '../../src/simd/freivalds.js';
import { maxPool2x2, maxPool3x3s2p1 } from '../../src/simd/pool.js';
import { packResidues } from '../../src/field/pack24.js';
import { packedBelowP, residuesBelowP, residuesFromF64 } from '../../src/simd/residues.js';

/** A deterministic generator (xorshift32), so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function residues(n: number, rand: () => number, high = false): Uint32Array {
  return Uint32Array.from({ length: n }, () => (high ? P - 1 - Math.floor(rand() * 4) : Math.floor(rand() * P)));
}

/** The same values in the trusted runtime's memory (a resident view) and the region to release. */
function resident(values: Uint32Array): [Uint32Array, () => void] {
  const r = alloc(values.byteLength);
  const view = u32(r, values.length);
  view.set(values);
  return [view, () => release(r)];
}

const LENGTHS = [0, 1, 3, 4, 5, 8, 1001, 65_536 + 7];

test('residuesBelowP accepts residues and finds any value ≥ p, wherever it lies, resident or not', () => {
  const rand = rng(1);
  for (const n of LENGTHS.filter((n) => n > 0)) {
    const good = residues(n, rand);
    good[0] = P - 1;
    for (const [values, done] of [[good, () => undefined], resident(good)] as const) {
      assert.equal(residuesBelowP(values), true, `n ${n}`);
      for (const bad of [P, P + 1, 2 ** 31, 2 ** 32 - 1]) {
        for (const at of new Set([0, n >> 1, n - 1])) {
          const old = values[at]!;
          values[at] = bad;
          assert.equal(residuesBelowP(values), false, `${bad} at ${at} of ${n}`);
          values[at] = old;
        }
      }
      done();
    }
  }
  assert.equal(residuesBelowP(new Uint32Array(0)), true);
});

test('residuesFromF64 converts integer doubles in [0, p) and refuses every other double', () => {
  const rand = rng(2);
  for (const n of LENGTHS) {
    const good = Float64Array.from(residues(n, rand));
    if (n > 2) good[1] = -0;
    const out = new Uint32Array(n);
    assert.equal(residuesFromF64(good, out), true, `n ${n}`);
    assert.deepEqual([...out], [...good].map((v) => v + 0));
    for (const bad of [P, -1, 0.5, P - 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53]) {
      for (const at of new Set(n === 0 ? [] : [0, n >> 1, n - 1])) {
        const values = good.slice();
        values[at] = bad;
        assert.equal(residuesFromF64(values, new Uint32Array(n)), false, `${bad} at ${at} of ${n}`);
      }
    }
  }
});

test('packResidues writes 3 little-endian bytes per residue; packedBelowP refuses a packed value ≥ p', () => {
  const rand = rng(3);
  for (const n of LENGTHS) {
    const x = residues(n, rand, n % 2 === 0);
    const bytes = packResidues(x, new Uint8Array(3 * n));
    for (let i = 0; i < n; i++) assert.equal(bytes[3 * i]! | (bytes[3 * i + 1]! << 8) | (bytes[3 * i + 2]! << 16), x[i], `value ${i} of ${n}`);
    assert.equal(packedBelowP(bytes), true);
    for (const at of new Set(n === 0 ? [] : [0, n - 1])) {
      const bad = bytes.slice();
      bad.set([0xfd, 0xff, 0xff], 3 * at); // p itself
      assert.equal(packedBelowP(bad), false, `p at ${at} of ${n}`);
    }
  }
});

test('dots2 equals the exact inner products mod p, for worst-case residues, resident or not', () => {
  const rand = rng(4);
  const mod = (v: bigint): number => Number(((v % BigInt(P)) + BigInt(P)) % BigInt(P));
  for (const n of [...LENGTHS, 300_001]) {
    for (const high of [false, true]) {
      const x = residues(n, rand, high);
      const wa = residues(n, rand, high);
      const wb = residues(n, rand);
      let ea = 0n;
      let eb = 0n;
      for (let i = 0; i < n; i++) {
        ea += BigInt(x[i]!) * BigInt(wa[i]!);
        eb += BigInt(x[i]!) * BigInt(wb[i]!);
      }
      assert.deepEqual(dots2(x, wa, wb), [mod(ea), mod(eb)], `n ${n} high ${high}`);
      const [rx, done] = resident(x);
      assert.deepEqual(dots2(rx, wa, wb), [mod(ea), mod(eb)], `resident, n ${n}`);
      done();
    }
  }
});

test('countRejected counts the 24-bit words ≥ p, in vector bodies and tails', () => {
  const rand = rng(5);
  for (const n of [1, 4, 5, 7, 1000]) {
    const words = Array.from({ length: n }, () => (rand() < 0.2 ? P + Math.floor(rand() * 3) : Math.floor(rand() * P)));
    const bytes = new Uint8Array(3 * n + 4);
    words.forEach((w, i) => bytes.set([w & 255, (w >> 8) & 255, w >> 16], 3 * i));
    assert.equal(countRejected(bytes, n), words.filter((w) => w >= P).length, `n ${n}`);
  }
});

test('maxPool2x2 takes each 2×2 window’s Math.max, across chunks, with NaN, ±0 and ±∞', () => {
  const rand = rng(6);
  const specials = [NaN, 0, -0, Infinity, -Infinity];
  for (const [rows, width] of [[2 * 224, 224], [6, 6], [4, 2], [2 * 130, 2 * 65536 / 4 + 2]] as const) {
    const x = new Float64Array(rows * width);
    for (let i = 0; i < x.length; i++) x[i] = rand() < 0.05 ? specials[Math.floor(rand() * specials.length)]! : Math.round((rand() - 0.5) * 512) / 64;
    const out = new Float64Array((rows / 2) * (width / 2));
    maxPool2x2(x, rows, width, out);
    for (let r = 0; r < rows / 2; r++) {
      for (let c = 0; c < width / 2; c++) {
        const at = 2 * r * width + 2 * c;
        const expected = Math.max(x[at]!, x[at + 1]!, x[at + width]!, x[at + width + 1]!);
        assert.ok(Object.is(out[r * (width / 2) + c], expected), `rows ${rows} width ${width} at ${r},${c}: ${out[r * (width / 2) + c]} vs ${expected}`);
      }
    }
  }
});

test('maxPool3x3s2p1 takes each padded 3×3 window’s Math.max (padding excluded), for odd, even, tiny and over-a-chunk planes', () => {
  const rand = rng(10);
  const specials = [NaN, 0, -0, Infinity, -Infinity];
  for (const [planes, h, w] of [[4, 112, 112], [3, 7, 9], [2, 1, 1], [2, 2, 3], [1, 300, 300], [5, 6, 5]] as const) {
    const x = new Float64Array(planes * h * w);
    for (let i = 0; i < x.length; i++) x[i] = rand() < 0.05 ? specials[Math.floor(rand() * specials.length)]! : Math.round((rand() - 0.5) * 512) / 64;
    const oh = Math.floor((h - 1) / 2) + 1;
    const ow = Math.floor((w - 1) / 2) + 1;
    const out = new Float64Array(planes * oh * ow);
    maxPool3x3s2p1(x, planes, h, w, out);
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < oh; y++) {
        for (let c = 0; c < ow; c++) {
          const taps: number[] = [];
          for (let r = 2 * y - 1; r <= 2 * y + 1; r++) for (let q = 2 * c - 1; q <= 2 * c + 1; q++) if (r >= 0 && r < h && q >= 0 && q < w) taps.push(x[(p * h + r) * w + q]!);
          const expected = Math.max(...taps);
          const got = out[(p * oh + y) * ow + c]!;
          if (!Object.is(got, expected)) assert.fail(`${planes}×${h}×${w} plane ${p} at ${y},${c}: ${got} vs ${expected}`);
        }
      }
    }
  }
});
