/**
 * Issue 11, defect 1 (pads reused across ledgers): the rule "no (key, IV) pair ever repeats within a
 * trusted state" for the pad keystream (src/blind/ledger-keys.ts, keystream.ts, seal.ts):
 * - the HKDF info is injective: random ledger names (and adversarial near-equal ones) round-trip
 *   through an independent decoder, and distinct names give distinct infos and distinct keys;
 * - over an enumeration of ledgers (models × stores × epochs) and pads (index × layer), every
 *   (keystream key, IV) and every (seal key, nonce) pair is distinct, and the keystreams differ;
 * - in one trusted state, two stores of one model, two models in one store directory's place, and
 *   two calibrations (weights hashes) of one model get different keys.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { padIv, padVector } from '../../src/blind/keystream.js';
import { deriveLedgerKeys, ledgerKeyInfo, type KeyPurpose, type LedgerName } from '../../src/blind/ledger-keys.js';
import { sealNonce } from '../../src/blind/seal.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { tempDir } from './blind-helpers.js';

const PURPOSES: readonly KeyPurpose[] = ['pad keystream', 'pad seal'];
const LABEL = 'slalom ledger key v2';

/** An independent reading of the info layout: label, then length-prefixed fields, then u32 epoch. */
function decodeInfo(info: Buffer): { purpose: string; weightsHash: string; storeId: string; epoch: number } {
  assert.equal(info.subarray(0, LABEL.length).toString('latin1'), LABEL);
  let at = LABEL.length;
  const field = (): Buffer => {
    const n = info[at]!;
    const v = info.subarray(at + 1, at + 1 + n);
    at += 1 + n;
    return v;
  };
  const purpose = field().toString('latin1');
  const weightsHash = field().toString('hex');
  const storeId = field().toString('hex');
  const epoch = info.readUInt32BE(at);
  assert.equal(at + 4, info.length, 'nothing after the epoch');
  return { purpose, weightsHash, storeId, epoch };
}

const hex = (rng: Rng, bytes: number): string => Buffer.from(Array.from({ length: bytes }, () => rng.nextI32() & 0xff)).toString('hex');

/** Random ledger names, plus near-collisions: one bit or one byte moved between fields, edge epochs. */
function ledgerNames(seed: number, count: number): LedgerName[] {
  const rng = new Rng(seed);
  const names: LedgerName[] = [];
  for (let k = 0; k < count; k++) names.push({ weightsHash: hex(rng, 32), storeId: hex(rng, 16), epoch: rng.nextI32() >>> 0 });
  const base = names[0]!;
  const flip = (h: string, bit: number): string => {
    const b = Buffer.from(h, 'hex');
    b[bit >> 3]! ^= 1 << (bit & 7);
    return b.toString('hex');
  };
  for (let bit = 0; bit < 256; bit += 17) names.push({ ...base, weightsHash: flip(base.weightsHash, bit) });
  for (let bit = 0; bit < 128; bit += 11) names.push({ ...base, storeId: flip(base.storeId, bit) });
  for (const epoch of [0, 1, 2, 0xffff_ffff]) names.push({ ...base, epoch });
  // The store identity's first byte moved to the end of the weights hash and back: fixed-length fields keep them apart.
  names.push({ weightsHash: base.weightsHash.slice(2) + base.storeId.slice(0, 2), storeId: base.weightsHash.slice(0, 2) + base.storeId.slice(2), epoch: base.epoch });
  names.push({ weightsHash: '00'.repeat(32), storeId: '00'.repeat(16), epoch: 0 }, { weightsHash: 'ff'.repeat(32), storeId: 'ff'.repeat(16), epoch: 0xffff_ffff });
  return names;
}

const key = (k: Uint8Array): string => Buffer.from(k).toString('hex');

