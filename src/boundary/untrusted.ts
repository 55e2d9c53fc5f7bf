/**
 * The brand on everything that crosses into the trusted runtime from outside it (docs/design.md §1): an
 * accelerator's reply, a pad store's bytes. An Untrusted<T> cannot be used as a T; only
 * boundary/accept.ts looks inside (test/architecture.test.ts keeps it that way), after validating.
 */
declare const untrustedBrand: unique symbol;

export interface Untrusted<T> {
  readonly [untrustedBrand]: T;
}

/** Marks a value that came from outside the trusted runtime. */
export function untrusted<T>(value: T): Untrusted<T> {
  return value as unknown as Untrusted<T>;
}

/** For accept.ts only: the raw value, to be validated before any use. */
export function revealForValidation<T>(value: Untrusted<T>): unknown {
  return value;
}
