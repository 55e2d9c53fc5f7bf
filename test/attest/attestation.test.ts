/**
 * Attestation documents and client policies (src/attest/attestation.ts): the `none` provider is
 * labelled and refused unless the policy allows development providers; a document whose keys,
 * models or nonce do not match its reportData, another nonce, an unknown provider, a pinned key hash
 * or weights hash that differs are refused; a hardware provider goes through its verifier.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attest, checkAttestation, DEVELOPMENT_NOTICE, noneProvider, reportDataOf, type AttestationProvider, type AttestationVerifier } from '../../src/attest/attestation.js';
import { ServiceKeys } from '../../src/attest/keys.js';

const models = [{ name: 'm', modelHash: 'a'.repeat(64), weightsHash: 'b'.repeat(64) }];

describe('attestation', () => {
  const keys = ServiceKeys.generate();

  it('the none provider is labelled as signing nothing and refused unless development is allowed', async () => {
    const doc = await attest(noneProvider, keys.publicKeys, models, 'ab'.repeat(16));
    assert.equal(doc.provider, 'none');
    assert.equal(doc.development, true);
    assert.equal(doc.notice, DEVELOPMENT_NOTICE);
    assert.equal(doc.evidence, null);
    await assert.rejects(checkAttestation(doc, {}), { code: 'SLALOM_ERR_ATTESTATION', message: /none.*development/ });
    const ok = await checkAttestation(doc, { allowDevelopment: true }, 'ab'.repeat(16));
    assert.equal(ok.document.keyHash, keys.keyHash);
  });

  it('refuses inconsistent documents, another nonce and pins that do not match', async () => {
    const doc = await attest(noneProvider, keys.publicKeys, models, 'ab'.repeat(16));
    const dev = { allowDevelopment: true };
    const other = ServiceKeys.generate();
    await assert.rejects(checkAttestation({ ...doc, keys: other.publicKeys }, dev), /keyHash/);
    await assert.rejects(checkAttestation({ ...doc, keys: other.publicKeys, keyHash: other.keyHash }, dev), /reportData/);
    await assert.rejects(checkAttestation({ ...doc, models: [{ ...models[0]!, weightsHash: 'c'.repeat(64) }] }, dev), /reportData/);
    await assert.rejects(checkAttestation({ ...doc, nonce: 'cd'.repeat(16) }, dev), /reportData/);
    await assert.rejects(checkAttestation(doc, dev, 'cd'.repeat(16)), /nonce/);
    await assert.rejects(checkAttestation({ ...doc, development: false }, dev), /development/);
    await assert.rejects(checkAttestation(doc, { ...dev, keyHash: other.keyHash }), /key hash/);
    await assert.rejects(checkAttestation(doc, { ...dev, weightsHash: 'c'.repeat(12) }), /weights/);
    await checkAttestation(doc, { ...dev, weightsHash: 'b'.repeat(12), keyHash: keys.keyHash });
    await assert.rejects(checkAttestation({ format: 'x' }, dev), /malformed/);
  });

  it('a hardware provider is accepted only through its verifier and the measurements the policy allows', async () => {
    // A stand-in TEE: its "report" is the reportData and a measurement; the verifier checks the binding.
    const fake: AttestationProvider = { name: 'test-tee', development: false, evidence: async (rd) => ({ format: 'test', report: Buffer.concat([rd, Buffer.from('m1')]).toString('base64') }) };
    const verifier: AttestationVerifier = {
      provider: 'test-tee',
      async verify(evidence, reportData) {
        const bytes = Buffer.from(evidence.report, 'base64');
        if (!bytes.subarray(0, 64).equals(reportData)) throw new Error('report data does not match');
        return { measurement: bytes.subarray(64).toString() };
      },
    };
    const doc = await attest(fake, keys.publicKeys, models, null);
    assert.deepEqual(Buffer.from(doc.evidence!.report, 'base64').subarray(0, 64), reportDataOf(keys.keyHash, models, null));
    await assert.rejects(checkAttestation(doc, { allowDevelopment: true }), /no verifier/);
    assert.equal((await checkAttestation(doc, { verifiers: [verifier] })).measurement, 'm1');
    await assert.rejects(checkAttestation(doc, { verifiers: [verifier], measurements: ['m2'] }), /measurement/);
    const swapped = { ...doc, evidence: { format: 'test', report: Buffer.concat([Buffer.alloc(64), Buffer.from('m1')]).toString('base64') } };
    await assert.rejects(checkAttestation(swapped, { verifiers: [verifier] }), /does not verify/);
  });
});
