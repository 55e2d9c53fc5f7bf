/**
 * Checks of a caller's arguments, after noble's utils.ts (`anumber`, `abytes`): each returns the
 * checked value and names the argument, so a body after its checks assumes valid input. A wrong kind
 * is reason 'type' (noble's TypeError), a value out of range reason 'range' (RangeError); both are an
 * InvalidArgumentError (SLALOM_ERR_INVALID_ARG) carrying `argument`, which the CLI maps to its flag
 * (`count` → `--count`). Names are the library's (option fields, parameters), never CLI flags.
 * Untrusted data (accelerator replies, pad files) is the gate's business (boundary/), not this.
 */
import { InvalidArgumentError } from '../errors.js';

const fail = (argument: string, reason: 'type' | 'range', requirement: string, got: unknown): never => {
  throw new InvalidArgumentError(`${requirement}, got ${describe(got)}`, { argument, reason });
};

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as Uint8Array).length})`;
  return String(v);
}

export interface IntRange {
  readonly min?: number;
  readonly max?: number;
}

/** `value` if it is a safe integer in [min, max] (defaults: any safe integer). */
export function aInt(value: unknown, argument: string, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER }: IntRange = {}): number {
  const what = min === 1 && max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : min === 0 && max === Number.MAX_SAFE_INTEGER ? 'a non-negative integer' : max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return fail(argument, 'type', `must be ${what}`, value);
  if (value < min || value > max) return fail(argument, 'range', `must be ${what}`, value);
  return value;
}

/** `value` if it is a finite number, > 0 when `positive`. */
export function aNumber(value: unknown, argument: string, { positive = false }: { readonly positive?: boolean } = {}): number {
  const what = positive ? 'a positive number' : 'a finite number';
  if (typeof value !== 'number' || Number.isNaN(value)) return fail(argument, 'type', `must be ${what}`, value);
  if (!Number.isFinite(value) || (positive && !(value > 0))) return fail(argument, 'range', `must be ${what}`, value);
  return value;
}

/** `value` if it is one of `choices`. */
export function aOneOf<T extends string>(value: unknown, argument: string, choices: readonly T[]): T {
  if (typeof value !== 'string') return fail(argument, 'type', `must be one of ${choices.join(', ')}`, value);
  if (!(choices as readonly string[]).includes(value)) return fail(argument, 'range', `must be one of ${choices.join(', ')}`, value);
  return value as T;
}

/** `dims` if it is an array of non-negative safe integers, of rank `rank` when given. */
export function aShape(dims: unknown, argument: string, rank?: number): readonly number[] {
  const what = rank === undefined ? 'a shape (non-negative integers)' : `a ${rank}-D shape (non-negative integers)`;
  if (!Array.isArray(dims) || !dims.every((d) => typeof d === 'number' && Number.isSafeInteger(d))) return fail(argument, 'type', `must be ${what}`, dims);
  if ((rank !== undefined && dims.length !== rank) || dims.some((d: number) => d < 0)) return fail(argument, 'range', `must be ${what}`, dims);
  return dims as readonly number[];
}

/** `value` if it is a Uint8Array, of `length` bytes when given. */
export function aBytes(value: unknown, argument: string, length?: number): Uint8Array {
  const what = length === undefined ? 'bytes (a Uint8Array)' : `${length} bytes (a Uint8Array)`;
  if (!(value instanceof Uint8Array)) return fail(argument, 'type', `must be ${what}`, value);
  if (length !== undefined && value.length !== length) return fail(argument, 'range', `must be ${what}`, value);
  return value;
}
