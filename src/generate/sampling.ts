/**
 * The next token from a row of logits: greedy (temperature 0: the largest logit, the lowest id on a
 * tie) or sampled from softmax(logits / temperature), optionally among the top k, with a seeded
 * stream per sequence. The logits are bit-identical in every mode, so with the same seed every mode
 * picks the same tokens.
 */
import { InvalidArgumentError } from '../errors.js';
import { Rng } from '../util/seeded-rng.js';

export interface SamplingOptions {
  /** 0 (default): greedy. */
  readonly temperature?: number;
  /** Sample among the k most likely tokens only (default: all). */
  readonly topK?: number;
}

export function checkSampling(o: SamplingOptions): void {
  const t = o.temperature ?? 0;
  if (!(Number.isFinite(t) && t >= 0)) throw new InvalidArgumentError(`temperature must be a finite number ≥ 0, got ${t}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw new InvalidArgumentError(`top-k must be an integer ≥ 1, got ${o.topK}`);
}

export function nextToken(logits: Float64Array, options: SamplingOptions, rng: Rng): number {
  const temperature = options.temperature ?? 0;
  if (temperature === 0) return argmax(logits);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const candidates = order.slice(0, Math.min(options.topK ?? logits.length, logits.length));
  const top = logits[candidates[0]!]!;
  const weights = candidates.map((i) => Math.exp((logits[i]! - top) / temperature));
  let u = rng.uniform() * weights.reduce((a, b) => a + b, 0);
  for (const [k, w] of weights.entries()) {
    u -= w;
    if (u < 0) return candidates[k]!;
  }
  return candidates.at(-1)!;
}

function argmax(v: Float64Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
