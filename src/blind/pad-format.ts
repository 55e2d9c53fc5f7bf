/**
 * The on-disk form of one pad (all of one inference's sealed unblinding factors), kept in the
 * untrusted pad store:
 *
 *     "SLPAD1\0\0" ‖ u32 records ‖ records…,   record = u32 layer ‖ u32 count ‖ nonce[12] ‖ tag[16] ‖ u32 n ‖ ciphertext[n]
 *
 * (big-endian). Decoding checks structure only; authenticity is GCM's job (seal.ts). Any structural
 * problem is a PadAuthError: a pad that cannot be read is never used.
 */
import { PadAuthError } from '../errors.js';
import type { SealedRecord } from './seal.js';

const MAGIC = Buffer.from('SLPAD1\0\0', 'latin1');

export interface PadRecord extends SealedRecord {
  readonly layer: number;
  readonly count: number;
}

export function encodePad(records: readonly PadRecord[]): Uint8Array {
  const parts: Buffer[] = [MAGIC, u32(records.length)];
  for (const r of records) parts.push(u32(r.layer), u32(r.count), Buffer.from(r.nonce), Buffer.from(r.tag), u32(r.ciphertext.length), Buffer.from(r.ciphertext));
  return Buffer.concat(parts);
}

/** Parses a pad file; `index` only names the pad in errors. */
export function decodePad(bytes: Uint8Array, index: number): PadRecord[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new PadAuthError(`pad ${index} is malformed: ${why}`, { padIndex: index });
  };
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) fail('bad magic (not a slalom pad file, or truncated)');
  const n = buf.readUInt32BE(8);
  let off = 12;
  const records: PadRecord[] = [];
  for (let k = 0; k < n; k++) {
    if (off + 40 > buf.length) fail(`truncated at record ${k}`);
    const layer = buf.readUInt32BE(off);
    const count = buf.readUInt32BE(off + 4);
    const nonce = buf.subarray(off + 8, off + 20);
    const tag = buf.subarray(off + 20, off + 36);
    const len = buf.readUInt32BE(off + 36);
    off += 40;
    if (off + len > buf.length) fail(`record ${k} claims ${len} bytes, ${buf.length - off} remain`);
    records.push({ layer, count, nonce, tag, ciphertext: buf.subarray(off, off + len) });
    off += len;
  }
  if (off !== buf.length) fail(`${buf.length - off} trailing bytes`);
  return records;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
