/**
 * The encrypted channel between a client and the trusted service (issue 15, deliverable 5): HPKE
 * base mode (hpke.ts) to the service's attested X25519 key, one request and one response per HPKE
 * context, in the shape of Oblivious HTTP (RFC 9458 §4.3–4.4) with slalom's own labels.
 *
 * Request (Content-Type `application/slalom-hpke-request`):
 *
 *     hdr = "slalom-hpke/1" ‖ 0x00 ‖ kem (2) ‖ kdf (2) ‖ aead (2) ‖ keyId (8) ‖ timestampMs (8, big-endian)
 *     body = hdr ‖ enc (32) ‖ Seal(aad = "slalom request\n" ‖ model name, frame(request))
 *     info = "slalom request v1" ‖ 0x00 ‖ hdr
 *
 * so the header (suite, key, time) is bound into the key schedule and the model name into the AEAD:
 * a ciphertext cannot be moved to another model, key or time. frame(x) = u32 JSON length (big-endian)
 * ‖ JSON ‖ binary tensors (the OIP binary extension, inside the ciphertext).
 *
 * Response (`application/slalom-hpke-response`), under the same context:
 *
 *     secret = Export("slalom response v1", 32); response_nonce = random(32)
 *     prk = Extract(enc ‖ response_nonce, secret); key = Expand(prk, "key", 32); nonce = Expand(prk, "nonce", 12)
 *     body = response_nonce ‖ AES-256-GCM(key, nonce, aad = "", frame(response))
 *
 * Replay: the service refuses a timestamp more than `windowMs` from its clock, and an `enc` it has
 * opened within the window (ReplayGuard); a restart changes the key, so older ciphertexts cannot
 * open at all. Tampering anywhere fails the GCM tag (or the key schedule).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AEAD_AES_256_GCM, hkdf, KDF_HKDF_SHA256, KEM_X25519_HKDF_SHA256, random, setupBaseR, setupBaseS, type HpkeContext, type X25519KeyPair } from './hpke.js';
import { hpkeKeyId } from './keys.js';

export const REQUEST_CONTENT_TYPE = 'application/slalom-hpke-request';
export const RESPONSE_CONTENT_TYPE = 'application/slalom-hpke-response';

const MAGIC = Buffer.from('slalom-hpke/1\0', 'ascii');
const HEADER_BYTES = MAGIC.length + 2 + 2 + 2 + 8 + 8;
const ENC_BYTES = 32;
const RESPONSE_NONCE_BYTES = 32;
const TAG_BYTES = 16;

/** Why an encrypted request was refused: its status and message. */
export class ChannelError extends Error {
  constructor(
    readonly status: 400 | 409 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** An OIP body: JSON header and binary tensors after it. */
export interface FramedMessage {
  readonly json: Buffer;
  readonly binary: Buffer;
}

export function frame(m: FramedMessage): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(m.json.length);
  return Buffer.concat([len, m.json, m.binary]);
}

export function unframe(bytes: Buffer): FramedMessage {
  if (bytes.length < 4) throw new ChannelError(400, 'the decrypted message is too short');
  const n = bytes.readUInt32BE(0);
  if (4 + n > bytes.length) throw new ChannelError(400, 'the decrypted message has a JSON length past its end');
  return { json: bytes.subarray(4, 4 + n), binary: bytes.subarray(4 + n) };
}

const requestAad = (model: string): Buffer => Buffer.from(`slalom request\n${model}`, 'utf8');
const requestInfo = (hdr: Buffer): Buffer => Buffer.concat([Buffer.from('slalom request v1\0', 'ascii'), hdr]);
const RESPONSE_LABEL = Buffer.from('slalom response v1', 'ascii');

function header(keyId: Buffer, timestampMs: number): Buffer {
  const hdr = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(hdr, 0);
  let at = MAGIC.length;
  at = hdr.writeUInt16BE(KEM_X25519_HKDF_SHA256, at);
  at = hdr.writeUInt16BE(KDF_HKDF_SHA256, at);
  at = hdr.writeUInt16BE(AEAD_AES_256_GCM, at);
  at += keyId.copy(hdr, at);
  hdr.writeBigUInt64BE(BigInt(timestampMs), at);
  return hdr;
}

function responseKeys(context: HpkeContext, enc: Buffer, responseNonce: Buffer): { key: Buffer; nonce: Buffer } {
  const secret = context.export(RESPONSE_LABEL, 32);
  const prk = hkdf.extract(Buffer.concat([enc, responseNonce]), secret);
  return { key: hkdf.expand(prk, Buffer.from('key'), 32), nonce: hkdf.expand(prk, Buffer.from('nonce'), 12) };
}

function gcmSeal(key: Buffer, nonce: Buffer, plaintext: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function gcmOpen(key: Buffer, nonce: Buffer, ciphertext: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
  return Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES)), d.final()]);
}

// ---- client side

/** A sealed request and the means to open its response. */
export interface SealedRequest {
  readonly body: Buffer;
  openResponse(body: Buffer): FramedMessage;
}

