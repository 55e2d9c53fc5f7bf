/**
 * Typed errors. Every failure slalom reports has a stable `code` (callers branch on it, since classes
 * do not survive `postMessage`), an optional `layer` naming where it happened and an optional
 * `cause`. The CLI maps each code to an exit status (see STYLE.md, "Errors carry a code").
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
  | 'SLALOM_ERR_TRANSPORT'
  | 'SLALOM_ERR_ATTESTATION';

export interface SlalomErrorOptions {
  layer?: string;
  cause?: unknown;
}

export class SlalomError extends Error {
  readonly code: SlalomErrorCode;
  readonly layer?: string;

  constructor(code: SlalomErrorCode, message: string, options: SlalomErrorOptions = {}) {
    super(options.layer !== undefined ? `${options.layer}: ${message}` : message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.layer !== undefined) this.layer = options.layer;
  }
}

/** A caller passed a value of the wrong kind or out of range. */
export class InvalidArgumentError extends SlalomError {
  constructor(message: string, options?: SlalomErrorOptions) {
    super('SLALOM_ERR_INVALID_ARG', message, options);
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
  SLALOM_ERR_TRANSPORT: 6,
  SLALOM_ERR_ATTESTATION: 7,
});

export function isSlalomError(e: unknown): e is SlalomError {
  return e instanceof SlalomError;
}
