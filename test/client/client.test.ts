/**
 * Receipt trust (src/client/client.ts, verifyReceipt): a receipt counts only when the key that
 * signed it is vouched for — by an attestation document of that key, or by a key hash the caller
 * pins — and the key hash compared is the one derived from the signing keys, never a field of the
 * body. Forged receipts: re-signed with a fresh key and edited claims, a body whose key field was
 * edited, a genuine receipt against another key's attestation; the genuine one passes with a pin and
 * with its attestation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attest, noneProvider, type AttestationDocument } from '../../src/attest/attestation.js';
import { ServiceKeys } from '../../src/attest/keys.js';
import { signReceipt } from '../../src/attest/receipt.js';
import { UNVOUCHED_RECEIPT, verifyReceipt } from '../../src/client/client.js';
import { forged, genuineBody, MODEL } from '../helpers/receipts.js';

const refused = (what: RegExp) => (e: unknown) => (e as { code?: string }).code === 'SLALOM_ERR_ATTESTATION' && what.test((e as Error).message);

describe('verifyReceipt', async () => {
  const real = ServiceKeys.generate();
  const forger = ServiceKeys.generate();
  const genuine = signReceipt(real, genuineBody(real));
  const doc: AttestationDocument = await attest(noneProvider, real.publicKeys, [MODEL], null);
  const otherDoc: AttestationDocument = await attest(noneProvider, forger.publicKeys, [MODEL], null);

  it('accepts the genuine receipt with a pin of its key hash, and with its attestation document', () => {
    assert.equal(verifyReceipt(genuine, { keyHash: real.keyHash }).requestId, 'r-1');
    assert.equal(verifyReceipt(genuine, { keyHash: real.keyHash.toUpperCase() }).requestId, 'r-1');
    assert.equal(verifyReceipt(genuine, { attestation: doc }).requestId, 'r-1');
    assert.equal(verifyReceipt(genuine, { attestation: doc, keyHash: real.keyHash }).requestId, 'r-1');
  });

  it('refuses a receipt when nothing vouches for its key, even the genuine one', () => {
    assert.throws(() => verifyReceipt(genuine, {}), refused(/nothing vouches/));
    assert.equal(UNVOUCHED_RECEIPT.includes('\n'), false);
  });

  it('refuses a receipt re-signed with a fresh key and edited claims, with or without the real key hash pinned', () => {
    const selfSigned = forged(genuine, { keys: forger.publicKeys, keyHash: forger.keyHash, provider: 'none' }, forger);
    assert.throws(() => verifyReceipt(selfSigned, {}), refused(/nothing vouches/));
    assert.throws(() => verifyReceipt(selfSigned, { keyHash: real.keyHash }), refused(/not the pinned/));
    assert.throws(() => verifyReceipt(selfSigned, { attestation: doc }), refused(/does not attest/));
    // The same, claiming the real key hash in its body: the claim is not what is compared.
    const claiming = forged(genuine, { keys: forger.publicKeys, keyHash: real.keyHash, provider: 'none' }, forger);
    assert.throws(() => verifyReceipt(claiming, { keyHash: real.keyHash }), refused(/does not verify/));
    assert.throws(() => verifyReceipt(claiming, { attestation: doc }), refused(/does not verify/));
    // Naming the real keys but signed by the forger's: the signature does not verify under them.
    const naming = forged(genuine, genuine.body.service, forger);
    assert.throws(() => verifyReceipt(naming, { keyHash: real.keyHash }), refused(/does not verify/));
  });

  it("refuses the genuine receipt with its body's key field edited", () => {
    const keyHashEdited = { ...genuine, body: { ...genuine.body, service: { ...genuine.body.service, keyHash: forger.keyHash } } };
    assert.throws(() => verifyReceipt(keyHashEdited, { keyHash: forger.keyHash }), refused(/does not verify/));
    const keysEdited = { ...genuine, body: { ...genuine.body, service: { ...genuine.body.service, keys: forger.publicKeys } } };
    assert.throws(() => verifyReceipt(keysEdited, { keyHash: forger.keyHash }), refused(/does not verify/));
    const hpkeEdited = { ...genuine, body: { ...genuine.body, service: { ...genuine.body.service, keys: { ...real.publicKeys, hpke: forger.publicKeys.hpke } } } };
    assert.throws(() => verifyReceipt(hpkeEdited, { keyHash: real.keyHash }), refused(/does not verify/));
  });

  it("refuses the genuine receipt against another key's attestation, or a document that does not name its model", async () => {
    assert.throws(() => verifyReceipt(genuine, { attestation: otherDoc }), refused(/does not attest/));
    assert.throws(() => verifyReceipt(genuine, { attestation: doc, keyHash: forger.keyHash }), refused(/not the pinned/));
    const elsewhere = await attest(noneProvider, real.publicKeys, [{ ...MODEL, weightsHash: '0'.repeat(64) }], null);
    assert.throws(() => verifyReceipt(genuine, { attestation: elsewhere }), refused(/does not name/));
  });
});
