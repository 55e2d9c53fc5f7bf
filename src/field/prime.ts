/**
 * The prime field Z_p every linear layer is evaluated over (docs/design.md §2).
 *
 * p = 2^24 − 3 = 16 777 213, the reference's prime: a residue fits a float32 exactly (< 2^24), so a
 * GPU backend can hold activations in float32, and a product of a residue and a small integer
 * weight summed over a layer's fan-in stays an exact double long after the layer sizes we meet.
 *
 * The bound every exact kernel relies on: for residues (or centered values) |x_i| ≤ p − 1 and
 * integer weights w_i, |Σ x_i·w_i| ≤ (p − 1)·Σ|w_i|, and every partial sum is an integer of at most
 * that magnitude. Doubles represent every integer below 2^53 exactly and an addition of two such
 * integers whose exact sum is below 2^53 is exact, so the whole dot product is exact whenever
 * Σ|w_i| ≤ MAX_WEIGHT_L1 = ⌊(2^53 − 1)/(p − 1)⌋ = 536 871 040 (≈ 2^29). Adding an integer bias b
 * needs (p − 1)·Σ|w_i| + |b| < 2^53, which `linearIsExact` checks.
 */

export const P = 16_777_213;
/** (p − 1) / 2: centered values lie in [−HALF_P, HALF_P]. */
export const HALF_P = (P - 1) / 2;
/** Largest integer a double holds exactly, with every smaller integer: 2^53 − 1. */
export const MAX_EXACT = Number.MAX_SAFE_INTEGER;
/** ⌊(2^53 − 1)/(p − 1)⌋: the largest L1 norm of a weight row whose dot product with residues is exact. */
export const MAX_WEIGHT_L1 = Math.floor(MAX_EXACT / (P - 1));

/** True when Σ|w|·(p − 1) + |bias| stays below 2^53, so a dot product with any residues is exact. */
export function linearIsExact(weightRowL1: number, maxAbsBias = 0): boolean {
  return weightRowL1 * (P - 1) + maxAbsBias <= MAX_EXACT;
}
