/**
 * Receipts (issue 15, deliverable 5): every answer of the trusted service carries a statement,
 * signed with its attested Ed25519 key (keys.ts), of which model produced which outputs from which
 * input under which guarantees, so a client — or an auditor later — can prove it.
 *
 * Encoding: the body is a JSON object; what is signed is `"slalom-receipt/1\n" ‖ JCS(body)` (RFC
 * 8785, canonical.ts), so a verifier re-derives the bytes from the parsed body, whatever whitespace
 * or key order it was stored with. Hashes (hex SHA-256):
 * - inputHash: `JCS({inputs: [{name, dims}]}) ‖ 0x00 ‖` each input's values as little-endian float64,
 *   in order — the values the trusted runtime ran on (an FP32 request's values widened exactly);
 * - outputsHash: the same form over the outputs (`{outputs: [{name, dims}]}`).
 * A verifier that holds the input or the outputs recomputes them (tensorsHash).
 *
 * Who signed: the body carries the service's public keys (keys.ts) and the signature must verify
 * under their signing key; the key hash a verifier trusts is the one it derives from those keys
 * (signerKeyHash), never a field it reads. A valid signature says only that *some* key signed: a
 * receipt counts once that key hash is vouched for, by an attestation document or by a pin the
 * verifier already holds (client/client.ts, verifyReceipt).
 */
import { endianness } from 'node:os';
import { canonicalJson, sha256Hex } from './canonical.js';
import { keyHashOf, verifyEd25519, type PublicKeys, type ServiceKeys } from './keys.js';

export const RECEIPT_FORMAT = 'slalom-receipt/2';
const LITTLE_ENDIAN = endianness() === 'LE';

export interface ReceiptBody {
  readonly format: typeof RECEIPT_FORMAT;
  /** ISO 8601 time of signing. */
  readonly issuedAt: string;
  /** 128 random bits (hex): no two receipts have the same body. */
  readonly nonce: string;
  readonly requestId: string;
  readonly service: {
    /** The public keys of the process that signed; `keys.signing` is the key the signature verifies under. */
    readonly keys: PublicKeys;
    /** keyHashOf(keys), as the service computed it; a verifier derives its own and refuses a mismatch. */
    readonly keyHash: string;
    readonly provider: string;
  };
  readonly model: { readonly name: string; readonly modelHash: string; readonly weightsHash: string };
  readonly inputHash: string;
  readonly outputsHash: string;
  /** The mode that ran (runtime/modes.ts). */
  readonly mode: string;
  /**
   * How the outputs' integrity is known: every layer the accelerator computed was checked (Freivalds;
   * others ran in the trusted runtime), every layer ran in the trusted runtime, or some accelerator
   * result was used unchecked.
   */
  readonly integrity: 'freivalds' | 'trusted-runtime' | 'unchecked';
  /** log2 of the probability that a wrong result passed this request (freivalds): over the checked layers only, for its weakest item; else null. */
  readonly soundnessLog2: number | null;
  /** Per item, each linear layer in order: where it was computed and under which check, with the reason when it ran in the trusted runtime. */
  readonly execution: readonly (readonly LayerExecution[])[];
  readonly verification: { readonly variant: string; readonly repetitions: number } | null;
  /** The one-time pads the private modes used: their source, ledger identity, key epoch and indices; null without pads. */
  readonly pads: { readonly source: string; readonly identity: string; readonly epoch: number; readonly indices: readonly number[] } | null;
  /** Failures recovered during the run, in order: the layer (or '(all)') and the error code. */
  readonly incidents: readonly { readonly layer: string; readonly code: string }[];
}

/** One linear layer of one inference, as the receipt states it. */
export interface LayerExecution {
  readonly layer: string;
  readonly ran: 'accelerator+freivalds' | 'accelerator (unchecked)' | 'trusted';
  readonly reason?: string;
}

export interface Receipt {
  readonly body: ReceiptBody;
  /** Ed25519 over `"slalom-receipt/1\n" ‖ JCS(body)`, base64url. */
  readonly signature: string;
}

function signedBytes(body: ReceiptBody): Buffer {
  return Buffer.from(`${RECEIPT_FORMAT}\n${canonicalJson(body)}`, 'utf8');
}

export function signReceipt(keys: ServiceKeys, body: ReceiptBody): Receipt {
  return { body, signature: keys.sign(signedBytes(body)).toString('base64url') };
}

/** True when the receipt is well formed and its signature verifies under the signing key it carries (which proves nothing about who holds that key: see signerKeyHash). */
export function receiptSignatureValid(receipt: unknown): receipt is Receipt {
  if (typeof receipt !== 'object' || receipt === null) return false;
  const r = receipt as Partial<Receipt>;
  const body = r.body;
  if (typeof r.signature !== 'string' || typeof body !== 'object' || body === null || body.format !== RECEIPT_FORMAT) return false;
  const keys = body.service?.keys;
  if (typeof keys?.signing?.publicKey !== 'string' || keys.signing.alg !== 'Ed25519' || typeof keys.hpke?.publicKey !== 'string') return false;
  try {
    return verifyEd25519(keys.signing.publicKey, signedBytes(body), r.signature);
  } catch {
    return false; // a body JSON cannot canonicalize
  }
}

/**
 * The key hash of the keys whose signing key verified `receipt`'s signature, derived here from those
 * keys (keyHashOf); null when the signature does not verify or the body's keyHash field disagrees.
 * This is what an attestation document or a pin must vouch for.
 */
export function signerKeyHash(receipt: unknown): string | null {
  return receiptSignatureValid(receipt) ? derivedKeyHash(receipt.body.service) : null;
}

/** keyHashOf(service.keys) when it equals the keyHash the body states, else null (training receipts use it too). */
export function derivedKeyHash(service: { readonly keys: PublicKeys; readonly keyHash: string }): string | null {
  try {
    const derived = keyHashOf(service.keys);
    return derived === service.keyHash ? derived : null;
  } catch {
    return null; // keys JSON cannot canonicalize
  }
}

/** A tensor as hashed: name, dims and its values. */
export interface HashedTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

/** inputHash / outputsHash of a list of tensors (see the module comment); `key` is 'inputs' or 'outputs'. */
export function tensorsHash(key: 'inputs' | 'outputs', tensors: readonly HashedTensor[]): string {
  const head = canonicalJson({ [key]: tensors.map((t) => ({ name: t.name, dims: [...t.dims] })) });
  const parts: (string | Uint8Array)[] = [head, Uint8Array.of(0)];
  for (const t of tensors) {
    if (LITTLE_ENDIAN) parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    else {
      const bytes = Buffer.allocUnsafe(t.data.byteLength);
      for (let i = 0; i < t.data.length; i++) bytes.writeDoubleLE(t.data[i]!, 8 * i);
      parts.push(bytes);
    }
  }
  return sha256Hex(...parts);
}
