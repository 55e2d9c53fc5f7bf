/**
 * The one-time pad keystream (src/blind/keystream.ts, docs/design.md §4):
 * - node:crypto's 'aes-256-ctr', used exactly as padVector uses it (createCipheriv + update), meets
 *   the NIST SP 800-38A F.5.5 CTR-AES256 vectors (test/vectors/blind/aes-ctr.json);
 * - padVector(key, i, l, n) is that keystream under the initial block i‖l‖0, cut into 24-bit
 *   little-endian words with the 3 words ≥ p rejected (checked against an independent reimplementation,
 *   across the 64 KiB chunk boundary, and at a position where a rejection really happens);
 * - it is deterministic in (key, i, l), differs across i, l and keys, and stays in [0, p);
 * - chi-square tests of uniformity over Z_p (256 ranges) and of the low 8 bits, 200 000 samples
 *   drawn over 200 (i, l) streams, stay below the 1e-6 critical value.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { padIv, padKeystream, padVector } from '../../src/blind/keystream.js';
import { alloc, release, u32, u8 } from '../../src/simd/arena.js';
import { boundaryPass } from '../../src/simd/boundary.js';

/** x + r_{i,l} as the boundary pass writes a request: residues as they are, plus the layer's keystream. */
function blindByPass(key: Uint8Array, index: number, layer: number, x: Uint32Array): Uint32Array {
  const ks = padKeystream(key, index, layer, x.length);
  const at = alloc(4 * x.length);
  try {
    u32(at, x.length).set(x);
    boundaryPass({ source: 'residues', sourceAt: at.at, rows: 1, rowLen: x.length, nextAt: at.at, nextItem: x.length, padAt: ks.region.at });
    return u32(at, x.length).slice();
  } finally {
    release(at);
    release(ks.region);
  }
}
import { addMod } from '../../src/field/modp.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { chiSquareGof, chiSquareQuantile, formatChi, lowByteHistogram, zpBucketSizes, zpHistogram } from './chi-square.js';

interface CtrCase {
  readonly id: number;
  readonly comment: string;
  readonly result: 'valid' | 'invalid';
  readonly key: string;
  readonly iv: string;
  readonly plaintext: string;
  readonly ciphertext: string;
}

const vectors = JSON.parse(readFileSync(new URL('../vectors/blind/aes-ctr.json', import.meta.url), 'utf8')) as { source: unknown; cases: CtrCase[] };

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const keyFrom = (label: string): Uint8Array => new Uint8Array(createHash('sha256').update(label).digest());

/** The pad keystream reimplemented independently: IV = i (u64 BE) ‖ l (u32 BE) ‖ 0 (u32). */
function referenceIv(index: number, layer: number): Buffer {
  const iv = Buffer.alloc(16);
  let v = BigInt(index);
  for (let k = 7; k >= 0; k--, v >>= 8n) iv[k] = Number(v & 0xffn);
  iv[8] = (layer >>> 24) & 0xff;
  iv[9] = (layer >>> 16) & 0xff;
  iv[10] = (layer >>> 8) & 0xff;
  iv[11] = layer & 0xff;
  return iv;
}

/** Raw 24-bit little-endian words of the keystream (nothing rejected). */
function rawWords(key: Uint8Array, index: number, layer: number, words: number): Uint32Array {
  const stream = createCipheriv('aes-256-ctr', key, referenceIv(index, layer)).update(Buffer.alloc(words * 3));
  const out = new Uint32Array(words);
  for (let j = 0; j < words; j++) out[j] = stream[3 * j]! | (stream[3 * j + 1]! << 8) | (stream[3 * j + 2]! << 16);
  return out;
}

