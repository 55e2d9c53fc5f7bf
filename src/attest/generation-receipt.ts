/**
 * Generation receipts (docs/design.md §9, "Generation"): a statement, signed with the service's
 * Ed25519 receipt key (keys.ts) as inference and training receipts are, of which decoder generated
 * which tokens from which prompt, under which sampling, with which pads, and how every step's linear
 * layers were computed and checked. What is signed is `"slalom-generation-receipt/1\n" ‖ JCS(body)`
 * (RFC 8785, canonical.ts). The prompt and the generated tokens are bound by tokenIdsHash, which a
 * client that holds the ids (it sent them, it received them one by one) recomputes.
 */
import { canonicalJson, sha256Hex } from './canonical.js';
import { verifyEd25519, type PublicKeys, type ServiceKeys } from './keys.js';
import { derivedKeyHash } from './receipt.js';

export const GENERATION_RECEIPT_FORMAT = 'slalom-generation-receipt/1';

/** One decoding step as the receipt states it: tokens fed, and its linear layers by where they ran. */
export interface StepSummary {
  readonly tokens: number;
  /** Layers the accelerator computed and Freivalds checked. */
  readonly freivalds: number;
  /** Layers the accelerator computed with no check (mode outsourced). */
  readonly unchecked: number;
  /** Layers the trusted runtime computed, and why (when it says). */
  readonly trusted: number;
  readonly reasons?: readonly string[];
}

export interface GenerationReceiptBody {
  readonly format: typeof GENERATION_RECEIPT_FORMAT;
  readonly issuedAt: string;
  /** 128 random bits (hex). */
  readonly nonce: string;
  readonly requestId: string;
  /** The signing service's public keys and keyHashOf(keys), as inference receipts carry them (receipt.ts). */
  readonly service: { readonly keys: PublicKeys; readonly keyHash: string; readonly provider: string };
  readonly model: { readonly name: string; readonly modelHash: string; readonly weightsHash: string };
  /** The mode that ran (runtime/modes.ts). */
  readonly mode: string;
  readonly sampling: { readonly maxTokens: number; readonly temperature: number; readonly topK: number | null; readonly seed: number };
  readonly prompt: { readonly count: number; readonly idsHash: string };
  readonly generated: { readonly count: number; readonly idsHash: string };
  /** 'length', 'stop', 'context', or 'no-pads' (the pads ran out and the policy ended the generation). */
  readonly finish: string;
  /** What the service does when no pad is ready (wait, fail, local); null without pads. */
  readonly onEmpty: string | null;
  /** 'freivalds': every layer the accelerator computed in every step was checked; 'trusted-runtime': none was outsourced; 'unchecked': some was used unchecked. */
  readonly integrity: 'freivalds' | 'trusted-runtime' | 'unchecked';
  /** log2 of the probability that a wrong step passed, over its checked layers, for the weakest step; null unless freivalds. */
  readonly soundnessLog2: number | null;
  readonly verification: { readonly variant: string; readonly repetitions: number } | null;
  /** Every step in order (the prompt's prefill first). */
  readonly steps: readonly StepSummary[];
  /** The pads spent, one per token fed, in order; null without pads. */
  readonly pads: { readonly source: string; readonly identity: string; readonly epoch: number; readonly count: number; readonly indices: readonly number[] } | null;
  readonly incidents: readonly { readonly layer: string; readonly code: string }[];
}

export interface GenerationReceipt {
  readonly body: GenerationReceiptBody;
  readonly signature: string;
}

/** The hash a generation receipt states for a list of token ids. */
export function tokenIdsHash(ids: readonly number[]): string {
  return sha256Hex(`slalom-token-ids/1\n${canonicalJson([...ids])}`);
}

const signedBytes = (body: GenerationReceiptBody): Buffer => Buffer.from(`${GENERATION_RECEIPT_FORMAT}\n${canonicalJson(body)}`, 'utf8');

export function signGenerationReceipt(keys: ServiceKeys, body: GenerationReceiptBody): GenerationReceipt {
  return { body, signature: keys.sign(signedBytes(body)).toString('base64url') };
}

/** Whether a parsed receipt claims to be a generation receipt (then only generationReceiptValid decides). */
export function isGenerationReceipt(receipt: unknown): boolean {
  return (receipt as { body?: { format?: unknown } } | null)?.body?.format === GENERATION_RECEIPT_FORMAT;
}

/** True when the receipt is well formed and its signature verifies under the signing key it carries (which proves nothing about who holds that key: see generationSignerKeyHash). */
export function generationReceiptValid(receipt: unknown): receipt is GenerationReceipt {
  if (typeof receipt !== 'object' || receipt === null) return false;
  const r = receipt as Partial<GenerationReceipt>;
  const body = r.body;
  if (typeof r.signature !== 'string' || typeof body !== 'object' || body === null || body.format !== GENERATION_RECEIPT_FORMAT || typeof body.service?.keys?.signing?.publicKey !== 'string') return false;
  try {
    return verifyEd25519(body.service.keys.signing.publicKey, signedBytes(body), r.signature);
  } catch {
    return false; // a body JSON cannot canonicalize
  }
}

/** The key hash of the keys whose signing key verified the receipt, derived here, never read from the body; null when the signature does not verify or the body's keyHash disagrees. */
export function generationSignerKeyHash(receipt: unknown): string | null {
  return generationReceiptValid(receipt) ? derivedKeyHash(receipt.body.service) : null;
}
