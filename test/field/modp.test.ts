/**
 * Property tests of field/modp.ts against BigInt on random and worst-case inputs (docs/design.md §2):
 * residues at 0, 1, HALF_P, p − 1, integers up to ±(2^53 − 1) for mod(), dot products of all-(p − 1)
 * vectors over long lengths (the reduction cadence of dotMod).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HALF_P, MAX_EXACT, P } from '../../src/field/prime.js';
import {
  addMod,
  addResidues,
  centered,
  centerInPlace,
  dotMod,
  mod,
  mulResidues,
  reduceInPlace,
  subMod,
  subResidues,
} from '../../src/field/modp.js';
import { modBig } from '../reference/bigint.js';
import { rng } from '../helpers/random.js';

const BP = BigInt(P);


/** A uniform integer in [lo, hi] (|lo|, |hi| ≤ 2^53 − 1), using two draws for 53 bits. */
function randInt(r: () => number, lo: number, hi: number): number {
  const span = hi - lo + 1;
  const u = (Math.floor(r() * 2 ** 26) * 2 ** 27 + Math.floor(r() * 2 ** 27)) / 2 ** 53;
  return Math.min(hi, lo + Math.floor(u * span));
}

/** Numeric equality (−0 equals 0 here; the sign of zero is tested on its own below). */
function same(actual: number, expected: number, message: string): void {
  assert.ok(actual === expected, `${message}: got ${actual}, expected ${expected}`);
}

const EDGE_RESIDUES = [0, 1, 2, HALF_P - 1, HALF_P, HALF_P + 1, P - 2, P - 1];

test('mod matches BigInt on edges and random integers below 2^53', () => {
  const edges = [0, 1, -1, P, -P, P - 1, -(P - 1), P + 1, HALF_P, -HALF_P, 2 ** 24, -(2 ** 24), MAX_EXACT, -MAX_EXACT, 2 ** 52, -(2 ** 52)];
  // multiples of p around 2^53 and their neighbours
  const top = Math.floor(MAX_EXACT / P) * P;
  for (const d of [-2, -1, 0, 1, 2]) edges.push(top + d, -(top + d), top - P + d, -(top - P + d));
  for (const v of edges) {
    if (Math.abs(v) > MAX_EXACT) continue;
    same(mod(v), modBig(v), `mod(${v})`);
  }
  const r = rng(1);
  for (let i = 0; i < 20000; i++) {
    const v = randInt(r, -MAX_EXACT, MAX_EXACT);
    const m = mod(v);
    assert.ok(m >= 0 && m < P && Number.isInteger(m));
    same(m, modBig(v), `mod(${v})`);
  }
  for (let i = 0; i < 5000; i++) {
    const v = randInt(r, -3 * P, 3 * P);
    same(mod(v), modBig(v), `mod(${v})`);
  }
});

test('centered is the representative in [−HALF_P, HALF_P] of each residue', () => {
  const r = rng(2);
  const values = [...EDGE_RESIDUES];
  for (let i = 0; i < 5000; i++) values.push(randInt(r, 0, P - 1));
  for (const v of values) {
    const c = centered(v);
    assert.ok(c >= -HALF_P && c <= HALF_P, `centered(${v}) = ${c}`);
    assert.equal(modBig(c), v);
  }
  assert.equal(centered(HALF_P), HALF_P);
  assert.equal(centered(HALF_P + 1), -HALF_P);
  assert.equal(centered(P - 1), -1);
});

test('add, sub and mul of residues match BigInt', () => {
  const r = rng(3);
  const pairs: [number, number][] = [];
  for (const a of EDGE_RESIDUES) for (const b of EDGE_RESIDUES) pairs.push([a, b]);
  for (let i = 0; i < 10000; i++) pairs.push([randInt(r, 0, P - 1), randInt(r, 0, P - 1)]);
  for (const [a, b] of pairs) {
    assert.equal(addResidues(a, b), modBig(BigInt(a) + BigInt(b)), `${a} + ${b}`);
    assert.equal(subResidues(a, b), modBig(BigInt(a) - BigInt(b)), `${a} − ${b}`);
    assert.equal(mulResidues(a, b), modBig(BigInt(a) * BigInt(b)), `${a} · ${b}`);
  }
});

