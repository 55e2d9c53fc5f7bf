/**
 * attest/training-receipt.ts: a signed training receipt verifies, and fails after any one field of
 * its body (or its signature) is changed; an inference receipt is not taken for a training one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceKeys } from '../../src/attest/keys.js';
import { verifyTrainingReceipt } from '../../src/client/client.js';
import { isTrainingReceipt, signTrainingReceipt, trainingReceiptValid, TRAINING_RECEIPT_FORMAT, type TrainingReceiptBody } from '../../src/attest/training-receipt.js';
import { flippedSignature, singleFieldEdits } from '../helpers/receipts.js';

const keys = ServiceKeys.generate();
const body: TrainingReceiptBody = {
  format: TRAINING_RECEIPT_FORMAT,
  issuedAt: '2026-12-07T00:00:00.000Z',
  nonce: '0'.repeat(32),
  service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider: 'none' },
  architecture: 'fashion-mnist-cnn',
  initialModel: { source: 'seeded', stateHash: 'a'.repeat(64) },
  dataHash: 'b'.repeat(64),
  hyperparameters: { architecture: 'fashion-mnist-cnn', epochs: 1, batch: 32, steps: null, optimizer: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0, bits: { activation: 8, weight: 8, gradient: 8 }, repetitions: 2, seed: 1 },
  steps: 10,
  finalStateHash: 'c'.repeat(64),
  outputModelHash: 'd'.repeat(64),
  integrity: 'freivalds',
  verification: { check: 'freivalds-dense', repetitions: 2, products: 140, chunks: 350, worstStepSoundnessLog2: -42.9 },
  incidents: [],
};


test('a training receipt verifies, and any one changed field breaks it', () => {
  const receipt = signTrainingReceipt(keys, body);
  assert.ok(trainingReceiptValid(receipt));
  assert.ok(isTrainingReceipt(receipt));
  const edits = singleFieldEdits(receipt, body);
  assert.ok(edits.length >= 25, `${edits.length} fields`);
  for (const { path, edited } of edits) assert.equal(trainingReceiptValid(edited), false, `changing ${path.join('.')} went unnoticed`);
  const badSignature = { ...receipt, signature: flippedSignature(receipt.signature) };
  assert.equal(trainingReceiptValid(badSignature), false);
  assert.equal(trainingReceiptValid({ ...receipt, body: { ...receipt.body, extra: 1 } }), false);
  assert.equal(isTrainingReceipt({ body: { format: 'slalom-receipt/1' } }), false);
  assert.equal(trainingReceiptValid(null), false);
});

test('a training receipt is trusted only when its signer is vouched for: a pin of the derived key hash or an attestation', () => {
  const receipt = signTrainingReceipt(keys, body);
  assert.equal(verifyTrainingReceipt(receipt, { keyHash: keys.keyHash }).steps, body.steps);
  assert.throws(() => verifyTrainingReceipt(receipt, {}), /nothing vouches for the key/);
  // Re-signed with a fresh key and edited claims: valid as a signature, refused under the real pin,
  // also when the body claims the real key hash.
  const forger = ServiceKeys.generate();
  const forged = signTrainingReceipt(forger, { ...body, steps: 1000, service: { ...body.service, keys: forger.publicKeys, keyHash: forger.keyHash } });
  assert.ok(trainingReceiptValid(forged));
  assert.throws(() => verifyTrainingReceipt(forged, { keyHash: keys.keyHash }), /not the pinned/);
  const claimsReal = signTrainingReceipt(forger, { ...body, service: { ...body.service, keys: forger.publicKeys, keyHash: keys.keyHash } });
  assert.throws(() => verifyTrainingReceipt(claimsReal, { keyHash: keys.keyHash }), /does not verify/);
});
