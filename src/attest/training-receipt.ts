/**
 * Training receipts (docs/design.md §8): a statement, signed with the trusted runtime's Ed25519 receipt
 * key (keys.ts) as inference receipts are (receipt.ts), of which initial model was trained on which
 * data set with which hyperparameters for how many steps into which final weights, and how every
 * outsourced product of every step was checked. What is signed is
 * `"slalom-training-receipt/1\n" ‖ JCS(body)` (RFC 8785, canonical.ts). Hashes are hex SHA-256 as
 * train/hashes.ts defines them; a verifier holding the data, the initial or the final model
 * recomputes them.
 */
import { canonicalJson } from './canonical.js';
import { verifyEd25519, type PublicKeys, type ServiceKeys } from './keys.js';
import { derivedKeyHash } from './receipt.js';

export const TRAINING_RECEIPT_FORMAT = 'slalom-training-receipt/1';

export interface TrainingReceiptBody {
  readonly format: typeof TRAINING_RECEIPT_FORMAT;
  readonly issuedAt: string;
  /** 128 random bits (hex). */
  readonly nonce: string;
  /** The signing service's public keys and keyHashOf(keys), as inference receipts carry them (receipt.ts). */
  readonly service: { readonly keys: PublicKeys; readonly keyHash: string; readonly provider: string };
  readonly architecture: string;
  /** Where the initial weights came from and the hash of that state (parameters and running statistics). */
  readonly initialModel: { readonly source: 'onnx' | 'seeded'; readonly stateHash: string };
  readonly dataHash: string;
  readonly hyperparameters: Readonly<Record<string, unknown>>;
  readonly steps: number;
  /** The state after the last step, and the ONNX file written from it (null if none was written). */
  readonly finalStateHash: string;
  readonly outputModelHash: string | null;
  /** 'freivalds': every outsourced product checked; 'trusted-runtime': every product computed in the trusted runtime. */
  readonly integrity: 'freivalds' | 'trusted-runtime';
  readonly verification: {
    readonly check: 'freivalds-dense';
    readonly repetitions: number;
    /** Products and their inner-dimension chunks, each chunk one check. */
    readonly products: number;
    readonly chunks: number;
    /** log2 of the probability that a wrong product passed, for the step where it was largest (union over its chunks). */
    readonly worstStepSoundnessLog2: number;
  } | null;
  /** Failed checks recovered under --on-failure recompute (code@product, in order). */
  readonly incidents: readonly string[];
}

export interface TrainingReceipt {
  readonly body: TrainingReceiptBody;
  readonly signature: string;
}

const signedBytes = (body: TrainingReceiptBody): Buffer => Buffer.from(`${TRAINING_RECEIPT_FORMAT}\n${canonicalJson(body)}`, 'utf8');

export function signTrainingReceipt(keys: ServiceKeys, body: TrainingReceiptBody): TrainingReceipt {
  return { body, signature: keys.sign(signedBytes(body)).toString('base64url') };
}

/** Whether a parsed receipt claims to be a training receipt (then only trainingReceiptValid decides). */
export function isTrainingReceipt(receipt: unknown): boolean {
  return (receipt as { body?: { format?: unknown } } | null)?.body?.format === TRAINING_RECEIPT_FORMAT;
}

/** True when the receipt is well formed and its signature verifies under the signing key it carries (which proves nothing about who holds that key: see trainingSignerKeyHash). */
export function trainingReceiptValid(receipt: unknown): receipt is TrainingReceipt {
  if (typeof receipt !== 'object' || receipt === null) return false;
  const r = receipt as Partial<TrainingReceipt>;
  const body = r.body;
  if (typeof r.signature !== 'string' || typeof body !== 'object' || body === null || body.format !== TRAINING_RECEIPT_FORMAT || typeof body.service?.keys?.signing?.publicKey !== 'string') return false;
  try {
    return verifyEd25519(body.service.keys.signing.publicKey, signedBytes(body), r.signature);
  } catch {
    return false;
  }
}

/**
 * The key hash of the keys whose signing key verified the training receipt, derived here
 * (keyHashOf), never read from the body; null when the signature does not verify or the body's
 * keyHash disagrees. What an attestation document or a pin must vouch for, as for inference receipts.
 */
export function trainingSignerKeyHash(receipt: unknown): string | null {
  return trainingReceiptValid(receipt) ? derivedKeyHash(receipt.body.service) : null;
}
