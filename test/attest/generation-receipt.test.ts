/**
 * attest/generation-receipt.ts: a signed generation receipt verifies, and fails after any one field
 * of its body (or its signature) is changed; it is trusted only when its signer is vouched for; the
 * token-ids hash is SHA-256 over `"slalom-token-ids/1\n" ‖ JCS(ids)`; an inference or training
 * receipt is not taken for a generation one.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { generationReceiptValid, GENERATION_RECEIPT_FORMAT, isGenerationReceipt, signGenerationReceipt, tokenIdsHash, type GenerationReceiptBody } from '../../src/attest/generation-receipt.js';
import { ServiceKeys } from '../../src/attest/keys.js';
import { verifyGenerationReceipt } from '../../src/client/client.js';
import { flippedSignature, singleFieldEdits } from '../helpers/receipts.js';

const keys = ServiceKeys.generate();
const body: GenerationReceiptBody = {
  format: GENERATION_RECEIPT_FORMAT,
  issuedAt: '2026-12-07T00:00:00.000Z',
  nonce: '0'.repeat(32),
  requestId: 'abc-1',
  service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider: 'none' },
  model: { name: 'gpt-tiny', modelHash: 'a'.repeat(64), weightsHash: 'b'.repeat(64) },
  mode: 'private+verified',
  sampling: { maxTokens: 4, temperature: 0.9, topK: 8, seed: 7 },
  prompt: { count: 3, idsHash: tokenIdsHash([1, 2, 3]) },
  generated: { count: 4, idsHash: tokenIdsHash([5, 6, 7, 8]) },
  finish: 'length',
  onEmpty: 'local',
  integrity: 'freivalds',
  soundnessLog2: -42.8,
  verification: { variant: 'sampled', repetitions: 2 },
  steps: [
    { tokens: 3, freivalds: 9, unchecked: 0, trusted: 0 },
    { tokens: 1, freivalds: 0, unchecked: 0, trusted: 9, reasons: ['no pad left'] },
  ],
  pads: { source: 'memory', identity: 'c'.repeat(32), epoch: 0, count: 3, indices: [0, 1, 2] },
  incidents: [{ layer: '(all)', code: 'SLALOM_ERR_PADS_EXHAUSTED' }],
};


test('the token-ids hash is SHA-256 of the label and the canonical JSON array', () => {
  assert.equal(tokenIdsHash([1, 2, 3]), createHash('sha256').update('slalom-token-ids/1\n[1,2,3]').digest('hex'));
  assert.notEqual(tokenIdsHash([1, 2, 3]), tokenIdsHash([1, 2, 3, 0]));
  assert.notEqual(tokenIdsHash([12, 3]), tokenIdsHash([1, 23]));
});

test('a generation receipt verifies, and any one changed field breaks it', () => {
  const receipt = signGenerationReceipt(keys, body);
  assert.ok(generationReceiptValid(receipt));
  assert.ok(isGenerationReceipt(receipt));
  const edits = singleFieldEdits(receipt, body);
  assert.ok(edits.length >= 40, `${edits.length} fields`);
  for (const { path, edited } of edits) assert.equal(generationReceiptValid(edited), false, `changing ${path.join('.')} went unnoticed`);
  assert.equal(generationReceiptValid({ ...receipt, signature: flippedSignature(receipt.signature) }), false);
  assert.equal(generationReceiptValid({ ...receipt, body: { ...receipt.body, extra: 1 } }), false);
  assert.equal(isGenerationReceipt({ body: { format: 'slalom-receipt/2' } }), false);
  assert.equal(isGenerationReceipt({ body: { format: 'slalom-training-receipt/1' } }), false);
  assert.equal(generationReceiptValid(null), false);
});

test('a generation receipt is trusted only when its signer is vouched for', () => {
  const receipt = signGenerationReceipt(keys, body);
  assert.equal(verifyGenerationReceipt(receipt, { keyHash: keys.keyHash }).generated.count, 4);
  assert.throws(() => verifyGenerationReceipt(receipt, {}), /nothing vouches for the key/);
  const forger = ServiceKeys.generate();
  const forged = signGenerationReceipt(forger, { ...body, finish: 'stop', service: { ...body.service, keys: forger.publicKeys, keyHash: forger.keyHash } });
  assert.ok(generationReceiptValid(forged));
  assert.throws(() => verifyGenerationReceipt(forged, { keyHash: keys.keyHash }), /not the pinned/);
  const claimsReal = signGenerationReceipt(forger, { ...body, service: { ...body.service, keys: forger.publicKeys, keyHash: keys.keyHash } });
  assert.throws(() => verifyGenerationReceipt(claimsReal, { keyHash: keys.keyHash }), /does not verify/);
});
