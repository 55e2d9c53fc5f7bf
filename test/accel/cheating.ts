/**
 * Test helper: a lying accelerator. CheatingBackend wraps an honest backend (normally LocalBackend),
 * lets it compute, then tampers with its reply according to a named strategy before handing it to
 * the trusted runtime — the adversary of docs/design.md §1 and §3. Two families:
 *
 * - wrong values that are still well-formed residues in [0, p): only Freivalds' check can catch them
 *   (IntegrityError);
 * - protocol lies (wrong ids, shape, dtype, non-residues): the trust boundary must catch them
 *   (MalformedResponseError) — some of them, like v + p or v − p, are even congruent to the right
 *   answer mod p and would pass the arithmetic check.
 *
 * A strategy may not apply to a particular reply (swapping batch items of a batch of one, zeroing a
 * channel that is already zero); the backend then passes the honest reply through and records why in
 * `skipped`. Every reply it did change is recorded in `tampered`. Test code only: it looks inside
 * replies with revealForValidation.
 */
import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from '../../src/accel/backend.js';
import { revealForValidation, untrusted, type Untrusted } from '../../src/boundary/untrusted.js';
import { P } from '../../src/field/prime.js';
import { Rng } from '../../src/util/seeded-rng.js';

export type WrongValueStrategy =
  | 'off-by-one'
  | 'off-by-p-minus-one'
  | 'plus-minus-delta'
  | 'zero-channel'
  | 'scale-by-2'
  | 'noise-1pct'
  | 'replay'
  | 'other-layer'
  | 'swap-batch'
  | 'bias-added';

export type MalformedStrategy =
  | 'plus-p'
  | 'negative'
  | 'wrong-request-id'
  | 'wrong-layer-id'
  | 'wrong-dims'
  | 'float32'
  | 'nan'
  | 'infinity'
  | 'fractional'
  | 'truncated'
  | 'fp64-plus-p'
  | 'plain-array'
  | 'null-reply';

export type Strategy = WrongValueStrategy | MalformedStrategy;

export interface StrategyInfo {
  readonly name: Strategy;
  /** 'wrong-value': in-range residues, caught by Freivalds; 'malformed': caught by the boundary. */
  readonly kind: 'wrong-value' | 'malformed';
  readonly description: string;
}

export const STRATEGIES: readonly StrategyInfo[] = [
  { name: 'off-by-one', kind: 'wrong-value', description: 'one element + 1 (mod p)' },
  { name: 'off-by-p-minus-one', kind: 'wrong-value', description: 'one element + (p − 1) mod p, i.e. − 1: stays in range, wrong by p − 1' },
  { name: 'plus-minus-delta', kind: 'wrong-value', description: '+δ and −δ on two channels of one output pixel (conv) / row (gemm): invisible to an all-ones vector' },
  { name: 'zero-channel', kind: 'wrong-value', description: 'one whole output channel (conv) / column (gemm) zeroed' },
  { name: 'scale-by-2', kind: 'wrong-value', description: 'the whole output doubled mod p' },
  { name: 'noise-1pct', kind: 'wrong-value', description: 'random nonzero noise on 1 % of the elements (at least one)' },
  { name: 'replay', kind: 'wrong-value', description: "this layer's result for another input (the previous one, or a random one)" },
  { name: 'other-layer', kind: 'wrong-value', description: "another layer's result of the same shape (random residues if none)" },
  { name: 'swap-batch', kind: 'wrong-value', description: 'batch items 0 and 1 swapped' },
  { name: 'bias-added', kind: 'wrong-value', description: 'a constant added per output channel (a bias where none belongs)' },
  { name: 'plus-p', kind: 'malformed', description: 'one element + p: congruent, but not a residue in [0, p)' },
  { name: 'negative', kind: 'malformed', description: 'one element − p: congruent, but negative' },
  { name: 'wrong-request-id', kind: 'malformed', description: 'the reply claims another request' },
  { name: 'wrong-layer-id', kind: 'malformed', description: 'the reply claims another layer' },
  { name: 'wrong-dims', kind: 'malformed', description: 'the reply claims another shape of the same size' },
  { name: 'float32', kind: 'malformed', description: 'the right values in a Float32Array' },
  { name: 'nan', kind: 'malformed', description: 'one element NaN' },
  { name: 'infinity', kind: 'malformed', description: 'one element +Infinity' },
  { name: 'fractional', kind: 'malformed', description: 'one element + 0.5' },
  { name: 'truncated', kind: 'malformed', description: 'the last element missing' },
  { name: 'fp64-plus-p', kind: 'malformed', description: 'one element + p in an FP64 reply (the wire of a service speaking FP64)' },
  { name: 'plain-array', kind: 'malformed', description: 'the right values in a plain Array' },
  { name: 'null-reply', kind: 'malformed', description: 'null instead of a reply' },
];

