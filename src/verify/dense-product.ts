/**
 * Freivalds' check of a claimed dense product C = A·B over Z_p (docs/design.md §3), shared by verified
 * training's products and the offloaded attention products: s uniform in Z_p^cols from the OS CSPRNG,
 * fresh for every call and repetition; accept iff C·s ≡ A·(B·s) (mod p) row by row. Cost
 * O(rows·inner + rows·cols + inner·cols) instead of the product's O(rows·inner·cols). A wrong C passes
 * one repetition with probability ≤ 1/p (one-sided), k repetitions ≤ p^−k. The repetitions share one
 * pass over A, B and C (two vectors at a time), so k = 2 reads each operand once.
 */
import { P } from '../field/prime.js';
import { randomElements } from '../field/random.js';

/**
 * Σ u[at + i]·v0[i] and Σ u[at + i]·v1[i] mod p for residues u (a reply or request row, read in place)
 * and v0, v1 < p, into out[0], out[1]: each product is < 2^48 and the sums are reduced every 31 terms,
 * so they stay below 2^53.
 */
function dotResidues2(u: Uint32Array, at: number, v0: Float64Array, v1: Float64Array, length: number, out: Float64Array): void {
  let acc0 = 0;
  let acc1 = 0;
  let i = 0;
  while (i < length) {
    const end = Math.min(length, i + 31);
    for (; i < end; i++) {
      const x = u[at + i]!;
      acc0 += x * v0[i]!;
      acc1 += x * v1[i]!;
    }
    acc0 %= P;
    acc1 %= P;
  }
  out[0] = acc0;
  out[1] = acc1;
}

/** B·s mod p for B signed integers inner×cols (|b| ≤ 2^15): |b·s| < 2^39, reduced every 1024 terms, so |Σ| ≤ 1024·2^39 + p < 2^53. */
function weightSide(b: Float64Array, s0: Float64Array, s1: Float64Array, inner: number, cols: number): [Float64Array, Float64Array] {
  const bs0 = new Float64Array(inner);
  const bs1 = new Float64Array(inner);
  for (let i = 0, row = 0; i < inner; i++, row += cols) {
    let acc0 = 0;
    let acc1 = 0;
    for (let j = 0; j < cols; j++) {
      const v = b[row + j]!;
      acc0 += v * s0[j]!;
      acc1 += v * s1[j]!;
      if ((j & 1023) === 1023) (acc0 %= P), (acc1 %= P);
    }
    bs0[i] = ((acc0 % P) + P) % P;
    bs1[i] = ((acc1 % P) + P) % P;
  }
  return [bs0, bs1];
}

/**
 * Σ a[at + i]·v0[i] and Σ a[at + i]·v1[i] mod p, in [0, p), for signed integers |a| ≤ 2^15 and
 * v0, v1 < p: each product is below 2^39 in magnitude, so the sums are reduced only every 8192 terms.
 * Apart from dotResidues2 on purpose: one element type per loop keeps it monomorphic for V8.
 */
function dotSigned2(a: Float64Array, at: number, v0: Float64Array, v1: Float64Array, length: number, out: Float64Array): void {
  let acc0 = 0;
  let acc1 = 0;
  let i = 0;
  while (i < length) {
    const end = Math.min(length, i + 8192);
    for (; i < end; i++) {
      const x = a[at + i]!;
      acc0 += x * v0[i]!;
      acc1 += x * v1[i]!;
    }
    acc0 %= P;
    acc1 %= P;
  }
  out[0] = (acc0 + P) % P;
  out[1] = (acc1 + P) % P;
}

/**
 * The same check with A as the signed integers themselves (|a| ≤ 2^15, congruent to the residues
 * that were sent), read in place as `rows` rows of `inner` values starting at `offset`, `stride`
 * apart (a chunk of a wider matrix): A·(B·s) then needs no reduction inside a row's first 8192 terms.
 */
export function signedProductHolds(a: Float64Array, stride: number, offset: number, b: Float64Array, c: Uint32Array, rows: number, inner: number, cols: number, repetitions: number): boolean {
  const left = new Float64Array(2);
  const right = new Float64Array(2);
  for (let k = 0; k < repetitions; k += 2) {
    const s0 = randomElements(cols);
    const s1 = k + 1 < repetitions ? randomElements(cols) : s0;
    const [bs0, bs1] = weightSide(b, s0, s1, inner, cols);
    for (let r = 0; r < rows; r++) {
      dotResidues2(c, r * cols, s0, s1, cols, left);
      dotSigned2(a, offset + r * stride, bs0, bs1, inner, right);
      if (left[0] !== right[0] || left[1] !== right[1]) return false;
    }
  }
  return true;
}

/**
 * k repetitions of C·s ≡ A·(B·s) (mod p): A as residues rows×inner, B signed integers inner×cols
 * with |b| ≤ 2^15, C the claimed residues rows×cols. Repetitions run two at a time (an odd last
 * one checks its vector twice, which changes nothing).
 */
export function denseProductHolds(a: Uint32Array, b: Float64Array, c: Uint32Array, rows: number, inner: number, cols: number, repetitions: number): boolean {
  const left = new Float64Array(2);
  const right = new Float64Array(2);
  for (let k = 0; k < repetitions; k += 2) {
    const s0 = randomElements(cols);
    const s1 = k + 1 < repetitions ? randomElements(cols) : s0;
    const [bs0, bs1] = weightSide(b, s0, s1, inner, cols);
    for (let r = 0; r < rows; r++) {
      dotResidues2(c, r * cols, s0, s1, cols, left);
      dotResidues2(a, r * inner, bs0, bs1, inner, right);
      if (left[0] !== right[0] || left[1] !== right[1]) return false;
    }
  }
  return true;
}
