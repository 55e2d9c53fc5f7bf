/**
 * One sequence's key/value cache (docs/design.md §9): trusted state, like the pad ledger — it has an
 * owner (the sequence), a size per layer (capacity × d keys and as many values, head h in columns
 * h·d/H … (h+1)·d/H) and a position (how many tokens it holds). It lives in the trusted runtime's
 * memory only: nothing in it is ever sent to an accelerator or written to disk, so a sequence's
 * context never leaves, whatever the mode.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { DecoderConfig } from './structure.js';

export class KvCache {
  /** Per layer, [capacity, d] keys and values. */
  readonly keys: readonly Float64Array[];
  readonly values: readonly Float64Array[];
  private held = 0;

  constructor(
    /** Whose context this is (a sequence id), for messages. */
    readonly owner: string,
    readonly config: DecoderConfig,
    /** The most tokens it holds: at most the model's position table. */
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > config.maxPositions) {
      throw new InvalidArgumentError(`a cache of ${capacity} tokens: the model has positions for 1 … ${config.maxPositions}`);
    }
    this.keys = Array.from({ length: config.layers }, () => new Float64Array(capacity * config.d));
    this.values = Array.from({ length: config.layers }, () => new Float64Array(capacity * config.d));
  }

  /** Tokens held: the position the next token takes. */
  get length(): number {
    return this.held;
  }

  /** Room for `tokens` more, or a one-line error naming the owner. */
  reserve(tokens: number): void {
    if (this.held + tokens > this.capacity) {
      throw new InvalidArgumentError(`sequence ${this.owner}: ${this.held} + ${tokens} tokens exceed its context of ${this.capacity} (the model has ${this.config.maxPositions} positions)`);
    }
  }

  /** The step wrote `tokens` more positions. */
  advance(tokens: number): void {
    this.reserve(tokens);
    this.held += tokens;
  }
}