export interface CheatingOptions {
  /** Ids of the layers to tamper with; default every layer. */
  readonly layers?: readonly number[];
  /** Seed for the cheater's choices (positions, noise); default 1. */
  readonly seed?: number;
}

export interface Tampering {
  readonly requestId: string;
  readonly layerId: number;
  readonly layerName: string;
  readonly strategy: Strategy;
}

interface Cached {
  readonly x: Uint32Array;
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

type Values = ArrayLike<number> & { readonly length: number };
const sameDims = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const sameData = (a: Values, b: Values): boolean => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);

/**
 * Forged values as an accelerator would send them: a Uint32Array while every value fits one (an
 * out-of-range residue such as v + p, or v − p wrapped to 2^32 + v − p, as a u32 wire carries it), a
 * Float64Array otherwise (NaN, ±∞, fractions: what the FP64 wire can carry).
 */
function asWire(y: Float64Array): Uint32Array | Float64Array {
  return y.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32) ? Uint32Array.from(y) : y;
}

export class CheatingBackend implements AcceleratorBackend {
  readonly name: string;
  /** Replies this backend changed, in order. */
  readonly tampered: Tampering[] = [];
  /** Targeted replies the strategy could not change, and why. */
  readonly skipped: { readonly layerId: number; readonly why: string }[] = [];
  /** Every request seen, in order (layer ids). */
  readonly requests: number[] = [];
  /** While false, every reply passes through honestly (replies are still cached). */
  enabled = true;
  private readonly rng: Rng;
  private readonly targets: ReadonlySet<number> | undefined;
  private readonly layerNames = new Map<number, string>();
  /** The last honest reply per layer. */
  private readonly cache = new Map<number, Cached>();

  constructor(
    private readonly inner: AcceleratorBackend,
    readonly strategy: Strategy,
    options: CheatingOptions = {},
  ) {
    this.name = `cheating(${strategy}) over ${inner.name}`;
    this.rng = new Rng(options.seed ?? 1);
    this.targets = options.layers === undefined ? undefined : new Set(options.layers);
  }

