/**
 * The SIMD kernels against plain references: straightforward scalar code for the requantization
 * and validation passes, BigInt for the dot products. Lengths cross chunk boundaries, end in
 * partial vectors, and the values include the worst cases for exactness (residues near p).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packResidues } from '../../src/field/pack24.js';
import { HALF_P, P } from '../../src/field/prime.js';
import { allResidues, CHUNK, dotT2, maxPool2x2, maxPool3x3s2p1, quantize, requantize, requantizePool2x2, rowDots2, type Requantization } from '../../src/simd/kernels.js';

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

function residues(n: number, rand: () => number, high = false): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = high ? P - 1 - Math.floor(rand() * 4) : Math.floor(rand() * P);
  return out;
}

const mod = (v: bigint): bigint => ((v % BigInt(P)) + BigInt(P)) % BigInt(P);
const canonical = (v: number): bigint => mod(BigInt(v));
const reduce = (v: number): number => v - Math.floor(v / P) * P;

test('allResidues accepts residues and finds any non-residue, wherever it lies', () => {
  const rand = rng(1);
  const n = 2 * CHUNK + 7;
  const good = residues(n, rand);
  good[5] = 0;
  good[6] = -0;
  good[7] = P - 1;
  assert.equal(allResidues(good), true);
  assert.equal(allResidues(new Float64Array(0)), true);
  for (const bad of [P, -1, 0.5, P - 0.5, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31), 2 ** 53]) {
    for (const at of [0, 3, CHUNK - 1, CHUNK, 2 * CHUNK + 3, n - 1]) {
      const values = good.slice();
      values[at] = bad;
      assert.equal(allResidues(values), false, `${bad} at ${at}`);
    }
  }
});

test('quantize rounds half up into residues and reports the largest magnitude, or undefined past int32', () => {
  const rand = rng(5);
  for (const n of [2 * CHUNK + 5, 7, 0]) {
    const scale = 2 ** 9;
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = (rand() - 0.5) * 2 ** 14;
    // Exact halves, both signs: floor(v + 0.5) rounds them up.
    if (n > 4) x.set([0.5 / scale, -0.5 / scale, -1.5 / scale, 2.5 / scale], 0);
    const out = new Float64Array(n);
    const maxAbs = quantize(x, scale, out);
    let expectedMax = 0;
    for (let i = 0; i < n; i++) {
      const q = Math.floor(x[i]! * scale + 0.5);
      expectedMax = Math.max(expectedMax, Math.abs(q));
      assert.equal(out[i], q < 0 ? q + P : q, `index ${i}`);
    }
    assert.equal(maxAbs, expectedMax);
  }
  const ok = new Float64Array(CHUNK + 6).fill(1);
  for (const bad of [NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31), 2 ** 40]) {
    for (const at of [0, CHUNK + 5]) {
      const x = ok.slice();
      x[at] = bad;
      assert.equal(quantize(x, 1, new Float64Array(x.length)), undefined, `${bad} at ${at}`);
    }
  }
  const edge = ok.slice();
  edge[3] = 2 ** 31 - 1;
  edge[CHUNK + 5] = -(2 ** 31 - 1);
  assert.equal(quantize(edge, 1, new Float64Array(edge.length)), 2 ** 31 - 1);
});

/** The requantization pass written plainly (quant/fixed-point.ts documents it). */
function requantizeReference(fx: Float64Array, minus: Float64Array | undefined, q: Requantization) {
  const out = new Float64Array(fx.length);
  let worst = 0;
  let nextMax = 0;
  for (let i = 0; i < fx.length; i++) {
    const b = q.bias[Math.floor(i / q.inner) % q.bias.length]!;
    let z = (fx[i]! - (minus?.[i] ?? 0) + b) % P;
    if (z < 0) z += P;
    if (z > HALF_P) z -= P;
    worst = Math.max(worst, Math.abs(z));
    z = Math.min(Math.max(z, q.lo), q.hi);
    if (q.shift >= 0) {
      const r = Math.floor((z + (q.shift > 0 ? 2 ** (q.shift - 1) : 0)) / 2 ** q.shift);
      nextMax = Math.max(nextMax, Math.abs(r));
      out[i] = r < 0 ? r + P : r;
    } else {
      out[i] = z * q.scale;
    }
  }
  return { out, worst, nextMax };
}

