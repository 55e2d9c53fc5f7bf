/**
 * How the trusted service answers a failed inference (issue 15, deliverable 1): a typed error
 * becomes an HTTP status with its `SLALOM_ERR_*` code, never a result. A lying or broken
 * accelerator (IntegrityError, MalformedResponseError) is 502: the request was fine, the upstream
 * was not; an unreachable accelerator or no pad is 503 + Retry-After; an input that overflows the
 * model's quantization is 422; a bad input 400; a tampered pad store 500. What a 422 says is the
 * client's part only: the runtime's own message names how the model was calibrated (a file on this
 * server, the margin), which is the operator's business, not a remote client's.
 */
import { isSlalomError, type SlalomErrorCode } from '../errors.js';
import { HttpError, RETRY_AFTER_S } from '../http/http-error.js';
import type { Outcome } from './metrics.js';

const STATUS: Readonly<Record<SlalomErrorCode, number>> = {
  SLALOM_ERR_INVALID_ARG: 400,
  SLALOM_ERR_UNSUPPORTED: 400,
  SLALOM_ERR_MALFORMED_MODEL: 400,
  SLALOM_ERR_OVERFLOW: 422,
  SLALOM_ERR_MALFORMED: 502,
  SLALOM_ERR_INTEGRITY: 502,
  SLALOM_ERR_PAD_AUTH: 500,
  SLALOM_ERR_PAD_REUSED: 500,
  SLALOM_ERR_PADS_EXHAUSTED: 503,
  SLALOM_ERR_STATE_ROLLBACK: 500,
  SLALOM_ERR_TRANSPORT: 503,
  SLALOM_ERR_ATTESTATION: 500,
};

const OUTCOME: Partial<Record<SlalomErrorCode, Outcome>> = {
  SLALOM_ERR_INVALID_ARG: 'invalid',
  SLALOM_ERR_OVERFLOW: 'overflow',
  SLALOM_ERR_MALFORMED: 'malformed_reply',
  SLALOM_ERR_INTEGRITY: 'integrity',
  SLALOM_ERR_PAD_AUTH: 'pad_auth',
  SLALOM_ERR_PAD_REUSED: 'pad_auth',
  SLALOM_ERR_STATE_ROLLBACK: 'pad_auth',
  SLALOM_ERR_PADS_EXHAUSTED: 'pads_exhausted',
  SLALOM_ERR_TRANSPORT: 'transport',
};

/** The HTTP error for a failure, and the outcome the metrics count it as. */
export function httpErrorOf(e: unknown): { error: HttpError; outcome: Outcome } {
  if (e instanceof HttpError) return { error: e, outcome: e.status === 503 ? 'busy' : e.status < 500 ? 'invalid' : 'error' };
  if (isSlalomError(e)) {
    const status = STATUS[e.code];
    const message = e.code === 'SLALOM_ERR_OVERFLOW' ? overflowMessage(e.layer) : e.message;
    return { error: new HttpError(status, message, status === 503 ? { 'Retry-After': RETRY_AFTER_S } : {}, e.code), outcome: OUTCOME[e.code] ?? 'error' };
  }
  return { error: new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`), outcome: 'error' };
}

function overflowMessage(layer: string | undefined): string {
  const where = layer !== undefined ? ` at layer '${layer.slice(0, 200)}'` : '';
  return `the input overflows the model's quantization${where}: it lies outside the range the model was calibrated for (the operator can calibrate it on inputs like this one)`;
}
