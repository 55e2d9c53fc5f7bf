/**
 * A bearer token check (RFC 6750) for what a service restricts to its operators: constant-time, so
 * the time a refusal takes says nothing about how much of a guess was right. Both sides are hashed
 * first, so their lengths do not show either.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Whether `headers` carry `Authorization: Bearer <token>`. */
export function bearerMatches(headers: IncomingHttpHeaders, token: string): boolean {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(headers.authorization ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(token)) && m !== null;
}
