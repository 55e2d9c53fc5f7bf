/**
 * One sequence's key/value cache (docs/design.md §9): trusted state, like the pad ledger — it has an
 * owner (the sequence), a size per layer and a position (how many tokens it holds). It lives in the
 * trusted runtime's memory only: nothing in it is ever sent to an accelerator or written to disk, so
 * a sequence's context never leaves, whatever the mode.
 *
 * Layout, for the SIMD attention kernel (simd/attention.ts) that reads it in place: per layer, keys
 * and values are float32 regions of the arena, head-major ([heads][capacity][stride], stride = d/H
 * rounded up to 4, the extra lanes zero), so each head's keys are one contiguous run. Float32 halves
 * what a decoding step reads from memory (the whole cache, once per token); the cache holds
 * projections the trusted runtime already treats as floats. Whoever creates a cache disposes of it.
 */
import { InvalidArgumentError } from '../../errors.js';
import { alloc, f32, release, type Region } from '../../simd/arena.js';
import { headStride, type AttentionLayout } from '../../simd/attention.js';
import type { DecoderConfig } from './structure.js';

export class KvCache {
  readonly layout: AttentionLayout;
  private readonly regions: Region[] = [];
  private readonly keys: Float32Array[] = [];
  private readonly values: Float32Array[] = [];
  private held = 0;
  private disposed = false;

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
    this.layout = { heads: config.heads, capacity, stride: headStride(config.headDim) };
    const length = config.heads * capacity * this.layout.stride;
    try {
      for (let l = 0; l < config.layers; l++) {
        const k = alloc(length * 4);
        this.regions.push(k);
        const v = alloc(length * 4);
        this.regions.push(v);
        this.keys.push(f32(k, length));
        this.values.push(f32(v, length));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
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

  /** Stores one token's key and value (d values each, heads side by side) at `position` of `layer`. */
  write(layer: number, position: number, key: Float64Array, value: Float64Array): void {
    const { keys, values } = this.layer(layer);
    const { heads, headDim } = this.config;
    const { capacity, stride } = this.layout;
    if (!Number.isInteger(position) || position < 0 || position >= capacity) throw new Error(`internal: position ${position} is outside sequence ${this.owner}'s cache of ${capacity}`);
    for (let h = 0; h < heads; h++) {
      const to = (h * capacity + position) * stride;
      const from = h * headDim;
      for (let j = 0; j < headDim; j++) {
        keys[to + j] = key[from + j]!;
        values[to + j] = value[from + j]!;
      }
      // The arena's regions are not zeroed: the pad lanes are written here, not assumed.
      for (let j = headDim; j < stride; j++) keys[to + j] = values[to + j] = 0;
    }
  }

  /** A layer's keys and values, [heads][capacity][stride] float32 (resident). */
  layer(layer: number): { readonly keys: Float32Array; readonly values: Float32Array } {
    if (this.disposed) throw new Error(`internal: sequence ${this.owner}'s cache was used after it was disposed`);
    const keys = this.keys[layer];
    const values = this.values[layer];
    if (keys === undefined || values === undefined) throw new Error(`internal: layer ${layer} is outside the cache's ${this.config.layers}`);
    return { keys, values };
  }

  /** Gives the cache's memory back to the arena (idempotent); the cache cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const r of this.regions.splice(0)) release(r);
    this.keys.length = 0;
    this.values.length = 0;
  }
}
