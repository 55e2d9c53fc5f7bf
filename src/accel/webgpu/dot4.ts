/**
 * The second exact scheme of the conv and dense kernels (tiled and small-batch): WGSL's packed 4×8-bit
 * dot product (`dot4U8Packed`, language feature packed_4x8_integer_dot_product; one DP4A-class
 * instruction on GPUs that have it), and the check, at registration, that a layer fits it. The
 * 12-bit-limb scheme (limbs.ts) stays the depthwise kernel's and the fallback where this one is
 * absent or fails its probe.
 *
 * The scheme. A residue x ∈ [0, p), p = 2^24 − 3, is split into three 8-bit limbs
 *     x = x2·2^16 + x1·2^8 + x0,   0 ≤ x0, x1, x2 ≤ 255,
 * and a weight w (an integer, centered, possibly negative) is offset by B = 2^15 into
 *     w' = w + B = w1·2^8 + w0,    0 ≤ w0, w1 ≤ 255,
 * which needs −2^15 ≤ w ≤ 2^15 − 1 (slalom's zoo models: |w| ≤ 2^11). Four consecutive taps of one
 * limb are packed into a u32 (tap t in byte t), and one dot4U8Packed(a, b) is the exact sum of four
 * products of bytes, each ≤ 255·255. One output z = Σ x·w is accumulated over a *segment* of taps in
 * seven u32 sums, grouped by the power of 2^8 their products carry:
 *     C0 = Σ x0·w0,  C1 = Σ (x1·w0 + x0·w1),  C2 = Σ (x2·w0 + x1·w1),  C3 = Σ x2·w1,
 *     S_i = Σ x_i (i = 0, 1, 2; a dot4U8Packed with 0x01010101), for the offset,
 * so that Σ x·w' = C0 + C1·2^8 + C2·2^16 + C3·2^24 and Σ x·w = Σ x·w' − B·(S0 + S1·2^8 + S2·2^16).
 * With m0, m1 the layer's largest w0 and w1, a tap adds at most 255·m0 to C0, 255·(m0 + m1) to C1
 * and C2, 255·m1 to C3 and 255 to each S_i; every partial sum is a sum of such non-negative terms,
 * so while F·255·max(m0 + m1, 1) ≤ 2^32 − 1 over the F taps of a segment no u32 addition wraps and
 * all seven are the true integers. At the end of a segment they are folded into a running residue
 * t ∈ [0, p) (wgsl/common.ts `fold4`): each reduced mod p (u32 %, exact), combined by Horner steps
 * r ← ((r·2^8) mod p + c mod p) mod p (r·2^8 < 2^32; the sum < 2p), and
 *     t ← (t + r + p − (B·S mod p)) mod p     (below 3p < 2^26),
 * so t = Σ_seg x·w (mod p), exactly. Taps past K and padded pixels load x = 0: they add nothing to
 * any sum, whatever their (zero) packed weight.
 *
 * Why offset unsigned bytes: the signed alternative (dot4I8Packed, weights in signed bytes) needs x
 * in 7-bit limbs — four of them for 24 bits — so eight dot products per output and quad against six
 * here, plus the three Σx ones shared by a thread's tm rows (1.7 per MAC at tm = 4, against 2).
 *
 * The bound, per layer: F = ⌊(2^32 − 1) / (255·max(m0 + m1, 1))⌋ taps, rounded down to the tiled
 * kernel's fold granularity (KT = 16 taps, whole quads for the small-batch kernel too); one segment
 * when K ≤ F. At the weights' extremes
 * (m0 = m1 = 255) F = 33 024 taps, more than any zoo layer's K (VGG16's fc1: 25 088), so in practice
 * the only fold is the last. A weight outside [−2^15, 2^15 − 1] does not fit: the layer is refused
 * (OverflowError naming it), never run inexactly.
 */
import { OverflowError } from '../../errors.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';
import { MIN_SEGMENT_TAPS } from './limbs.js';

/** The weight offset B = 2^15: w' = w + B ∈ [0, 2^16). */
export const DOT4_BIAS = 2 ** 15;
export const DOT4_MIN_WEIGHT = -DOT4_BIAS;
export const DOT4_MAX_WEIGHT = DOT4_BIAS - 1;
/** Largest u32. */
export const U32_MAX = 2 ** 32 - 1;
/** Largest byte limb of x (and of w'). */
const BYTE_MAX = 255;

export interface Dot4Plan {
  /** Taps per output (K). */
  readonly taps: number;
  /** Largest low and high byte of w' = w + B over the layer. */
  readonly maxLowByte: number;
  readonly maxHighByte: number;
  /** Fold after at most this many taps (a multiple of 16, or ≥ taps: only at the end). */
  readonly segmentTaps: number;
}

/** The longest segment for weight bytes up to (m0, m1), in whole KT steps: ⌊(2^32 − 1) / (255·max(m0 + m1, 1))⌋. */
export function dot4SegmentTaps(m0: number, m1: number): number {
  const perTap = BYTE_MAX * Math.max(m0 + m1, 1);
  return Math.floor(Math.floor(U32_MAX / perTap) / MIN_SEGMENT_TAPS) * MIN_SEGMENT_TAPS;
}

/** The dot4 plan of `layer` (taps = its reduction length), or OverflowError naming it when a weight does not fit. */
export function planDot4(layer: ExactLinearLayer, taps: number, layerName: string): Dot4Plan {
  let m0 = 0;
  let m1 = 0;
  for (const w of layer.w.data) {
    if (w < DOT4_MIN_WEIGHT || w > DOT4_MAX_WEIGHT) {
      throw new OverflowError(`the WebGPU dot4 kernels cannot compute this layer exactly: weight ${w} is outside [${DOT4_MIN_WEIGHT}, ${DOT4_MAX_WEIGHT}] (w + 2^15 must fit two bytes)`, { layer: layerName });
    }
    const biased = w + DOT4_BIAS;
    m0 = Math.max(m0, biased & 0xff);
    m1 = Math.max(m1, biased >>> 8);
  }
  const f = dot4SegmentTaps(m0, m1);
  return { taps, maxLowByte: m0, maxHighByte: m1, segmentTaps: taps <= f ? Math.max(taps, 1) : f };
}

/**
 * Weights packed for the dot4 tiled kernel: per group g, tap group q (taps 4q … 4q + 3) and output row
 * o of the group, two u32 — the low and the high bytes of w' for those four taps (tap 4q + t in byte
 * t; taps past K zero) — at index 2·((g·⌈K/4⌉ + q)·rows + o). `at(g, o, k)` is the weight of tap k.
 */
export function packDot4Weights(groups: number, rows: number, k: number, at: (g: number, o: number, k: number) => number): Uint32Array {
  const quads = Math.ceil(k / 4);
  const out = new Uint32Array(groups * quads * rows * 2);
  for (let g = 0; g < groups; g++) {
    for (let o = 0; o < rows; o++) {
      for (let t = 0; t < k; t++) {
        const biased = at(g, o, t) + DOT4_BIAS;
        const i = 2 * ((g * quads + (t >> 2)) * rows + o);
        const shift = 8 * (t & 3);
        out[i] = (out[i]! | ((biased & 0xff) << shift)) >>> 0;
        out[i + 1] = (out[i + 1]! | ((biased >>> 8) << shift)) >>> 0;
      }
    }
  }
  return out;
}
