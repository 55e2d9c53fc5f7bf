/**
 * Canonical bytes for what the service signs and hashes (issue 15): JSON in the JSON Canonicalization
 * Scheme (JCS, RFC 8785: members sorted by UTF-16 code units, no whitespace, ECMAScript number
 * serialization), via the `json-canonicalize` package, and SHA-256 over it. Only plain JSON values
 * are hashed (strings, finite numbers, booleans, null, arrays, objects); anything else is refused.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from 'json-canonicalize';

/** The JCS text of `value` (TypeError for a value JSON cannot represent). */
export function canonicalJson(value: unknown): string {
  if (!plainJson(value)) throw new TypeError('only plain JSON values (finite numbers, strings, booleans, null, arrays, objects) can be canonicalized');
  return canonicalize(value);
}

function plainJson(v: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => plainJson(x, depth + 1));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v as object).every((x) => plainJson(x, depth + 1));
  return false;
}

export function sha256Hex(...parts: readonly (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

export const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

/** Decodes base64url, refusing anything that does not round-trip (so one value has one encoding). */
export function fromBase64url(text: unknown, what: string, length?: number): Buffer {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError(`${what} must be base64url`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new TypeError(`${what} must be canonical base64url`);
  if (length !== undefined && bytes.length !== length) throw new TypeError(`${what} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}