describe('AES-256-CTR: NIST SP 800-38A F.5.5 through node:crypto', () => {
  it('the vector file is well formed', () => {
    assert.ok(vectors.cases.length >= 10, `${vectors.cases.length} cases`);
    for (const c of vectors.cases) {
      assert.equal(hex(c.key).length, 32, `case ${c.id}: key`);
      assert.equal(hex(c.iv).length, 16, `case ${c.id}: iv`);
      assert.equal(hex(c.plaintext).length, hex(c.ciphertext).length, `case ${c.id}: lengths`);
    }
  });

  for (const c of vectors.cases) {
    it(`case ${c.id} (${c.result}): ${c.comment}`, () => {
      // Exactly padVector's usage: createCipheriv('aes-256-ctr', key, iv) then update().
      const enc = createCipheriv('aes-256-ctr', hex(c.key), hex(c.iv)).update(hex(c.plaintext));
      const dec = createDecipheriv('aes-256-ctr', hex(c.key), hex(c.iv)).update(hex(c.ciphertext));
      if (c.result === 'valid') {
        assert.equal(enc.toString('hex'), c.ciphertext);
        assert.equal(dec.toString('hex'), c.plaintext);
      } else {
        assert.notEqual(enc.toString('hex'), c.ciphertext);
        assert.notEqual(dec.toString('hex'), c.plaintext);
      }
    });
  }

  it('update() in pieces (as padVector reads 64 KiB chunks) equals one update()', () => {
    const c = vectors.cases[0]!;
    const cipher = createCipheriv('aes-256-ctr', hex(c.key), hex(c.iv));
    const pt = hex(c.plaintext);
    const pieces = Buffer.concat([cipher.update(pt.subarray(0, 5)), cipher.update(pt.subarray(5, 37)), cipher.update(pt.subarray(37))]);
    assert.equal(pieces.toString('hex'), c.ciphertext);
  });
});

describe('padVector: the keystream as residues', () => {
  const key = keyFrom('slalom keystream test key');

  it('uses the initial counter block i ‖ l ‖ 0', () => {
    for (const [i, l] of [
      [0, 0],
      [1, 0],
      [0, 1],
      [123_456_789, 42],
      [Number.MAX_SAFE_INTEGER, 0xffff_ffff],
    ] as const) {
      assert.deepEqual([...padIv(i, l)], [...referenceIv(i, l)], `iv(${i}, ${l})`);
    }
  });

  it('equals the independent reimplementation, across several 64 KiB chunks', () => {
    for (const [i, l, n] of [
      [0, 0, 1],
      [3, 2, 1000],
      [7, 0, 65_536], // 196 608 bytes: the fourth chunk
    ] as const) {
      const raw = rawWords(key, i, l, n + 64);
      const expected = [...raw].filter((w) => w < P).slice(0, n);
      assert.equal(expected.length, n);
      assert.deepEqual([...padVector(key, i, l, n)], expected, `padVector(key, ${i}, ${l}, ${n})`);
    }
  });

  it('rejects the words ≥ p (found in a real keystream) instead of reducing them', (t) => {
    // Find the first raw word ≥ p in stream (i, 0) for some small i: 3 in 2^24 words are.
    const chunkWords = 1 << 20;
    let found: { index: number; position: number; raw: Uint32Array } | undefined;
    for (let i = 0; found === undefined && i < 64; i++) {
      const raw = rawWords(key, i, 0, chunkWords * 8);
      const position = raw.findIndex((w) => w >= P);
      if (position >= 0) found = { index: i, position, raw };
    }
    assert.ok(found !== undefined, 'no word ≥ p in 64 × 8 Mi words (probability ≈ e^-96)');
    const { index, position, raw } = found;
    t.diagnostic(`stream (${index}, 0): raw word ${position} is ${raw[position]} ≥ p`);
    const r = padVector(key, index, 0, position + 3);
    // Residues before the rejected word are the raw words; after it, they shift by one.
    const expected = [...raw.subarray(0, position + 4)].filter((w) => w < P).slice(0, position + 3);
    assert.deepEqual([...r], expected);
    assert.equal(r[position], raw[position + 1] ?? -1);
    assert.ok(!r.includes(raw[position]!), 'the rejected word appears among the residues');
    // The boundary pass consumes the same keystream four words at a time: x + r across the rejection.
    const x = Uint32Array.from({ length: position + 50 }, (_, k) => (k * 7_654_321) % P);
    const full = padVector(key, index, 0, x.length);
    assert.deepEqual([...blindByPass(key, index, 0, x)], [...addMod(Float64Array.from(x), Float64Array.from(full))]);
  });

  it('padKeystream holds the raw keystream, and the pass that adds it gives x + r mod p, for lengths of every remainder mod 4', () => {
    for (const n of [1, 2, 3, 4, 5, 4095, 70_001]) {
      const ks = padKeystream(key, 9, 4, n);
      const raw = createCipheriv('aes-256-ctr', key, padIv(9, 4)).update(Buffer.alloc(ks.bytes));
      assert.ok(Buffer.from(u8(ks.region, ks.bytes)).equals(raw), `n = ${n}: the keystream itself`);
      release(ks.region);
      const x = Uint32Array.from({ length: n }, (_, k) => (k * 1_234_567 + 89) % P);
      assert.deepEqual([...blindByPass(key, 9, 4, x)], [...addMod(Float64Array.from(x), Float64Array.from(padVector(key, 9, 4, n)))], `n = ${n}`);
    }
  });

  it('is deterministic in (key, i, l), and a prefix of itself for fewer values', () => {
    const a = padVector(key, 5, 3, 4096);
    assert.deepEqual(padVector(key, 5, 3, 4096), a);
    assert.deepEqual(padVector(key, 5, 3, 100), a.subarray(0, 100));
    assert.deepEqual(padVector(new Uint8Array(key), 5, 3, 4096), a, 'a copy of the key');
  });

  it('differs across pad indices, layers and keys', () => {
    const n = 256;
    const base = padVector(key, 10, 2, n);
    const others = {
      'next index': padVector(key, 11, 2, n),
      'previous index': padVector(key, 9, 2, n),
      'next layer': padVector(key, 10, 3, n),
      'index and layer swapped': padVector(key, 2, 10, n),
      'another key': padVector(keyFrom('another key'), 10, 2, n),
      'key with one bit flipped': padVector(Uint8Array.from(key, (b, k) => (k === 31 ? b ^ 1 : b)), 10, 2, n),
    };
    for (const [what, r] of Object.entries(others)) {
      let same = 0;
      for (let k = 0; k < n; k++) if (r[k] === base[k]) same++;
      assert.ok(same <= 1, `${what}: ${same} of ${n} values coincide`);
    }
  });

  it('gives integer residues in [0, p)', () => {
    const r = padVector(key, 1, 1, 100_000);
    for (let k = 0; k < r.length; k++) {
      const v = r[k]!;
      if (!(Number.isInteger(v) && v >= 0 && v < P)) assert.fail(`value ${v} at ${k} is not a residue`);
    }
  });

  it('rejects bad keys and indices', () => {
    assert.throws(() => padVector(new Uint8Array(16), 0, 0, 1), InvalidArgumentError);
    assert.throws(() => padVector(new Uint8Array(33), 0, 0, 1), InvalidArgumentError);
    assert.throws(() => padVector(key, -1, 0, 1), InvalidArgumentError);
    assert.throws(() => padVector(key, 1.5, 0, 1), InvalidArgumentError);
    assert.throws(() => padVector(key, 2 ** 53, 0, 1), InvalidArgumentError);
    assert.throws(() => padVector(key, 0, -1, 1), InvalidArgumentError);
    assert.throws(() => padVector(key, 0, 2 ** 32, 1), InvalidArgumentError);
    assert.equal(padVector(key, 0, 0, 0).length, 0);
  });
});

