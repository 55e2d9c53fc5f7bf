/**
 * Sealing unblinding factors (src/blind/seal.ts, docs/design.md §4): AES-256-GCM with associated data
 * binding weights hash, store identity, layer, pad index, key epoch and count, under the nonce
 * (index ‖ layer). A sealed record round-trips; every tamper — each bit of the tag and the nonce,
 * ciphertext bits, truncation or extension of any part, a record moved to another model, store,
 * layer, index, epoch or count, another key — is rejected with PadAuthError (SLALOM_ERR_PAD_AUTH),
 * and nothing is returned. The test counts them: 100 %.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';

import { associatedData, openResidues as openInto, sealNonce, sealResidues, type PadBinding, type SealedRecord } from '../../src/blind/seal.js';
import { release, u8 } from '../../src/simd/arena.js';

/** The opened record's packed bytes, read out of the trusted runtime's memory. */
function openResidues(key: Uint8Array, binding: PadBinding, record: SealedRecord): Uint8Array {
  const region = openInto(key, binding, record);
  const bytes = u8(region, 3 * binding.count).slice();
  release(region);
  return bytes;
}
import { InvalidArgumentError, PadAuthError } from '../../src/errors.js';
import { P } from '../../src/field/prime.js';
import { unpacked } from '../helpers/packed.js';

const key = new Uint8Array(createHash('sha256').update('slalom seal test key').digest());
const modelHash = createHash('sha256').update('model A').digest('hex');
const otherModel = createHash('sha256').update('model B').digest('hex');
const storeId = 'a1'.repeat(16);
const otherStore = 'b2'.repeat(16);

function residues(n: number, seed = 1): Uint32Array {
  const out = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    out[i] = s % P;
  }
  if (n > 2) {
    out[0] = 0;
    out[1] = P - 1;
  }
  return out;
}

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const copy = Uint8Array.from(bytes);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
};

/** Runs `open`; true iff it threw PadAuthError with the right code (anything else fails the test). */
function rejected(open: () => Uint8Array): boolean {
  try {
    open();
    return false;
  } catch (e) {
    assert.ok(e instanceof PadAuthError, `expected PadAuthError, got ${String(e)}`);
    assert.equal(e.code, 'SLALOM_ERR_PAD_AUTH');
    return true;
  }
}

