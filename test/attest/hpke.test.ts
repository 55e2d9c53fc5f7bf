/**
 * HPKE base mode (src/attest/hpke.ts) against published vectors: RFC 9180 Appendix A.1 (X25519,
 * HKDF-SHA256, AES-128-GCM: every intermediate value, two sealed messages, three exports) and the
 * CFRG test vector for X25519, HKDF-SHA256, AES-256-GCM (kem 32, kdf 1, aead 2: the suite the service
 * uses), as RFC 9180's test-vectors.json publishes them (provenance: test/vectors/README.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AEAD_AES_128_GCM, AEAD_AES_256_GCM, deriveX25519, generateX25519, setupBaseR, setupBaseS } from '../../src/attest/hpke.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const INFO = hex('4f6465206f6e2061204772656369616e2055726e'); // "Ode on a Grecian Urn"
const PT = hex('4265617574792069732074727574682c20747275746820626561757479'); // "Beauty is truth, truth beauty"

describe('RFC 9180 A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode', () => {
  const ikmE = hex('7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234');
  const ikmR = hex('6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037');

  it('derives the key pairs, the shared secret and the key schedule', () => {
    const e = deriveX25519(ikmE);
    assert.equal(e.privateKey.toString('hex'), '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736');
    assert.equal(e.publicKey.toString('hex'), '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431');
    const r = deriveX25519(ikmR);
    assert.equal(r.privateKey.toString('hex'), '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8');
    assert.equal(r.publicKey.toString('hex'), '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d');
    const { enc, context, sharedSecret } = setupBaseS(r.publicKey, INFO, AEAD_AES_128_GCM, ikmE);
    assert.equal(enc.toString('hex'), '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431');
    assert.equal(sharedSecret.toString('hex'), 'fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc');
    assert.equal(context.key.toString('hex'), '4531685d41d65f03dc48f6b8302c05b0');
    assert.equal(context.baseNonce.toString('hex'), '56d890e5accaaf011cff4b7d');
  });

  it('seals messages 0 and 1, the recipient opens them, and exports match', () => {
    const r = deriveX25519(ikmR);
    const { enc, context } = setupBaseS(r.publicKey, INFO, AEAD_AES_128_GCM, ikmE);
    const ct0 = context.seal(hex('436f756e742d30'), PT);
    const ct1 = context.seal(hex('436f756e742d31'), PT);
    assert.equal(ct0.toString('hex'), 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a');
    assert.equal(ct1.toString('hex'), 'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84');
    const recipient = setupBaseR(enc, r, INFO, AEAD_AES_128_GCM);
    assert.deepEqual(recipient.open(hex('436f756e742d30'), ct0), PT);
    assert.deepEqual(recipient.open(hex('436f756e742d31'), ct1), PT);
    assert.equal(context.export(Buffer.alloc(0), 32).toString('hex'), '3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee');
    assert.equal(context.export(hex('00'), 32).toString('hex'), '2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5');
    assert.equal(recipient.export(Buffer.from('TestContext'), 32).toString('hex'), 'e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931');
  });
});

describe('CFRG vector: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode', () => {
  const ikmE = hex('2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9');
  const ikmR = hex('dac33b0e9db1b59dbbea58d59a14e7b5896e9bdf98fad6891e99d1686492b9ee');

  it('derives the recipient key and enc, seals message 0 and exports as published', () => {
    const r = deriveX25519(ikmR);
    assert.equal(r.privateKey.toString('hex'), '497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d');
    assert.equal(r.publicKey.toString('hex'), '430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c');
    const { enc, context } = setupBaseS(r.publicKey, INFO, AEAD_AES_256_GCM, ikmE);
    assert.equal(enc.toString('hex'), '6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256');
    const ct0 = context.seal(hex('436f756e742d30'), PT);
    assert.equal(ct0.toString('hex'), 'e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a');
    assert.equal(context.export(Buffer.alloc(0), 32).toString('hex'), 'ded6cffafaea6b812cbf3e241e88332adbc077aca81512914213810ee291770a');
    assert.equal(context.export(Buffer.from('TestContext'), 32).toString('hex'), '7c5ded445732c14fe09727d29b4251c0fd38455fe8440571e687f0886aac94d2');
    assert.deepEqual(setupBaseR(enc, r, INFO).open(hex('436f756e742d30'), ct0), PT);
  });
});

describe('HPKE contexts', () => {
  it('refuse a flipped bit anywhere in the ciphertext, another AAD, another info, another recipient', () => {
    const r = generateX25519();
    const { enc, context } = setupBaseS(r.publicKey, INFO);
    const ct = context.seal(Buffer.from('aad'), PT);
    for (const at of [0, 10, ct.length - 1]) {
      const bad = Buffer.from(ct);
      bad[at]! ^= 1;
      assert.throws(() => setupBaseR(enc, r, INFO).open(Buffer.from('aad'), bad));
    }
    assert.throws(() => setupBaseR(enc, r, INFO).open(Buffer.from('other'), ct));
    assert.throws(() => setupBaseR(enc, r, Buffer.from('other info')).open(Buffer.from('aad'), ct));
    assert.throws(() => setupBaseR(enc, generateX25519(), INFO).open(Buffer.from('aad'), ct));
    assert.deepEqual(setupBaseR(enc, r, INFO).open(Buffer.from('aad'), ct), PT);
  });

  it('refuse a small-order public key (all-zero shared secret)', () => {
    assert.throws(() => setupBaseR(Buffer.alloc(32), generateX25519(), INFO), /all-zero|small order|invalid/i);
  });

  it('give a fresh enc and key on every setup', () => {
    const r = generateX25519();
    const a = setupBaseS(r.publicKey, INFO);
    const b = setupBaseS(r.publicKey, INFO);
    assert.notDeepEqual(a.enc, b.enc);
    assert.notDeepEqual(a.context.key, b.context.key);
  });
});