describe('padVector: uniformity over Z_p (chi-square)', () => {
  const key = keyFrom('slalom keystream chi-square');
  // 200 000 samples from 200 streams (100 pad indices × 2 layers), 1000 residues each.
  const samples = new Float64Array(200_000);
  let filled = 0;
  for (let i = 0; i < 100; i++) {
    for (let l = 0; l < 2; l++) {
      samples.set(padVector(key, i, l, 1000), filled);
      filled += 1000;
    }
  }

  it('256 equal-ish ranges of Z_p', (t) => {
    const chi = chiSquareGof(zpHistogram(samples, 256), zpBucketSizes(256));
    t.diagnostic(`ranges: ${formatChi(chi)}`);
    assert.ok(chi.stat < chiSquareQuantile(1e-6, chi.df), formatChi(chi));
  });

  it('the low 8 bits', (t) => {
    const { counts, sizes } = lowByteHistogram(samples);
    const chi = chiSquareGof(counts, sizes);
    t.diagnostic(`low byte: ${formatChi(chi)}`);
    assert.ok(chi.stat < chiSquareQuantile(1e-6, chi.df), formatChi(chi));
  });

  it('has power: a sampler that forces every tenth residue even fails it', (t) => {
    const biased = samples.map((v, k) => (k % 10 === 0 ? v - (v & 1) : v));
    const { counts, sizes } = lowByteHistogram(biased);
    const chi = chiSquareGof(counts, sizes);
    t.diagnostic(`biased control, low byte: ${formatChi(chi)}`);
    assert.ok(chi.stat > chiSquareQuantile(1e-6, chi.df), formatChi(chi));
  });
});