/** Seals `message` for `model` to the service's HPKE public key (raw, 32 bytes). */
export function sealRequest(servicePublicKey: Uint8Array, model: string, message: FramedMessage, nowMs = Date.now()): SealedRequest {
  const hdr = header(hpkeKeyId(servicePublicKey), nowMs);
  const { enc, context } = setupBaseS(servicePublicKey, requestInfo(hdr));
  const body = Buffer.concat([hdr, enc, context.seal(requestAad(model), frame(message))]);
  return {
    body,
    openResponse(response) {
      if (response.length < RESPONSE_NONCE_BYTES + TAG_BYTES) throw new ChannelError(400, 'the encrypted response is too short');
      const responseNonce = response.subarray(0, RESPONSE_NONCE_BYTES);
      const { key, nonce } = responseKeys(context, enc, responseNonce);
      let plain: Buffer;
      try {
        plain = gcmOpen(key, nonce, response.subarray(RESPONSE_NONCE_BYTES));
      } catch {
        throw new ChannelError(400, 'the encrypted response does not authenticate');
      }
      return unframe(plain);
    },
  };
}

// ---- service side

/** Remembers the `enc` of every request opened within the window; bounded (503 when full, never an early forget). */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    readonly windowMs = 120_000,
    private readonly maxEntries = 1 << 20,
  ) {}

  /** Refuses a stale timestamp (400) or an enc seen before (409); else records it. */
  admit(enc: Buffer, timestampMs: number, nowMs = Date.now()): void {
    if (Math.abs(nowMs - timestampMs) > this.windowMs) throw new ChannelError(400, `the request's timestamp is more than ${this.windowMs / 1000} s from the service's clock (stale, replayed, or a skewed clock)`);
    this.expire(nowMs);
    const id = enc.toString('hex');
    if (this.seen.has(id)) throw new ChannelError(409, 'replayed request: this ciphertext was already received');
    if (this.seen.size >= this.maxEntries) throw new ChannelError(503, 'too many encrypted requests within the replay window; retry later');
    this.seen.set(id, timestampMs + this.windowMs);
  }

  private expire(nowMs: number): void {
    // Insertion order is arrival order; entries expire at timestamp + window, so a stale head may hide a
    // fresh one behind it only within the window's slack, which is forgotten on a later call.
    for (const [id, until] of this.seen) {
      if (until >= nowMs - this.windowMs) break;
      this.seen.delete(id);
    }
  }
}

/** An opened request: its message, and the means to seal the response under the same context. */
export interface OpenedRequest {
  readonly message: FramedMessage;
  sealResponse(message: FramedMessage): Buffer;
}

/**
 * Opens a request for `model` with the service's HPKE key: 400 for a malformed or unauthentic one
 * (another key, suite, model, or any bit changed), 400/409 from the replay guard.
 */
export function openRequest(keys: X25519KeyPair, model: string, body: Buffer, guard: ReplayGuard, nowMs = Date.now()): OpenedRequest {
  if (body.length < HEADER_BYTES + ENC_BYTES + TAG_BYTES + 4) throw new ChannelError(400, 'the encrypted request is too short');
  const hdr = body.subarray(0, HEADER_BYTES);
  if (!hdr.subarray(0, MAGIC.length).equals(MAGIC)) throw new ChannelError(400, 'not a slalom-hpke/1 request');
  let at = MAGIC.length;
  const kem = hdr.readUInt16BE(at);
  const kdf = hdr.readUInt16BE(at + 2);
  const aead = hdr.readUInt16BE(at + 4);
  at += 6;
  if (kem !== KEM_X25519_HKDF_SHA256 || kdf !== KDF_HKDF_SHA256 || aead !== AEAD_AES_256_GCM) throw new ChannelError(400, `unsupported HPKE suite (kem ${kem}, kdf ${kdf}, aead ${aead}); the service speaks 0x0020/0x0001/0x0002`);
  const keyId = hdr.subarray(at, at + 8);
  if (!keyId.equals(hpkeKeyId(keys.publicKey))) throw new ChannelError(400, "the request is encrypted to another key (the service restarted? fetch its attestation again)");
  const timestampMs = Number(hdr.readBigUInt64BE(at + 8));
  const enc = Buffer.from(body.subarray(HEADER_BYTES, HEADER_BYTES + ENC_BYTES));
  let context: HpkeContext;
  let plain: Buffer;
  try {
    context = setupBaseR(enc, keys, requestInfo(Buffer.from(hdr)));
    plain = context.open(requestAad(model), body.subarray(HEADER_BYTES + ENC_BYTES));
  } catch {
    throw new ChannelError(400, 'the encrypted request does not authenticate (tampered, or sealed for another model or key)');
  }
  // Only an authentic request is recorded: a forged one cannot fill the guard with others' encs.
  guard.admit(enc, timestampMs, nowMs);
  const message = unframe(plain);
  return {
    message,
    sealResponse(response) {
      const responseNonce = random(RESPONSE_NONCE_BYTES);
      const { key, nonce } = responseKeys(context, enc, responseNonce);
      return Buffer.concat([responseNonce, gcmSeal(key, nonce, frame(response))]);
    },
  };
}