describe('sealResidues / openResidues', () => {
  const binding: PadBinding = { weightsHash: modelHash, storeId, layer: 3, index: 17, epoch: 1, count: 40 };
  const values = residues(binding.count);
  const record = sealResidues(key, binding, values);

  it('round-trips, with edge residues 0 and p − 1', () => {
    assert.deepEqual([...unpacked(openResidues(key, binding, record))], [...values]);
    const big = { ...binding, count: 100_000 };
    const many = residues(big.count, 9);
    assert.deepEqual([...unpacked(openResidues(key, big, sealResidues(key, big, many)))], [...many]);
    const empty = { ...binding, count: 0 };
    assert.equal(openResidues(key, empty, sealResidues(key, empty, new Uint32Array(0))).length, 0);
  });

  it('packs 3 bytes per residue under a 16-byte tag and the 12-byte nonce index ‖ layer, distinct per (index, layer)', () => {
    assert.equal(record.ciphertext.length, 3 * binding.count);
    assert.equal(record.tag.length, 16);
    assert.equal(Buffer.from(record.nonce).toString('hex'), '0000000000000011' + '00000003');
    assert.deepEqual([...sealNonce({ index: 2 ** 40 + 5, layer: 0xffff_fffe })], [0, 0, 1, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xfe]);
    const nonces = new Set<string>();
    for (const index of [0, 1, 17, 2 ** 32, 2 ** 53 - 1]) for (const layer of [0, 1, 3, 0xffff_ffff]) nonces.add(sealNonce({ index, layer }).toString('hex'));
    assert.equal(nonces.size, 20);
    // Sealing the same pad again (never done: a pad index is precomputed once) gives the same bytes.
    assert.deepEqual(sealResidues(key, binding, values), record);
  });

  it('refuses to seal a count that does not match the binding', () => {
    assert.throws(() => sealResidues(key, { ...binding, count: 39 }, values), InvalidArgumentError);
  });

  it('binds every field into distinct associated data', () => {
    const variants: PadBinding[] = [
      binding,
      { ...binding, weightsHash: otherModel },
      { ...binding, storeId: otherStore },
      { ...binding, layer: 4 },
      { ...binding, index: 18 },
      { ...binding, index: 17 + 2 ** 32 },
      { ...binding, epoch: 2 },
      { ...binding, count: 41 },
    ];
    const seen = new Set(variants.map((b) => associatedData(b).toString('hex')));
    assert.equal(seen.size, variants.length);
    assert.throws(() => associatedData({ ...binding, weightsHash: 'not hex' }), InvalidArgumentError);
    assert.throws(() => associatedData({ ...binding, storeId: 'ab' }), InvalidArgumentError);
  });

  it('rejects an authenticated value that is not a residue', () => {
    const bad = Uint32Array.from(values);
    bad[5] = 2 ** 24 - 1; // packs into 3 bytes, but ≥ p
    const sealed = sealResidues(key, binding, bad);
    assert.ok(rejected(() => openResidues(key, binding, sealed)));
  });

  it('rejects every tamper (100 %)', (t) => {
    const cases: [string, () => Uint8Array][] = [];
    const open = (r: Partial<SealedRecord>, b: PadBinding = binding, k: Uint8Array = key) => () => openResidues(k, b, { ...record, ...r });
    // Every bit of the tag, the nonce and the ciphertext.
    for (let bit = 0; bit < 8 * record.tag.length; bit++) cases.push([`tag bit ${bit}`, open({ tag: flipBit(record.tag, bit) })]);
    for (let bit = 0; bit < 8 * record.nonce.length; bit++) cases.push([`nonce bit ${bit}`, open({ nonce: flipBit(record.nonce, bit) })]);
    for (let bit = 0; bit < 8 * record.ciphertext.length; bit++) cases.push([`ciphertext bit ${bit}`, open({ ciphertext: flipBit(record.ciphertext, bit) })]);
    // Truncation and extension of each part.
    for (let n = 0; n < record.ciphertext.length; n++) cases.push([`ciphertext truncated to ${n}`, open({ ciphertext: record.ciphertext.subarray(0, n) })]);
    for (let n = 0; n < 16; n++) cases.push([`tag truncated to ${n}`, open({ tag: record.tag.subarray(0, n) })]);
    for (let n = 0; n < 12; n++) cases.push([`nonce truncated to ${n}`, open({ nonce: record.nonce.subarray(0, n) })]);
    for (const extra of [1, 3, 16]) {
      cases.push([`ciphertext + ${extra} bytes`, open({ ciphertext: Buffer.concat([record.ciphertext, Buffer.alloc(extra)]) })]);
      cases.push([`ciphertext + ${extra} bytes, count adjusted`, open({ ciphertext: Buffer.concat([record.ciphertext, Buffer.alloc(3 * extra)]) }, { ...binding, count: binding.count + extra })]);
      cases.push([`tag + ${extra} bytes`, open({ tag: Buffer.concat([record.tag, Buffer.alloc(extra)]) })]);
      cases.push([`nonce + ${extra} bytes`, open({ nonce: Buffer.concat([record.nonce, Buffer.alloc(extra)]) })]);
    }
    cases.push(['all-zero tag', open({ tag: new Uint8Array(16) })]);
    cases.push(['ciphertext with its last 3 bytes dropped, count adjusted', open({ ciphertext: record.ciphertext.subarray(0, -3) }, { ...binding, count: binding.count - 1 })]);
    // Wrong binding.
    for (let bit = 0; bit < 256; bit += 7) {
      const h = Buffer.from(modelHash, 'hex');
      h[bit >> 3]! ^= 1 << (bit & 7);
      cases.push([`weights hash bit ${bit}`, open({}, { ...binding, weightsHash: h.toString('hex') })]);
    }
    for (let bit = 0; bit < 128; bit += 5) cases.push([`store identity bit ${bit}`, open({}, { ...binding, storeId: Buffer.from(flipBit(Buffer.from(storeId, 'hex'), bit)).toString('hex') })]);
    cases.push(['another model', open({}, { ...binding, weightsHash: otherModel })]);
    cases.push(['another store', open({}, { ...binding, storeId: otherStore })]);
    for (const layer of [0, 2, 4, 3 + 2 ** 16, 0xffff_ffff]) cases.push([`layer ${layer}`, open({}, { ...binding, layer })]);
    for (const index of [0, 16, 18, 17 + 2 ** 32, 17 * 2 ** 32]) cases.push([`index ${index}`, open({}, { ...binding, index })]);
    for (const epoch of [0, 2, 1 + 2 ** 16]) cases.push([`epoch ${epoch}`, open({}, { ...binding, epoch })]);
    for (const count of [0, 39, 41, 80]) cases.push([`count ${count}`, open({}, { ...binding, count })]);
    // Wrong key.
    for (let bit = 0; bit < 256; bit += 13) cases.push([`key bit ${bit}`, open({}, binding, flipBit(key, bit))]);
    for (let k = 0; k < 8; k++) cases.push([`random key ${k}`, open({}, binding, new Uint8Array(randomBytes(32)))]);
    cases.push(['all-zero key', open({}, binding, new Uint8Array(32))]);
    // Parts of another record (same binding, or the neighbouring index).
    const other = sealResidues(key, binding, residues(binding.count, 2));
    const next = sealResidues(key, { ...binding, index: 18 }, values);
    cases.push(['tag of another record', open({ tag: other.tag })]);
    cases.push(['nonce of the next index', open({ nonce: next.nonce })]);
    cases.push(['ciphertext of another record', open({ ciphertext: other.ciphertext })]);
    cases.push(['record of the next index opened as this one', () => openResidues(key, binding, next)]);
    cases.push(['this record opened as the next index', () => openResidues(key, { ...binding, index: 18 }, record)]);

    const missed = cases.filter(([, f]) => !rejected(f)).map(([what]) => what);
    t.diagnostic(`tampers rejected: ${cases.length - missed.length}/${cases.length} (${((100 * (cases.length - missed.length)) / cases.length).toFixed(1)} %)`);
    assert.deepEqual(missed, [], `accepted: ${missed.join(', ')}`);
    // The untampered record still opens.
    assert.deepEqual([...unpacked(openResidues(key, binding, record))], [...values]);
  });

  it('rejects random byte corruption of a large record anywhere (1000 samples)', (t) => {
    const big: PadBinding = { ...binding, count: 5000 };
    const sealed = sealResidues(key, big, residues(big.count, 3));
    const parts = ['nonce', 'tag', 'ciphertext'] as const;
    let n = 0;
    let rejections = 0;
    let s = 12345;
    const rand = (m: number): number => {
      s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
      return s % m;
    };
    for (let k = 0; k < 1000; k++) {
      const part = parts[rand(3)]!;
      const bytes = Uint8Array.from(sealed[part]);
      bytes[rand(bytes.length)]! ^= 1 + rand(255);
      n++;
      if (rejected(() => openResidues(key, big, { ...sealed, [part]: bytes }))) rejections++;
    }
    t.diagnostic(`random corruptions rejected: ${rejections}/${n}`);
    assert.equal(rejections, n);
  });
});
