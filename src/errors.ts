/**
 * Typed errors (after undici's lib/core/errors.js). Every failure slalom
 * reports has a stable `code` — callers branch on it (`hasErrorCode`), never on `instanceof`, since
 * classes do not survive `postMessage` and two copies of slalom in one process have two classes — and
 * structured fields where they apply: `layer` (where), `argument` and `reason` (a caller's mistake,
 * util/assert.ts), `variant` and `repetition` (a failed check), `padIndex` (a pad), and `cause`. A
 * `Symbol.for` brand makes `isSlalomError` true for errors of any copy of slalom. The CLI maps each
 * code to an exit status and an argument to its flag.
 */

export type SlalomErrorCode =
  | 'SLALOM_ERR_INVALID_ARG'
  | 'SLALOM_ERR_UNSUPPORTED'
  | 'SLALOM_ERR_MALFORMED_MODEL'
  | 'SLALOM_ERR_OVERFLOW'
  | 'SLALOM_ERR_MALFORMED'
  | 'SLALOM_ERR_INTEGRITY'
  | 'SLALOM_ERR_PAD_AUTH'
  | 'SLALOM_ERR_PAD_REUSED'
  | 'SLALOM_ERR_PADS_EXHAUSTED'
  | 'SLALOM_ERR_STATE_ROLLBACK'
  | 'SLALOM_ERR_TRANSPORT'
  | 'SLALOM_ERR_ATTESTATION';

export interface SlalomErrorOptions {
  /** The layer where it happened; the message starts with it. */
  readonly layer?: string;
  readonly cause?: unknown;
  /** The caller's argument at fault, by its name in the library (the CLI maps it to its flag). */
  readonly argument?: string;
  /** Whether that argument had the wrong kind (noble's TypeError) or was out of range (RangeError). */
  readonly reason?: 'type' | 'range';
  /** The Freivalds variant of a failed check. */
  readonly variant?: string;
  /** The failed repetition of a check, from 1. */
  readonly repetition?: number;
  /** The pad concerned. */
  readonly padIndex?: number;
}

/** The brand of every slalom error, shared by all copies of the module (`Symbol.for`). */
const SLALOM_ERROR = Symbol.for('slalom.error');

export class SlalomError extends Error {
  readonly code: SlalomErrorCode;
  readonly layer?: string;
  readonly argument?: string;
  readonly reason?: 'type' | 'range';
  readonly variant?: string;
  readonly repetition?: number;
  readonly padIndex?: number;

  constructor(code: SlalomErrorCode, message: string, options: SlalomErrorOptions = {}) {
    super(options.layer !== undefined ? `${options.layer}: ${message}` : message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    for (const field of ['layer', 'argument', 'reason', 'variant', 'repetition', 'padIndex'] as const) {
      if (options[field] !== undefined) Object.defineProperty(this, field, { value: options[field], enumerable: true });
    }
    Object.defineProperty(this, SLALOM_ERROR, { value: true });
  }
}

/**
 * A caller passed a value of the wrong kind or out of range. With `argument`, the message is
 * `<argument> <requirement>`, e.g. "count must be a positive integer, got 0" (util/assert.ts).
 */
export class InvalidArgumentError extends SlalomError {
  /** The message without the argument's name, when it names one: what the CLI prints after the flag. */
  readonly requirement?: string;

  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_INVALID_ARG', options?.argument !== undefined ? `${options.argument} ${message}` : message, options);
    if (options?.argument !== undefined) this.requirement = message;
  }
}

/** An ONNX op, attribute or data type slalom does not handle. */
export class UnsupportedModelError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_UNSUPPORTED', message, options);
  }
}

/** A model file that cannot be parsed, or whose shapes are impossible. */
export class MalformedModelError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_MALFORMED_MODEL', message, options);
  }
}

/** A layer whose exact computation could exceed 2^53, or a value leaving (−p/2, p/2). */
export class OverflowError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_OVERFLOW', message, options);
  }
}

/** An accelerator reply that fails shape, length, dtype or range validation. */
export class MalformedResponseError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_MALFORMED', message, options);
  }
}

/** A Freivalds check failed: the accelerator's result is wrong. No output is returned. */
export class IntegrityError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_INTEGRITY', message, options);
  }
}

/** A sealed pad failed authentication (tag, associated data, truncation). */
export class PadAuthError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_PAD_AUTH', message, options);
  }
}

/** A pad that was already consumed was asked for again. */
export class PadReuseError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_PAD_REUSED', message, options);
  }
}

/** No precomputed pad is left to consume. */
export class PadsExhaustedError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_PADS_EXHAUSTED', message, options);
  }
}

/** A pad ledger older than its monotonic counter: the trusted state was rolled back (docs/rollback.md). */
export class StateRollbackError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_STATE_ROLLBACK', message, options);
  }
}

/** A timeout, a dead worker, an HTTP failure. */
export class TransportError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_TRANSPORT', message, options);
  }
}

/** An attestation document that fails the client's policy, or a receipt whose signature or contents do not check. */
export class AttestationError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_ATTESTATION', message, options);
  }
}

/** CLI exit status per error code. */
export const EXIT_CODES: Readonly<Record<SlalomErrorCode, number>> = Object.freeze({
  SLALOM_ERR_INVALID_ARG: 2,
  SLALOM_ERR_UNSUPPORTED: 3,
  SLALOM_ERR_MALFORMED_MODEL: 3,
  SLALOM_ERR_OVERFLOW: 3,
  SLALOM_ERR_MALFORMED: 4,
  SLALOM_ERR_INTEGRITY: 4,
  SLALOM_ERR_PAD_AUTH: 5,
  SLALOM_ERR_PAD_REUSED: 5,
  SLALOM_ERR_PADS_EXHAUSTED: 5,
  SLALOM_ERR_STATE_ROLLBACK: 5,
  SLALOM_ERR_TRANSPORT: 6,
  SLALOM_ERR_ATTESTATION: 7,
});

/** True for an error of any copy of slalom (the `Symbol.for` brand and a known code). */
export function isSlalomError(e: unknown): e is SlalomError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[SLALOM_ERROR] === true && Object.hasOwn(EXIT_CODES, (e as { code?: unknown }).code as string);
}

/** True for a slalom error with one of `codes`: how callers tell errors apart. */
export function hasErrorCode<C extends SlalomErrorCode>(e: unknown, ...codes: C[]): e is SlalomError & { readonly code: C } {
  return isSlalomError(e) && (codes as SlalomErrorCode[]).includes(e.code);
}