test('requantize matches the plain pass: bias blocks, unblinding by packed residues, clamps, shifts, chunk boundaries', () => {
  const rand = rng(2);
  const cases: { n: number; inner: number; channels: number }[] = [
    { n: 2 * CHUNK + 13, inner: 196, channels: 7 },
    { n: 2 * CHUNK + 13, inner: 70001, channels: 3 },
    { n: 4099, inner: 1, channels: 10 },
    { n: 4096, inner: 3, channels: 5 },
    { n: 3, inner: 3, channels: 1 },
  ];
  const clamps: [number, number][] = [[-(2 ** 30), 2 ** 30], [0, 2 ** 30], [0, 6 * 2 ** 10], [-5000, 5000]];
  for (const { n, inner, channels } of cases) {
    for (const subtract of [false, true]) {
      for (const [lo, hi] of clamps) {
        for (const shift of [-1, 0, 1, 7]) {
          const fx = residues(n, rand);
          const minus = subtract ? residues(n, rand) : undefined;
          const bias = Int32Array.from(residues(channels, rand));
          const q: Requantization = { bias, inner, lo, hi, shift, scale: 2 ** -13 };
          const expected = requantizeReference(fx, minus, q);
          const got = requantize(fx, minus === undefined ? undefined : packResidues(minus, new Uint8Array(3 * n)), q);
          const label = `n ${n} inner ${inner} subtract ${subtract} clamp [${lo}, ${hi}] shift ${shift}`;
          assert.equal(got.worst, expected.worst, label);
          assert.equal(got.nextMax, expected.nextMax, label);
          assert.deepEqual(fx, expected.out, label);
        }
      }
    }
  }
});

test('requantize with a residual Add equals requantizing, adding the other operand, then ReLU, as three IEEE passes', () => {
  const rand = rng(9);
  for (const { n, inner, channels } of [{ n: 2 * CHUNK + 13, inner: 196, channels: 7 }, { n: 4099, inner: 1, channels: 10 }]) {
    for (const subtract of [false, true]) {
      for (const relu of [false, true]) {
        const fx = residues(n, rand);
        const minus = subtract ? residues(n, rand) : undefined;
        const other = Float64Array.from({ length: n }, () => (rand() - 0.5) * 3);
        const bias = Int32Array.from(residues(channels, rand));
        const q: Requantization = { bias, inner, lo: -(2 ** 30), hi: 2 ** 30, shift: -1, scale: 2 ** -13 };
        const plainPass = requantizeReference(fx, minus, q);
        const expected = plainPass.out.map((v, i) => (relu ? Math.max(v + other[i]!, 0) : v + other[i]!));
        const got = requantize(fx, minus === undefined ? undefined : packResidues(minus, new Uint8Array(3 * n)), q, { other, relu });
        const label = `n ${n} inner ${inner} subtract ${subtract} relu ${relu}`;
        assert.equal(got.worst, plainPass.worst, label);
        for (let i = 0; i < n; i++) if (!Object.is(fx[i], expected[i])) assert.fail(`${label}: at ${i}, ${fx[i]} vs ${expected[i]}`);
      }
    }
  }
});

test('requantizePool2x2 equals requantizing every value, then pooling 2×2 in the signed domain', () => {
  const rand = rng(8);
  const shapes = [
    { planes: 6, height: 14, width: 14 }, // width/2 odd: a scalar last column
    { planes: 2, height: 224, width: 224 }, // several row pairs per chunk, chunks across planes
    { planes: 1, height: 4, width: 2 * CHUNK + 4 }, // rows longer than a chunk
  ];
  for (const { planes, height, width } of shapes) {
    for (const subtract of [false, true]) {
      for (const [lo, hi] of [[-(2 ** 30), 2 ** 30], [0, 2 ** 30], [-700, 900]] as [number, number][]) {
        for (const shift of [-1, 0, 5]) {
          const channels = 3;
          const n = planes * height * width;
          const fx = residues(n, rand);
          const minus = subtract ? residues(n, rand) : undefined;
          const bias = Int32Array.from(residues(channels, rand));
          const q: Requantization = { bias, inner: height * width, lo, hi, shift, scale: 2 ** -11 };
          // Reference: every value on its own (signed), then the max of each window.
          let worst = 0;
          const signed = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            let z = (fx[i]! - (minus?.[i] ?? 0) + bias[Math.floor(i / (height * width)) % channels]!) % P;
            if (z < 0) z += P;
            if (z > HALF_P) z -= P;
            worst = Math.max(worst, Math.abs(z));
            z = Math.min(Math.max(z, lo), hi);
            signed[i] = shift >= 0 ? Math.floor((z + (shift > 0 ? 2 ** (shift - 1) : 0)) / 2 ** shift) : z * q.scale;
          }
          const out = new Float64Array((n / 4) | 0);
          const expected = new Float64Array(out.length);
          let nextMax = 0;
          for (let r = 0; r < (planes * height) / 2; r++) {
            for (let c = 0; c < width / 2; c++) {
              const at = 2 * r * width + 2 * c;
              const m = Math.max(signed[at]!, signed[at + 1]!, signed[at + width]!, signed[at + width + 1]!);
              if (shift >= 0) nextMax = Math.max(nextMax, Math.abs(m));
              expected[r * (width / 2) + c] = shift >= 0 && m < 0 ? m + P : m;
            }
          }
          const got = requantizePool2x2(fx, minus === undefined ? undefined : packResidues(minus, new Uint8Array(3 * n)), q, { rows: planes * height, height, width }, out);
          const label = `${planes}×${height}×${width} subtract ${subtract} clamp [${lo}, ${hi}] shift ${shift}`;
          assert.equal(got.worst, worst, label);
          assert.equal(got.nextMax, nextMax, label);
          assert.deepEqual(out, expected, label);
        }
      }
    }
  }
});

