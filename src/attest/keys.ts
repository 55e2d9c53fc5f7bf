/**
 * The trusted service's key pairs (issue 15, deliverable 5): an X25519 key for the HPKE channel
 * (hpke.ts, channel.ts) and an Ed25519 key that signs receipts (receipt.ts). Both are generated
 * inside the trusted runtime when the service starts, from the OS CSPRNG, and live only in its
 * memory: never written, never sent; a restart makes new ones (and a new attestation document).
 *
 * Why per process rather than sealed in the trusted state: a key that exists only in the running
 * TEE's memory is bound to the measurement the attestation report covers for this very boot; a
 * sealed key would outlive the code that made it (a key sealed by one build, unsealed by the next),
 * and a rolled-back copy of sealed state could resurrect a key after it was retired. Clients lose
 * nothing: they check the attestation of the key before every session, and receipts carry the
 * signing key and its key hash, so an auditor verifies an old receipt against the attestation
 * document of the process that issued it.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { base64url, canonicalJson, fromBase64url, sha256Hex } from './canonical.js';
import { AEAD_AES_256_GCM, generateX25519, KDF_HKDF_SHA256, KEM_X25519_HKDF_SHA256, type X25519KeyPair } from './hpke.js';

/** The public half, as published in the attestation document. */
export interface PublicKeys {
  /** HPKE recipient key: RFC 9180 suite ids and the raw X25519 public key. */
  readonly hpke: { readonly kem: number; readonly kdf: number; readonly aead: number; readonly publicKey: string };
  /** Receipt signing key: Ed25519, raw 32-byte public key. */
  readonly signing: { readonly alg: 'Ed25519'; readonly publicKey: string };
}

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** SHA-256 of the canonical public keys: what an attestation report's data binds (attestation.ts). */
export function keyHashOf(keys: PublicKeys): string {
  return sha256Hex(canonicalJson(keys));
}

/** The first 8 bytes of the SHA-256 of an HPKE public key: names the key in a request envelope. */
export function hpkeKeyId(publicKey: Uint8Array): Buffer {
  return Buffer.from(sha256Hex(publicKey).slice(0, 16), 'hex');
}

export class ServiceKeys {
  readonly hpke: X25519KeyPair;
  readonly publicKeys: PublicKeys;
  readonly keyHash: string;
  private readonly signingKey: KeyObject;

  private constructor() {
    this.hpke = generateX25519();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.signingKey = privateKey;
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519.length);
    this.publicKeys = {
      hpke: { kem: KEM_X25519_HKDF_SHA256, kdf: KDF_HKDF_SHA256, aead: AEAD_AES_256_GCM, publicKey: base64url(this.hpke.publicKey) },
      signing: { alg: 'Ed25519', publicKey: base64url(raw) },
    };
    this.keyHash = keyHashOf(this.publicKeys);
  }

  /** Fresh keys for this process. */
  static generate(): ServiceKeys {
    return new ServiceKeys();
  }

  /** An Ed25519 signature (deterministic, RFC 8032) of `message`. */
  sign(message: Uint8Array): Buffer {
    return sign(null, message, this.signingKey);
  }
}

/** Checks an Ed25519 signature by a raw base64url public key; false for any malformed input. */
export function verifyEd25519(publicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, fromBase64url(publicKey, 'the signing key', 32)]), format: 'der', type: 'spki' });
    return verify(null, message, key, fromBase64url(signature, 'the signature', 64));
  } catch {
    return false;
  }
}
