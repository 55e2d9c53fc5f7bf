/**
 * Receipts (src/attest/receipt.ts): a signed receipt verifies; changing any one field of its body (every
 * leaf, each in turn), its signature or its signing key makes it fail; the canonical form does not
 * depend on key order or whitespace; the signer's key hash is derived from the keys that verify; tensor hashes change with any value, name or dim.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceKeys } from '../../src/attest/keys.js';
import { receiptSignatureValid, RECEIPT_FORMAT, signerKeyHash, signReceipt, tensorsHash, type ReceiptBody } from '../../src/attest/receipt.js';

export function sampleBody(keys: ServiceKeys): ReceiptBody {
  return {
    format: RECEIPT_FORMAT,
    issuedAt: '2026-12-02T10:00:00.000Z',
    nonce: '0123456789abcdef0123456789abcdef',
    requestId: 'r-1',
    service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider: 'none' },
    model: { name: 'fashion-mnist', modelHash: 'a'.repeat(64), weightsHash: 'b'.repeat(64) },
    inputHash: 'c'.repeat(64),
    outputsHash: 'd'.repeat(64),
    mode: 'private+verified',
    integrity: 'freivalds',
    soundnessLog2: -41.6,
    verification: { variant: 'preprocessed', repetitions: 2 },
    execution: [[{ layer: 'conv1', ran: 'accelerator+freivalds' }, { layer: 'fc', ran: 'trusted', reason: 'recomputed after the accelerator\'s reply was refused (SLALOM_ERR_INTEGRITY)' }]],
    pads: { source: 'store', identity: 'e'.repeat(32), epoch: 1, indices: [7] },
    incidents: [{ layer: 'fc', code: 'SLALOM_ERR_INTEGRITY' }],
  };
}

/** Every leaf path of a JSON value, with a changed value for it. */
function mutations(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; changed: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => mutations(v, [...path, i])).concat([{ path, changed: [...value, 0] }]);
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => mutations(v, [...path, k]));
  const changed = typeof value === 'number' ? value + 1 : typeof value === 'string' ? `${value}x` : typeof value === 'boolean' ? !value : 'x';
  return [{ path, changed }];
}

function withChange(body: ReceiptBody, path: (string | number)[], changed: unknown): ReceiptBody {
  const copy = structuredClone(body) as unknown as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  if (path.length === 0) return changed as ReceiptBody;
  at[path[path.length - 1]!] = changed;
  return copy as unknown as ReceiptBody;
}

describe('receipts', () => {
  const keys = ServiceKeys.generate();
  const receipt = signReceipt(keys, sampleBody(keys));

  it('verify as signed, and through a JSON round trip with other key order and whitespace', () => {
    assert.equal(receiptSignatureValid(receipt), true);
    const reordered = JSON.parse(JSON.stringify({ signature: receipt.signature, body: Object.fromEntries(Object.entries(receipt.body).reverse()) }, null, 2));
    assert.equal(receiptSignatureValid(reordered), true);
  });

  it('fail after any one field of the body is changed (every leaf, each in turn)', () => {
    const all = mutations(receipt.body);
    assert.ok(all.length >= 20, `${all.length} fields`);
    for (const { path, changed } of all) {
      const tampered = { ...receipt, body: withChange(receipt.body, path, changed) };
      assert.equal(receiptSignatureValid(tampered), false, `changing ${path.join('.')} must break the receipt`);
    }
  });

  it('fail with a removed or added field, another signature, or another signing key', () => {
    const { incidents: _, ...fewer } = receipt.body;
    assert.equal(receiptSignatureValid({ ...receipt, body: fewer }), false);
    assert.equal(receiptSignatureValid({ ...receipt, body: { ...receipt.body, extra: 1 } }), false);
    const sig = Buffer.from(receipt.signature, 'base64url');
    sig[10]! ^= 1;
    assert.equal(receiptSignatureValid({ ...receipt, signature: sig.toString('base64url') }), false);
    const other = ServiceKeys.generate();
    const forged = signReceipt(other, receipt.body); // signed by another key, still naming the first
    assert.equal(receiptSignatureValid(forged), false);
    assert.equal(receiptSignatureValid({ body: { ...receipt.body, service: { ...receipt.body.service, keys: other.publicKeys } }, signature: receipt.signature }), false);
    assert.equal(receiptSignatureValid(null), false);
    assert.equal(receiptSignatureValid({ body: receipt.body }), false);
  });

  it("derive the signer's key hash from the keys the signature verifies under, not from the keyHash field", () => {
    assert.equal(signerKeyHash(receipt), keys.keyHash);
    const other = ServiceKeys.generate();
    // A fresh key signing a body that claims the genuine key hash: the field disagrees with the keys that signed.
    const claiming = signReceipt(other, { ...receipt.body, service: { keys: other.publicKeys, keyHash: keys.keyHash, provider: 'none' } });
    assert.equal(receiptSignatureValid(claiming), true);
    assert.equal(signerKeyHash(claiming), null);
    // Honestly self-signed: derives the fresh key's hash, which nothing vouches for yet.
    const selfSigned = signReceipt(other, { ...receipt.body, service: { keys: other.publicKeys, keyHash: other.keyHash, provider: 'none' } });
    assert.equal(signerKeyHash(selfSigned), other.keyHash);
    assert.equal(signerKeyHash({ ...receipt, body: { ...receipt.body, service: { ...receipt.body.service, keyHash: other.keyHash } } }), null);
    assert.equal(signerKeyHash(null), null);
  });

  it('hash tensors by name, dims and every value', () => {
    const t = { name: 'x', dims: [1, 3], data: Float64Array.of(0.5, -1, 2) };
    const h = tensorsHash('inputs', [t]);
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(tensorsHash('inputs', [{ ...t, data: Float64Array.of(0.5, -1, 2) }]), h);
    assert.notEqual(tensorsHash('outputs', [t]), h);
    assert.notEqual(tensorsHash('inputs', [{ ...t, name: 'y' }]), h);
    assert.notEqual(tensorsHash('inputs', [{ ...t, dims: [3, 1] }]), h);
    assert.notEqual(tensorsHash('inputs', [{ ...t, data: Float64Array.of(0.5, -1, 2.0000000000000004) }]), h);
  });
});
