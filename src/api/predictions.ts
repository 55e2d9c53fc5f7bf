/** Top-k predictions from logits: softmax scores, class index and label when known. */
export interface Prediction {
  readonly index: number;
  readonly label?: string;
  readonly score: number;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export function topK(logits: ArrayLike<number>, k: number, labels?: readonly string[]): Prediction[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  return order.slice(0, k).map((index) => ({
    index,
    ...(labels?.[index] !== undefined ? { label: labels[index] } : {}),
    score: Math.exp(logits[index]! - max) / sum,
  }));
}