  async loadWeights(layers: readonly PublicLayer[]): Promise<void> {
    for (const l of layers) this.layerNames.set(l.id, l.name);
    await this.inner.loadWeights(layers);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  async linear(request: LinearRequest): Promise<Untrusted<LinearReply>> {
    this.requests.push(request.layerId);
    const reply = await this.inner.linear(request);
    const honest = revealForValidation(reply) as LinearReply;
    const previous = this.cache.get(request.layerId);
    this.cache.set(request.layerId, { x: request.x.slice(), dims: [...honest.dims], data: Float64Array.from(honest.data) });
    if (!this.enabled || (this.targets !== undefined && !this.targets.has(request.layerId))) return reply;

    const forged = await this.forge(request, honest, previous);
    if (typeof forged === 'string') {
      this.skipped.push({ layerId: request.layerId, why: forged });
      return reply;
    }
    this.tampered.push({ requestId: request.requestId, layerId: request.layerId, layerName: this.layerNames.get(request.layerId) ?? `#${request.layerId}`, strategy: this.strategy });
    return untrusted(forged as LinearReply);
  }

  private index(n: number): number {
    return (this.rng.nextI32() >>> 0) % n;
  }

  private nonzero(): number {
    return 1 + ((this.rng.nextI32() >>> 0) % (P - 1));
  }

  /** The forged reply, or why the strategy does not apply to this one. */
  private async forge(request: LinearRequest, honest: LinearReply, previous: Cached | undefined): Promise<unknown> {
    const dims = honest.dims;
    const y = Float64Array.from(honest.data);
    const n = y.length;
    // Conv [N, M, OH, OW]; Gemm [B, N]: the channel axis is 1 either way.
    const items = dims[0]!;
    const channels = dims[1]!;
    const pixels = n / (items * channels);
    const base = { requestId: honest.requestId, layerId: honest.layerId, dims: [...dims] };
    const withData = (data: unknown): unknown => ({ ...base, data: data instanceof Float64Array ? asWire(data) : data });
    /** A reply with changed values, if they did change. */
    const changed = (data: Float64Array, why: string): unknown => (sameData(data, honest.data) ? why : withData(data));
    if (n === 0) return 'empty output';

    switch (this.strategy) {
      case 'off-by-one': {
        const i = this.index(n);
        y[i] = (y[i]! + 1) % P;
        return withData(y);
      }
      case 'off-by-p-minus-one': {
        const i = this.index(n);
        y[i] = (y[i]! + P - 1) % P;
        return withData(y);
      }
      case 'plus-minus-delta': {
        if (channels < 2) return 'fewer than two channels';
        const item = this.index(items);
        const o = this.index(pixels);
        const a = this.index(channels);
        const b = (a + 1 + this.index(channels - 1)) % channels;
        const delta = this.nonzero();
        const at = (c: number): number => (item * channels + c) * pixels + o;
        y[at(a)] = (y[at(a)]! + delta) % P;
        y[at(b)] = (y[at(b)]! + P - delta) % P;
        return withData(y);
      }
      case 'zero-channel': {
        const nonzero: number[] = [];
        for (let c = 0; c < channels; c++) {
          let any = false;
          for (let it = 0; it < items && !any; it++) for (let o = 0; o < pixels && !any; o++) any = y[(it * channels + c) * pixels + o] !== 0;
          if (any) nonzero.push(c);
        }
        if (nonzero.length === 0) return 'every channel is already zero';
        const c = nonzero[this.index(nonzero.length)]!;
        for (let it = 0; it < items; it++) y.fill(0, (it * channels + c) * pixels, (it * channels + c + 1) * pixels);
        return withData(y);
      }
      case 'scale-by-2': {
        for (let i = 0; i < n; i++) y[i] = (2 * y[i]!) % P;
        return changed(y, 'the output is all zeros');
      }
      case 'noise-1pct': {
        const count = Math.max(1, Math.round(n / 100));
        const picked = new Set<number>();
        while (picked.size < count) picked.add(this.index(n));
        for (const i of picked) y[i] = (y[i]! + this.nonzero()) % P;
        return withData(y);
      }
      case 'replay': {
        if (previous !== undefined && sameDims(previous.dims, dims) && !sameData(previous.x, request.x)) {
          return changed(previous.data, 'the previous input gives the same result');
        }
        // Nothing to replay yet: the result for a random input of the same shape.
        const other = request.x.map(() => this.index(P));
        const r = revealForValidation(await this.inner.linear({ ...request, x: other })) as LinearReply;
        return changed(Float64Array.from(r.data), 'a random input gives the same result');
      }
      case 'other-layer': {
        for (const [id, c] of this.cache) {
          if (id !== request.layerId && sameDims(c.dims, dims) && !sameData(c.data, honest.data)) return withData(c.data.slice());
        }
        return changed(
          y.map(() => this.index(P)),
          'random residues equal the result',
        );
      }
      case 'swap-batch': {
        if (items < 2) return 'batch of one';
        const per = n / items;
        const a = y.slice(0, per);
        y.copyWithin(0, per, 2 * per);
        y.set(a, per);
        return changed(y, 'items 0 and 1 have the same result');
      }
      case 'bias-added': {
        for (let c = 0; c < channels; c++) {
          const b = 1 + ((c * 7919) % 1000);
          for (let it = 0; it < items; it++) for (let o = 0; o < pixels; o++) y[(it * channels + c) * pixels + o] = (y[(it * channels + c) * pixels + o]! + b) % P;
        }
        return withData(y);
      }
      case 'plus-p': {
        const i = this.index(n);
        y[i] = y[i]! + P;
        return withData(y);
      }
      case 'negative': {
        const i = this.index(n);
        y[i] = y[i]! - P;
        return withData(y);
      }
      case 'wrong-request-id':
        // The id of this runtime's next request: right prefix, wrong counter.
        return { ...base, requestId: honest.requestId.replace(/\d+$/, (n) => String(Number(n) + 1)), data: asWire(y) };
      case 'wrong-layer-id':
        return { ...base, layerId: honest.layerId + 1, data: asWire(y) };
      case 'wrong-dims': {
        const swapped = [dims[1]!, dims[0]!, ...dims.slice(2)];
        return { ...base, dims: sameDims(swapped, dims) ? [n] : swapped, data: asWire(y) };
      }
      case 'float32':
        return withData(Float32Array.from(y));
      case 'nan':
        y[this.index(n)] = Number.NaN;
        return withData(y);
      case 'infinity':
        y[this.index(n)] = Number.POSITIVE_INFINITY;
        return withData(y);
      case 'fractional': {
        const i = this.index(n);
        y[i] = y[i]! + 0.5;
        return withData(y);
      }
      case 'truncated':
        return withData(y.slice(0, n - 1));
      case 'fp64-plus-p': {
        // The FP64 wire (a service speaking it): the same out-of-range residue as a double.
        const i = this.index(n);
        y[i] = y[i]! + P;
        return { ...base, data: y };
      }
      case 'plain-array':
        return withData(Array.from(y));
      case 'null-reply':
        return null;
    }
  }
}
