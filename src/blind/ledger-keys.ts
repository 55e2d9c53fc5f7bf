/**
 * The keys of one pad ledger (docs/design.md §4). A trusted state holds one random 256-bit master secret;
 * every ledger — one pad store identity holding pads of one model, under one key epoch — gets its
 * own AES-256 keys, derived with HKDF-SHA256 (RFC 5869) from the master secret over everything that
 * names the ledger:
 *
 *     K_purpose = HKDF-SHA256(ikm = master, salt = "", info, 32 bytes),
 *     info = "slalom ledger key v2" ‖ lp(purpose) ‖ lp(weightsHash, 32 bytes) ‖ lp(storeId, 16 bytes) ‖ u32 epoch
 *
 * where lp(v) is a one-byte length followed by the bytes (purpose "pad keystream" for the AES-CTR
 * key that generates r, "pad seal" for the AES-GCM key that seals u = f(r)).
 *
 * THE RULE: no (key, IV/nonce) pair ever repeats within a trusted state. Why it holds for pads:
 * - Keys. `ledgerKeyInfo` is injective: a fixed label, then fields that are each length-prefixed, so
 *   no two distinct (purpose, weightsHash, storeId, epoch) give the same info (test/blind/
 *   ledger-keys.test.ts checks it on random and adversarial inputs). HKDF is a PRF in its info, so
 *   distinct ledgers, and the two purposes of one ledger, get independent keys: two models, two
 *   calibrations of one model (their weightsHash differ: it hashes every integer weight), or two stores
 *   of one model sharing a state never share a keystream, and a new epoch changes every key.
 * - IVs within one key. A keystream IV is (pad index i, layer l) (keystream.ts) and a seal nonce is
 *   (i, l) too (seal.ts). A ledger hands out each i to exactly one precompute run (ledger.ts: the
 *   `next` counter only grows, under the ledger lock, durably before any pad of the range is
 *   made; a run that dies leaves a gap, never a second owner), which computes and seals each (i, l)
 *   once; and each i is consumed at most once, each (i, l) blinding at most one input (OnlinePads).
 * - Ledgers. A store identity is created once (128 random bits) and registered in the trusted state
 *   before its store can name it; an identity the state never registered is refused (never given a
 *   fresh counter starting at 0), so a ledger cannot restart under keys whose pads might exist.
 */
import { hkdfSync } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

/** What names a ledger. */
export interface LedgerName {
  /** The model identity, a digest of its quantized weights and graph (SlalomModel.weightsHash), 64 hex digits. */
  readonly weightsHash: string;
  /** The pad store's identity, 32 hex digits. */
  readonly storeId: string;
  /** The trusted state's key epoch. */
  readonly epoch: number;
}

export type KeyPurpose = 'pad keystream' | 'pad seal';

export interface LedgerKeys {
  /** AES-256-CTR key of the keystream that generates r. */
  readonly padKey: Uint8Array;
  /** AES-256-GCM key of the seal on u = f(r). */
  readonly sealKey: Uint8Array;
}

const LABEL = Buffer.from('slalom ledger key v2', 'latin1');
export const WEIGHTS_HASH_RE = /^[0-9a-f]{64}$/;
export const STORE_ID_RE = /^[0-9a-f]{32}$/;

function lp(bytes: Buffer): Buffer {
  if (bytes.length > 255) throw new InvalidArgumentError('a key-derivation field must be at most 255 bytes');
  return Buffer.concat([Buffer.of(bytes.length), bytes]);
}

/** The HKDF info of one key of one ledger (injective; see the module comment). */
export function ledgerKeyInfo(purpose: KeyPurpose, name: LedgerName): Buffer {
  checkLedgerName(name);
  const epoch = Buffer.alloc(4);
  epoch.writeUInt32BE(name.epoch);
  return Buffer.concat([LABEL, lp(Buffer.from(purpose, 'latin1')), lp(Buffer.from(name.weightsHash, 'hex')), lp(Buffer.from(name.storeId, 'hex')), epoch]);
}

export function deriveLedgerKeys(master: Uint8Array, name: LedgerName): LedgerKeys {
  if (master.length !== 32) throw new InvalidArgumentError(`the master secret must be 32 bytes, got ${master.length}`);
  const derive = (purpose: KeyPurpose): Uint8Array => new Uint8Array(hkdfSync('sha256', master, Buffer.alloc(0), ledgerKeyInfo(purpose, name), 32));
  return { padKey: derive('pad keystream'), sealKey: derive('pad seal') };
}

export function checkLedgerName(name: LedgerName): void {
  if (!WEIGHTS_HASH_RE.test(name.weightsHash)) throw new InvalidArgumentError('weights hash must be 64 hex digits');
  if (!STORE_ID_RE.test(name.storeId)) throw new InvalidArgumentError('store identity must be 32 hex digits');
  if (!Number.isInteger(name.epoch) || name.epoch < 0 || name.epoch > 0xffff_ffff) throw new InvalidArgumentError(`key epoch must be a 32-bit integer, got ${name.epoch}`);
}