describe('ledger key derivation (issue 11, defect 1: pads reused across ledgers)', () => {
  it('the HKDF info is injective: 300 random and 40 adversarial ledger names round-trip and never collide', () => {
    const names = ledgerNames(11, 300);
    const infos = new Map<string, string>();
    for (const name of names) {
      for (const purpose of PURPOSES) {
        const info = ledgerKeyInfo(purpose, name);
        assert.deepEqual(decodeInfo(info), { purpose, ...name });
        const text = info.toString('hex');
        const who = `${purpose}/${name.weightsHash}/${name.storeId}/${name.epoch}`;
        assert.ok(!infos.has(text) || infos.get(text) === who, `${who} and ${infos.get(text)} share an info`);
        infos.set(text, who);
      }
    }
    assert.equal(infos.size, new Set(names.map((n) => `${n.weightsHash}/${n.storeId}/${n.epoch}`)).size * PURPOSES.length);
  });

  it('every (key, IV) of the keystream and every (key, nonce) of the seal is distinct over ledgers × pads × layers', () => {
    const master = new Uint8Array(randomBytes(32));
    const models = ['model A', 'model A --margin 8', 'model B'].map((m) => createHash('sha256').update(m).digest('hex'));
    const stores = ['1'.repeat(32), '2'.repeat(32), randomBytes(16).toString('hex')];
    const pads = [0, 1, 2, 2 ** 32, 2 ** 53 - 1];
    const layers = [0, 1, 2, 0xffff_ffff];
    const streams = new Set<string>();
    const seals = new Set<string>();
    const keys = new Set<string>();
    let ledgers = 0;
    for (const weightsHash of models) {
      for (const storeId of stores) {
        for (const epoch of [1, 2]) {
          const k = deriveLedgerKeys(master, { weightsHash, storeId, epoch });
          keys.add(key(k.padKey)).add(key(k.sealKey));
          ledgers++;
          for (const i of pads) {
            for (const l of layers) {
              streams.add(`${key(k.padKey)}/${padIv(i, l).toString('hex')}`);
              seals.add(`${key(k.sealKey)}/${sealNonce({ index: i, layer: l }).toString('hex')}`);
            }
          }
        }
      }
    }
    assert.equal(keys.size, 2 * ledgers, 'every ledger has its own two keys');
    assert.equal(streams.size, ledgers * pads.length * layers.length);
    assert.equal(seals.size, ledgers * pads.length * layers.length);
  });

  describe('in one trusted state', () => {
    const dir = tempDir('ledger-keys');
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('two stores of one model, two models, two calibrations: different keys, unrelated pads at the same index', () => {
      const state = TrustedState.open(join(dir, 'state'));
      const model = createHash('sha256').update('fashion-mnist margin 4').digest('hex');
      const margin8 = createHash('sha256').update('fashion-mnist margin 8').digest('hex');
      const other = createHash('sha256').update('resnet18').digest('hex');
      const s1 = state.registerStore({ name: 'fashion-mnist', weightsHash: model }).read().storeId;
      const s2 = state.registerStore({ name: 'fashion-mnist', weightsHash: model }).read().storeId;
      assert.notEqual(s1, s2);
      const ledgers = [state.keysFor(model, s1), state.keysFor(model, s2), state.keysFor(margin8, s1), state.keysFor(other, s1)];
      assert.equal(new Set(ledgers.flatMap((k) => [key(k.padKey), key(k.sealKey)])).size, 2 * ledgers.length);
      // Reopening the state gives the same keys (they are derived, not stored).
      assert.equal(key(TrustedState.open(join(dir, 'state')).keysFor(model, s1).padKey), key(ledgers[0]!.padKey));
      // Pad 0 of layer 0 under each ledger: no two agree on even one residue more often than chance.
      const r = ledgers.map((k) => padVector(k.padKey, 0, 0, 4096));
      for (let a = 0; a < r.length; a++) {
        for (let b = a + 1; b < r.length; b++) {
          const same = r[a]!.filter((v, j) => v === r[b]![j]).length;
          assert.ok(same <= 2, `ledgers ${a} and ${b}: ${same} equal residues of 4096`);
        }
      }
    });
  });
});