test('array helpers: reduceInPlace, centerInPlace, addMod, subMod', () => {
  const r = rng(4);
  const n = 4000;
  const big = new Float64Array(n);
  for (let i = 0; i < n; i++) big[i] = i < 8 ? [0, -1, MAX_EXACT, -MAX_EXACT, P, -P, P - 1, -(P - 1)][i]! : randInt(r, -MAX_EXACT, MAX_EXACT);
  const expected = Array.from(big, (v) => modBig(v));
  const reduced = reduceInPlace(big);
  for (let i = 0; i < n; i++) same(reduced[i]!, expected[i]!, `reduceInPlace[${i}]`);

  const a = Float64Array.from({ length: n }, (_, i) => (i < EDGE_RESIDUES.length ? EDGE_RESIDUES[i]! : randInt(r, 0, P - 1)));
  const b = Float64Array.from({ length: n }, (_, i) => (i < EDGE_RESIDUES.length ? EDGE_RESIDUES[EDGE_RESIDUES.length - 1 - i]! : randInt(r, 0, P - 1)));
  const sum = addMod(a, b);
  const diff = subMod(a, b);
  for (let i = 0; i < n; i++) {
    assert.equal(sum[i], modBig(BigInt(a[i]!) + BigInt(b[i]!)));
    assert.equal(diff[i], modBig(BigInt(a[i]!) - BigInt(b[i]!)));
  }
  const out = new Float64Array(n);
  assert.equal(addMod(a, b, out), out);
  const c = centerInPlace(a.slice());
  for (let i = 0; i < n; i++) {
    assert.ok(c[i]! >= -HALF_P && c[i]! <= HALF_P);
    assert.equal(modBig(c[i]!), a[i]);
  }
});

function dotBig(a: Float64Array, b: Float64Array, aOff: number, bOff: number, len: number): number {
  let acc = 0n;
  for (let i = 0; i < len; i++) acc += BigInt(a[aOff + i]!) * BigInt(b[bOff + i]!);
  return Number(acc % BP);
}

test('dotMod is exact for all-(p − 1) vectors at every length around the reduction cadence', () => {
  const ones = new Float64Array(5000).fill(P - 1);
  for (const len of [0, 1, 2, 30, 31, 32, 33, 61, 62, 63, 64, 93, 1000, 4096, 5000]) {
    assert.equal(dotMod(ones, ones, 0, 0, len), dotBig(ones, ones, 0, 0, len), `length ${len}`);
  }
  assert.equal(dotMod(ones, ones), dotBig(ones, ones, 0, 0, ones.length));
});

test('dotMod matches BigInt on random residues, with offsets', () => {
  const r = rng(5);
  for (let t = 0; t < 60; t++) {
    const len = randInt(r, 0, 700);
    const aOff = randInt(r, 0, 20);
    const bOff = randInt(r, 0, 20);
    const a = Float64Array.from({ length: aOff + len + 3 }, () => (r() < 0.2 ? P - 1 : randInt(r, 0, P - 1)));
    const b = Float64Array.from({ length: bOff + len + 5 }, () => (r() < 0.2 ? P - 1 : randInt(r, 0, P - 1)));
    assert.equal(dotMod(a, b, aOff, bOff, len), dotBig(a, b, aOff, bOff, len), `case ${t}`);
  }
});

test('mod and reduceInPlace return +0, never −0, for negative multiples of p', () => {
  for (const v of [-P, -2 * P, -(Math.floor(MAX_EXACT / P) * P), -0]) {
    assert.ok(Object.is(mod(v), 0), `mod(${v}) is ${Object.is(mod(v), -0) ? '−0' : mod(v)}`);
    assert.ok(Object.is(reduceInPlace(Float64Array.of(v))[0], 0), `reduceInPlace(${v})`);
  }
});
