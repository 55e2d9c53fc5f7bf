/** Top-k predictions from a model's scores: probability, class index and label when known. */
export interface Prediction {
  readonly index: number;
  readonly label?: string;
  /** The class probability: the model's own when it ends in Softmax (or LogSoftmax), else a softmax of its logits. */
  readonly score: number;
}

/** What the scores are: a final Softmax's probabilities, a LogSoftmax's log-probabilities, or raw logits. */
export type ScoreKind = 'probabilities' | 'log-probabilities' | 'logits';

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export function topK(scores: ArrayLike<number>, k: number, labels?: readonly string[], kind: ScoreKind = 'logits'): Prediction[] {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) max = Math.max(max, scores[i]!);
  let sum = 0;
  if (kind === 'logits') for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i]! - max);
  const probability = (v: number): number => (kind === 'probabilities' ? v : kind === 'log-probabilities' ? Math.exp(v) : Math.exp(v - max) / sum);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, k).map((index) => ({
    index,
    ...(labels?.[index] !== undefined ? { label: labels[index] } : {}),
    score: probability(scores[index]!),
  }));
}

/**
 * One top-k list per batch item, for an output of shape [N, K] (or [K]); undefined for any other
 * shape (a sequence or a feature map is not a class distribution).
 */
export function predictionsPerItem(dims: readonly number[], scores: Float64Array, k: number, labels?: readonly string[], kind: ScoreKind = 'logits'): Prediction[][] | undefined {
  if (dims.length !== 1 && dims.length !== 2) return undefined;
  const [n, classes] = dims.length === 1 ? [1, dims[0]!] : [dims[0]!, dims[1]!];
  return Array.from({ length: n }, (_, i) => topK(scores.subarray(i * classes, (i + 1) * classes), Math.min(k, classes), labels, kind));
}
