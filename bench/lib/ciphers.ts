/**
 * The pad ciphers against their standard alternatives (issue 12, deliverable 4), through node:crypto
 * (OpenSSL, which uses AES-NI / VAES where the CPU has them): the keystream of r (AES-256-CTR, as
 * blind/keystream.ts makes it: zeros encrypted in 64 KiB pieces) against ChaCha20, and the unsealing
 * of u (AES-256-GCM decryption with its tag checked, as blind/seal.ts opens a record) against
 * ChaCha20-Poly1305 (RFC 8439), each over TOTAL_BYTES in pieces of 64 KiB and of 4 MiB, best of REPS.
 */
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';

const TOTAL_BYTES = 64 * 2 ** 20;
const REPS = 3;
const PIECES = [65_536 - (65_536 % 12), 4 * 2 ** 20] as const;

export interface CipherSpeed {
  /** OpenSSL's name. */
  readonly cipher: string;
  /** What slalom uses it for, or the alternative it was measured against. */
  readonly role: string;
  readonly pieceBytes: number;
  readonly bytesPerS: number;
}

type Aead = CipherGCMTypes | 'chacha20-poly1305';

/** Seconds to run `pass` once over TOTAL_BYTES, best of REPS. */
function best(pass: () => void): number {
  let s = Infinity;
  for (let k = 0; k < REPS; k++) {
    const t0 = performance.now();
    pass();
    s = Math.min(s, (performance.now() - t0) / 1000);
  }
  return s;
}

function streamPass(cipher: 'aes-256-ctr' | 'chacha20', piece: number): () => void {
  const key = randomBytes(32);
  const zeros = new Uint8Array(piece);
  return () => {
    const c = createCipheriv(cipher, key, randomBytes(16));
    for (let done = 0; done < TOTAL_BYTES; done += piece) c.update(zeros);
    c.final();
  };
}

function aeadOpenPass(cipher: Aead, piece: number): () => void {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const plain = randomBytes(piece);
  const sealer = createCipheriv(cipher as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
  const sealed = Buffer.concat([sealer.update(plain), sealer.final()]);
  const tag = sealer.getAuthTag();
  return () => {
    for (let done = 0; done < TOTAL_BYTES; done += piece) {
      const d = createDecipheriv(cipher as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAuthTag(tag);
      d.update(sealed);
      d.final(); // throws unless the tag matches
    }
  };
}

export function measureCiphers(): CipherSpeed[] {
  const out: CipherSpeed[] = [];
  for (const piece of PIECES) {
    out.push({ cipher: 'aes-256-ctr', role: 'keystream of r (used)', pieceBytes: piece, bytesPerS: TOTAL_BYTES / best(streamPass('aes-256-ctr', piece)) });
    out.push({ cipher: 'chacha20', role: 'keystream (alternative)', pieceBytes: piece, bytesPerS: TOTAL_BYTES / best(streamPass('chacha20', piece)) });
    out.push({ cipher: 'aes-256-gcm', role: 'opening sealed u (used)', pieceBytes: piece, bytesPerS: TOTAL_BYTES / best(aeadOpenPass('aes-256-gcm', piece)) });
    out.push({ cipher: 'chacha20-poly1305', role: 'opening (alternative)', pieceBytes: piece, bytesPerS: TOTAL_BYTES / best(aeadOpenPass('chacha20-poly1305', piece)) });
  }
  return out;
}
