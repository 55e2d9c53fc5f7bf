/**
 * HPKE, RFC 9180, base mode (mode_base = 0x00) with DHKEM(X25519, HKDF-SHA256) (kem 0x0020),
 * HKDF-SHA256 (kdf 0x0001) and AES-256-GCM (aead 0x0002; AES-128-GCM, 0x0001, is here only to replay
 * the RFC's Appendix A.1 vectors). Built on node:crypto's X25519, HMAC-SHA256 and AES-GCM; the
 * labelled HKDF steps and the key schedule are written out because node's hkdf() fuses Extract and
 * Expand, which HPKE uses apart. Tested against RFC 9180 A.1 and the CFRG test vector for this very
 * suite (test/attest/hpke.test.ts).
 *
 * A context seals or opens messages in order: nonce = base_nonce XOR I2OSP(seq, 12), seq counting up
 * from 0 and never wrapping, so one (key, nonce) pair is never used twice by one context; every
 * context's key is fresh, derived from a fresh ephemeral X25519 key (SetupBaseS) — see the README's
 * "Keys and nonces" table for how the service uses it (one message each way per context).
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

export const KEM_X25519_HKDF_SHA256 = 0x0020;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES_128_GCM = 0x0001;
export const AEAD_AES_256_GCM = 0x0002;
export type AeadId = typeof AEAD_AES_128_GCM | typeof AEAD_AES_256_GCM;

const N_H = 32; // SHA-256 output
const N_SECRET = 32;
const N_PK = 32;
const N_N = 12;
const N_T = 16;
const MODE_BASE = 0x00;

const i2osp = (value: number, length: number): Buffer => {
  const out = Buffer.alloc(length);
  for (let i = length - 1, v = value; i >= 0 && v > 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
};
const concat = (...parts: Uint8Array[]): Buffer => Buffer.concat(parts);
const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');

const KEM_SUITE = concat(ascii('KEM'), i2osp(KEM_X25519_HKDF_SHA256, 2));
const hpkeSuite = (aead: AeadId): Buffer => concat(ascii('HPKE'), i2osp(KEM_X25519_HKDF_SHA256, 2), i2osp(KDF_HKDF_SHA256, 2), i2osp(aead, 2));

/** HKDF-Extract (RFC 5869 §2.2): HMAC-SHA256 keyed by the salt (HashLen zeros when empty). */
function extract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  return createHmac('sha256', salt.length === 0 ? Buffer.alloc(N_H) : salt).update(ikm).digest();
}

/** HKDF-Expand (RFC 5869 §2.3). */
function expand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (length > 255 * N_H) throw new RangeError('HKDF-Expand: length too large');
  const blocks: Buffer[] = [];
  let t: Buffer = Buffer.alloc(0);
  for (let i = 1; blocks.length * N_H < length; i++) {
    t = createHmac('sha256', prk).update(concat(t, info, Uint8Array.of(i))).digest();
    blocks.push(t);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return extract(salt, concat(ascii('HPKE-v1'), suite, ascii(label), ikm));
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Buffer {
  return expand(prk, concat(i2osp(length, 2), ascii('HPKE-v1'), suite, ascii(label), info), length);
}

/** An X25519 key pair as raw 32-byte strings (RFC 7748 encoding, as HPKE serializes them). */
export interface X25519KeyPair {
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
}

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

const privateKeyObject = (sk: Uint8Array): KeyObject => createPrivateKey({ key: concat(PKCS8_X25519, sk), format: 'der', type: 'pkcs8' });
const publicKeyObject = (pk: Uint8Array): KeyObject => {
  if (pk.length !== N_PK) throw new RangeError(`an X25519 public key has ${N_PK} bytes, got ${pk.length}`);
  return createPublicKey({ key: concat(SPKI_X25519, pk), format: 'der', type: 'spki' });
};
const rawPublicKey = (sk: Uint8Array): Buffer => createPublicKey(privateKeyObject(sk)).export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);

/** A fresh key pair from the OS CSPRNG. */
export function generateX25519(): X25519KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const sk = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519.length);
  return { privateKey: Buffer.from(sk), publicKey: rawPublicKey(sk) };
}

/** DeriveKeyPair (RFC 9180 §7.1.3) for X25519: deterministic, for test vectors. */
export function deriveX25519(ikm: Uint8Array): X25519KeyPair {
  const sk = labeledExpand(KEM_SUITE, labeledExtract(KEM_SUITE, Buffer.alloc(0), 'dkp_prk', ikm), 'sk', Buffer.alloc(0), N_SECRET);
  return { privateKey: sk, publicKey: rawPublicKey(sk) };
}