test('dotT2 is congruent to the exact inner products, for worst-case residues and across chunks', () => {
  const rand = rng(3);
  for (const [n, high] of [[2 * CHUNK + 3, true], [2 * CHUNK + 3, false], [5, true], [0, false]] as const) {
    const offset = 9;
    const x = residues(offset + n, rand, high);
    const ta = Float32Array.from(residues(n, rand, high));
    const tb = Float32Array.from(residues(n, rand));
    const [a, b] = dotT2(x, offset, ta, tb, n, reduce);
    let ea = 0n;
    let eb = 0n;
    for (let i = 0; i < n; i++) {
      ea += BigInt(x[offset + i]!) * BigInt(ta[i]!);
      eb += BigInt(x[offset + i]!) * BigInt(tb[i]!);
    }
    assert.ok(Math.abs(a) < 2 ** 51 && Math.abs(b) < 2 ** 51);
    assert.equal(canonical(a), mod(ea), `n ${n}`);
    assert.equal(canonical(b), mod(eb), `n ${n}`);
  }
});

test('rowDots2 is congruent to each row’s exact inner products (short rows, long rows, rows longer than a chunk) and validates what it reads', () => {
  const rand = rng(4);
  for (const [rows, len, high] of [[3, CHUNK + 5, true], [40, 196, true], [9, 1, false], [130, 7, false]] as const) {
    const offset = 5;
    const y = residues(offset + rows * len, rand, high);
    const sa = residues(len, rand, high);
    const sb = residues(len, rand);
    const out = new Float64Array(2 * rows);
    assert.equal(rowDots2(y, offset, rows, len, sa, sb, out, reduce), true);
    for (let row = 0; row < rows; row++) {
      let ea = 0n;
      let eb = 0n;
      for (let q = 0; q < len; q++) {
        ea += BigInt(y[offset + row * len + q]!) * BigInt(sa[q]!);
        eb += BigInt(y[offset + row * len + q]!) * BigInt(sb[q]!);
      }
      assert.ok(Math.abs(out[2 * row]!) < 2 ** 52 && Math.abs(out[2 * row + 1]!) < 2 ** 52);
      assert.equal(canonical(out[2 * row]!), mod(ea), `rows ${rows} len ${len} row ${row}`);
      assert.equal(canonical(out[2 * row + 1]!), mod(eb), `rows ${rows} len ${len} row ${row}`);
    }
    // The same read validates: one non-residue anywhere (vector body or scalar tail) is reported.
    for (const at of [0, rows * len - 1, Math.floor((rows * len) / 2)]) {
      for (const bad of [P, -1, 0.5, NaN]) {
        const tampered = y.slice();
        tampered[offset + at] = bad;
        assert.equal(rowDots2(tampered, offset, rows, len, sa, sb, out, reduce), false, `rows ${rows} len ${len}: ${bad} at ${at}`);
      }
    }
  }
});

test('maxPool2x2 takes each 2×2 window’s Math.max, across chunks, with NaN, ±0 and ±∞', () => {
  const rand = rng(6);
  const specials = [NaN, 0, -0, Infinity, -Infinity];
  for (const [rows, width] of [[2 * 224, 224], [6, 6], [4, 2], [2 * 130, 2 * CHUNK / 4 + 2]] as const) {
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
