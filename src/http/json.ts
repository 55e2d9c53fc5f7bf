/**
 * Bounded JSON for request bodies (issue 15, deliverable 7): the container count is checked on the
 * raw bytes before JSON.parse sees them, so a body of a million nested arrays costs one linear scan,
 * not a parse tree.
 */
import { HttpError } from './http-error.js';

/** Counts `{` and `[` outside strings; refuses JSON with more than `maxContainers` of them before JSON.parse sees it (400). */
export function parseJsonBounded(bytes: Buffer, maxContainers: number, what: string): unknown {
  let containers = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++containers > maxContainers) throw new HttpError(400, `${what} has more than ${maxContainers} JSON objects and arrays`);
    }
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpError(400, `${what} is not valid JSON`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short description of a JSON value for an error message (never the value itself when it is large). */
export function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return 'a string';
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}