function dh(sk: Uint8Array, pk: Uint8Array): Buffer {
  let z: Buffer;
  try {
    z = diffieHellman({ privateKey: privateKeyObject(sk), publicKey: publicKeyObject(pk) });
  } catch (e) {
    // OpenSSL refuses a small-order point itself.
    throw new RangeError(`X25519 key agreement failed (a small-order or invalid public key): ${(e as Error).message}`);
  }
  // RFC 9180 §7.1.4: an all-zero X25519 output (a small-order public key) must abort.
  if (z.every((b) => b === 0)) throw new RangeError('X25519 produced the all-zero shared secret (a small-order public key)');
  return z;
}

function extractAndExpand(dhValue: Uint8Array, kemContext: Uint8Array): Buffer {
  const prk = labeledExtract(KEM_SUITE, Buffer.alloc(0), 'eae_prk', dhValue);
  return labeledExpand(KEM_SUITE, prk, 'shared_secret', kemContext, N_SECRET);
}

/** One direction of an HPKE context: the sender seals, the recipient opens; both may export. */
export class HpkeContext {
  private seq = 0;

  constructor(
    private readonly aead: AeadId,
    readonly key: Buffer,
    readonly baseNonce: Buffer,
    private readonly exporterSecret: Buffer,
  ) {}

  private nonce(): Buffer {
    if (!Number.isSafeInteger(this.seq + 1)) throw new RangeError('HPKE message limit reached');
    const n = Buffer.from(this.baseNonce);
    const s = i2osp(this.seq, N_N);
    for (let i = 0; i < N_N; i++) n[i]! ^= s[i]!;
    return n;
  }

  private cipher(): 'aes-128-gcm' | 'aes-256-gcm' {
    return this.aead === AEAD_AES_128_GCM ? 'aes-128-gcm' : 'aes-256-gcm';
  }

  /** AEAD-seals the next message: ciphertext ‖ 16-byte tag. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Buffer {
    const c = createCipheriv(this.cipher(), this.key, this.nonce());
    c.setAAD(aad);
    const out = concat(c.update(plaintext), c.final(), c.getAuthTag());
    this.seq++;
    return out;
  }

  /** Opens the next message; throws (and keeps seq) when the tag does not verify. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (ciphertext.length < N_T) throw new RangeError('HPKE ciphertext shorter than its tag');
    const d = createDecipheriv(this.cipher(), this.key, this.nonce());
    d.setAAD(aad);
    d.setAuthTag(ciphertext.subarray(ciphertext.length - N_T));
    const out = concat(d.update(ciphertext.subarray(0, ciphertext.length - N_T)), d.final());
    this.seq++;
    return out;
  }

  /** The secret export interface (RFC 9180 §5.3). */
  export(exporterContext: Uint8Array, length: number): Buffer {
    return labeledExpand(hpkeSuite(this.aead), this.exporterSecret, 'sec', exporterContext, length);
  }
}

function keySchedule(aead: AeadId, sharedSecret: Uint8Array, info: Uint8Array): HpkeContext {
  const suite = hpkeSuite(aead);
  const pskIdHash = labeledExtract(suite, Buffer.alloc(0), 'psk_id_hash', Buffer.alloc(0));
  const infoHash = labeledExtract(suite, Buffer.alloc(0), 'info_hash', info);
  const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = labeledExtract(suite, sharedSecret, 'secret', Buffer.alloc(0));
  const nk = aead === AEAD_AES_128_GCM ? 16 : 32;
  return new HpkeContext(aead, labeledExpand(suite, secret, 'key', context, nk), labeledExpand(suite, secret, 'base_nonce', context, N_N), labeledExpand(suite, secret, 'exp', context, N_H));
}

/**
 * SetupBaseS: encapsulates to `pkR` with a fresh ephemeral key (or the one `ikmE` derives, for test
 * vectors only) and returns `enc` with the sender's context.
 */
export function setupBaseS(pkR: Uint8Array, info: Uint8Array, aead: AeadId = AEAD_AES_256_GCM, ikmE?: Uint8Array): { enc: Buffer; context: HpkeContext; sharedSecret: Buffer } {
  const e = ikmE === undefined ? generateX25519() : deriveX25519(ikmE);
  const sharedSecret = extractAndExpand(dh(e.privateKey, pkR), concat(e.publicKey, pkR));
  return { enc: e.publicKey, context: keySchedule(aead, sharedSecret, info), sharedSecret };
}

/** SetupBaseR: decapsulates `enc` with the recipient's key pair and returns its context. */
export function setupBaseR(enc: Uint8Array, recipient: X25519KeyPair, info: Uint8Array, aead: AeadId = AEAD_AES_256_GCM): HpkeContext {
  const sharedSecret = extractAndExpand(dh(recipient.privateKey, enc), concat(enc, recipient.publicKey));
  return keySchedule(aead, sharedSecret, info);
}

/** RFC 5869 Extract and Expand, for the response keys derived from an exported secret (channel.ts). */
export const hkdf = { extract, expand };

/** A random string of `n` bytes from the OS CSPRNG. */
export const random = (n: number): Buffer => randomBytes(n);
