/** Receipts for the trust tests: a genuine body for a service key, and a forger's re-signed copy of a receipt. */
import { ServiceKeys } from '../../src/attest/keys.js';
import { RECEIPT_FORMAT, signReceipt, type Receipt, type ReceiptBody } from '../../src/attest/receipt.js';

export const MODEL = { name: 'fashion-mnist', modelHash: 'a'.repeat(64), weightsHash: 'b'.repeat(64) };

export function genuineBody(keys: ServiceKeys): ReceiptBody {
  return {
    format: RECEIPT_FORMAT,
    issuedAt: '2026-12-07T10:00:00.000Z',
    nonce: '0123456789abcdef0123456789abcdef',
    requestId: 'r-1',
    service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider: 'none' },
    model: MODEL,
    inputHash: 'c'.repeat(64),
    outputsHash: 'd'.repeat(64),
    mode: 'verified',
    integrity: 'freivalds',
    soundnessLog2: -41.6,
    verification: { variant: 'preprocessed', repetitions: 2 },
    execution: [[{ layer: 'conv1', ran: 'accelerator+freivalds' }, { layer: 'fc', ran: 'accelerator+freivalds' }]],
    pads: null,
    incidents: [],
  };
}

/** What a forger makes: the genuine body with edited claims, signed by a key of its own. */
export function forged(genuine: Receipt, service: ReceiptBody['service'], forger: ServiceKeys): Receipt {
  return signReceipt(forger, { ...genuine.body, service, outputsHash: 'e'.repeat(64), mode: 'private+verified', model: { ...MODEL, weightsHash: 'f'.repeat(64) } });
}

/** A signature with its tenth character changed: every bit of that character counts (unlike the last, whose low bits base64 ignores). */
export function flippedSignature(signature: string): string {
  return `${signature.slice(0, 9)}${signature[9] === 'A' ? 'B' : 'A'}${signature.slice(10)}`;
}

/**
 * For each leaf field of `body` (the body a receipt was signed over), its path and a copy of
 * `receipt` with only that field changed: every one must fail verification.
 */
export function singleFieldEdits(receipt: object, body: object): { path: string[]; edited: unknown }[] {
  return leaves(body).map((path) => {
    const edited = structuredClone(receipt) as { body: Record<string, unknown> };
    let at: Record<string, unknown> = edited.body;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    at[path[path.length - 1]!] = changed(at[path[path.length - 1]!]);
    return { path, edited };
  });
}

function leaves(v: unknown, path: string[] = []): string[][] {
  if (v !== null && typeof v === 'object' && Object.keys(v).length > 0) return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [path];
}

function changed(v: unknown): unknown {
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'string') return `${v}0`;
  if (Array.isArray(v)) return ['x'];
  return v === null ? 0 : 'x';
}
