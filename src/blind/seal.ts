/**
 * Sealing precomputed unblinding factors u = f(r) for untrusted storage (docs/design.md §4): AES-256-GCM
 * under the ledger's seal key (ledger-keys.ts) with associated data binding the weights hash, the
 * store identity, layer, pad index, key epoch and element count, so a record moved to another
 * model, store, layer or index, or kept across a key change, fails authentication. Residues
 * (< 2^24) are packed in 3 bytes each. Plaintext is only used after the tag verified.
 *
 * Nonce: the 96-bit (pad index i: 64 bits ‖ layer l: 32 bits), not random. Under one seal key (one
 * ledger) each (i, l) is sealed exactly once — i belongs to the one precompute run that reserved it
 * (ledger.ts) — so no (key, nonce) pair repeats (ledger-keys.ts states the rule). Were a record ever
 * sealed again, it would be the same plaintext (u is a function of r and the weights) under the same
 * associated data, i.e. the same ciphertext: nothing would leak.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { InvalidArgumentError, PadAuthError } from '../errors.js';
import { packResidues } from '../field/pack24.js';
import type { Residues } from '../field/residues.js';
import { alloc, release, u8, type Region } from '../simd/arena.js';
import { packedBelowP } from '../simd/residues.js';
import { checkLedgerName } from './ledger-keys.js';

export interface PadBinding {
  /** The model identity, a digest of its quantized weights and graph (SlalomModel.weightsHash), hex. */
  readonly weightsHash: string;
  /** The pad store's identity, 32 hex digits. */
  readonly storeId: string;
  readonly layer: number;
  readonly index: number;
  readonly epoch: number;
  readonly count: number;
}

export interface SealedRecord {
  readonly nonce: Uint8Array;
  readonly tag: Uint8Array;
  readonly ciphertext: Uint8Array;
}

const AAD_LABEL = Buffer.from('slalom-pad-v2\0', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Ciphertext bytes decrypted per update() when opening: 256 KiB. */
const OPEN_CHUNK_BYTES = 256 * 1024;

/** Fixed-width fields after a fixed label: distinct bindings give distinct associated data. */
export function associatedData(b: PadBinding): Buffer {
  checkLedgerName(b);
  const fields = Buffer.alloc(32 + 16 + 4 + 8 + 4 + 4);
  Buffer.from(b.weightsHash, 'hex').copy(fields, 0);
  Buffer.from(b.storeId, 'hex').copy(fields, 32);
  fields.writeUInt32BE(b.layer, 48);
  fields.writeBigUInt64BE(BigInt(b.index), 52);
  fields.writeUInt32BE(b.epoch, 60);
  fields.writeUInt32BE(b.count, 64);
  return Buffer.concat([AAD_LABEL, fields]);
}

/** The record's nonce: i (64 bits) ‖ l (32 bits), unique per seal key (see the module comment). */
export function sealNonce(b: Pick<PadBinding, 'index' | 'layer'>): Buffer {
  if (!Number.isSafeInteger(b.index) || b.index < 0) throw new InvalidArgumentError(`pad index must be a non-negative integer, got ${b.index}`);
  if (!Number.isInteger(b.layer) || b.layer < 0 || b.layer > 0xffff_ffff) throw new InvalidArgumentError(`layer must be a 32-bit index, got ${b.layer}`);
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeBigUInt64BE(BigInt(b.index), 0);
  nonce.writeUInt32BE(b.layer, 8);
  return nonce;
}

export function sealResidues(key: Uint8Array, binding: PadBinding, values: Residues): SealedRecord {
  if (values.length !== binding.count) throw new InvalidArgumentError(`sealing ${values.length} values under a binding for ${binding.count}`);
  const plain = packResidues(values, Buffer.alloc(values.length * 3));
  const nonce = sealNonce(binding);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(binding));
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { nonce, tag: cipher.getAuthTag(), ciphertext };
}

/**
 * The residues of a record, still packed 3 bytes each (field/pack24.ts): the boundary pass unpacks
 * them as it subtracts them. Decrypted straight into a region of the trusted runtime's memory
 * (simd/arena.ts: 3·count bytes, readable 16 past them), which the caller releases. PadAuthError
 * when the tag, the binding or the length is wrong, or a value is not a residue; nothing is then
 * left allocated.
 */
export function openResidues(key: Uint8Array, binding: PadBinding, record: SealedRecord): Region {
  const fail = (why: string, cause?: unknown): never => {
    throw new PadAuthError(`pad ${binding.index} failed authentication: ${why}`, { layer: `layer ${binding.layer}`, padIndex: binding.index, cause });
  };
  if (record.ciphertext.length !== binding.count * 3) fail(`${record.ciphertext.length} bytes, expected ${binding.count * 3}`);
  // Full-length nonce and tag only: node:crypto would otherwise accept a GCM tag truncated to 4–15 bytes.
  if (record.nonce.length !== NONCE_BYTES) fail(`nonce of ${record.nonce.length} bytes, expected ${NONCE_BYTES}`);
  if (!sealNonce(binding).equals(record.nonce)) fail("the nonce is not this pad's (index, layer)");
  if (record.tag.length !== TAG_BYTES) fail(`tag of ${record.tag.length} bytes, expected ${TAG_BYTES}`);
  const region = alloc(record.ciphertext.length + 16);
  const plain = u8(region, record.ciphertext.length);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, record.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(binding));
    decipher.setAuthTag(record.tag);
    // In pieces: one update() over a whole layer allocates its plaintext at once, and those fresh
    // pages cost twice the decryption itself. Nothing in `plain` is used unless final() accepts the tag.
    let written = 0;
    for (let at = 0; at < record.ciphertext.length; at += OPEN_CHUNK_BYTES) {
      const piece = decipher.update(record.ciphertext.subarray(at, at + OPEN_CHUNK_BYTES)); // GCM returns every byte; final() adds none
      plain.set(piece, written);
      written += piece.length;
    }
    decipher.final(); // throws on a bad tag
  } catch (cause) {
    release(region);
    return fail('the tag does not match (tampered, truncated, reordered, or sealed for another model, store, layer, index or key)', cause);
  }
  if (!packedBelowP(plain)) {
    release(region);
    fail('an authenticated value is not a residue');
  }
  return region;
}
