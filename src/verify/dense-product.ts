/**
 * Freivalds' check of a claimed dense product C = A·B over Z_p (docs/design.md §3), shared by verified
 * training's products and the offloaded attention products: s uniform in Z_p^cols from the OS CSPRNG,
 * fresh for every call and repetition; accept iff C·s ≡ A·(B·s) (mod p) row by row. Cost
 * O(rows·inner + rows·cols + inner·cols) instead of the product's O(rows·inner·cols). A wrong C passes
 * one repetition with probability ≤ 1/p (one-sided), k repetitions ≤ p^−k.
 */
import { P } from '../field/prime.js';
import { randomElements } from '../field/random.js';

/**
 * Σ u[at + i]·v[i] mod p for residues u (a reply or request row, read in place) and v: each product
 * is < 2^48 and the sum is reduced every 31 terms, so it stays below 2^53.
 */
function dotResidues(u: Uint32Array, at: number, v: Float64Array, length: number): number {
  let acc = 0;
  let i = 0;
  while (i < length) {
    const end = Math.min(length, i + 31);
    for (; i < end; i++) acc += u[at + i]! * v[i]!;
    acc %= P;
  }
  return acc;
}

/**
 * k repetitions of C·s ≡ A·(B·s) (mod p): A as residues rows×inner, B signed integers inner×cols
 * with |b| ≤ 2^15, C the claimed residues rows×cols.
 */
export function denseProductHolds(a: Uint32Array, b: Float64Array, c: Uint32Array, rows: number, inner: number, cols: number, repetitions: number): boolean {
  for (let k = 0; k < repetitions; k++) {
    const s = randomElements(cols);
    // B·s: |b·s| < 2^15·2^24, reduced every 1024 terms; |Σ| ≤ 1024·2^39 + p < 2^53.
    const bs = new Float64Array(inner);
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let j = 0; j < cols; j++) {
        acc += b[i * cols + j]! * s[j]!;
        if ((j & 1023) === 1023) acc %= P;
      }
      bs[i] = ((acc % P) + P) % P;
    }
    for (let r = 0; r < rows; r++) {
      if (dotResidues(c, r * cols, s, cols) !== dotResidues(a, r * inner, bs, inner)) return false;
    }
  }
  return true;
}
