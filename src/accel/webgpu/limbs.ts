/**
 * How the WebGPU kernels compute Σ x·w mod p exactly with 32-bit integers only (docs/design.md §2; WGSL
 * has no 64-bit integers and no wide multiply), and the check that a layer fits the scheme, made
 * when the layer is registered: a layer the kernels cannot compute exactly is refused, never run.
 *
 * The limb scheme. A residue x ∈ [0, p), p = 2^24 − 3 < 2^24, is split into two 12-bit limbs
 *     x = x_h·2^12 + x_l,   0 ≤ x_l, x_h ≤ 2^12 − 1 = 4095.
 * Weights are the layer's integer weights w as they are (centered, so they may be negative), held
 * as i32. One output z = Σ_i x_i·w_i is accumulated as two i32 sums over a *segment* of taps,
 *     A_l = Σ_seg x_l,i·w_i,   A_h = Σ_seg x_h,i·w_i,
 * two multiply-adds per multiply-accumulate. Every partial sum of either is a sub-sum of products
 * of magnitude ≤ 4095·|w_i|, so it is bounded by 4095·Σ_seg |w_i|; while that is ≤ 2^31 − 1 no i32
 * operation wraps and both sums are the true integers. At the end of a segment they are *folded*
 * into a running residue t ∈ [0, p):
 *     t ← (t + (A_l mod p) + ((A_h mod p)·2^12 mod p)) mod p,
 * where (A mod p) is taken in [0, p) (i32 remainder, plus p when negative: |A| < 2^31, so exact), and
 * for b = A_h mod p = b_1·2^12 + b_0 (b_1, b_0 < 2^12), b·2^12 = b_1·2^24 + b_0·2^12 ≡ 3·b_1 + b_0·2^12
 * (mod p) since 2^24 ≡ 3: a u32 below 2^25, reduced once; the sum of three residues is below 3p < 2^26.
 * So t = Σ_seg (x_h·2^12 + x_l)·w = Σ x·w (mod p), exactly.
 *
 * The bound, per layer. With SEGMENT_L1 = ⌊(2^31 − 1)/4095⌋ = 524 416, a segment is exact when the
 * weights it covers have Σ|w| ≤ SEGMENT_L1. `planLayer` picks the segment length F (in consecutive
 * taps of an output's reduction axis, the order every kernel walks it in):
 * - if every output's whole row has Σ|w| ≤ SEGMENT_L1, one segment: F = K (no fold before the end);
 * - otherwise F = ⌊SEGMENT_L1 / max|w|⌋: any F consecutive taps have Σ|w| ≤ F·max|w| ≤ SEGMENT_L1.
 * The tiled kernels fold only at tile boundaries (every MIN_SEGMENT_TAPS = 16 taps at the finest),
 * so a layer needs F ≥ MIN_SEGMENT_TAPS, i.e. max|w| ≤ ⌊SEGMENT_L1/16⌋ = 32 776, unless its rows
 * fit whole; otherwise it is refused (OverflowError naming the layer). slalom's quantized weights
 * stay far inside (|w| ≤ 2^11 on every zoo model), so refusal means a model this backend must not run.
 */
import { InvalidArgumentError, OverflowError } from '../../errors.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';

/** Bits per limb of a residue: x = x_h·2^LIMB_BITS + x_l. */
export const LIMB_BITS = 12;
/** Largest limb value, 2^12 − 1. */
export const LIMB_MAX = (1 << LIMB_BITS) - 1;
/** Largest i32. */
export const I32_MAX = 2 ** 31 - 1;
/** ⌊(2^31 − 1)/4095⌋ = 524 416: the most Σ|w| one segment may cover. */
export const SEGMENT_L1 = Math.floor(I32_MAX / LIMB_MAX);
/** The shortest segment the kernels can fold at (their K tile). */
export const MIN_SEGMENT_TAPS = 16;
/** The largest |w| a layer whose rows exceed SEGMENT_L1 may hold: ⌊SEGMENT_L1 / 16⌋ = 32 776. */
export const MAX_FOLDED_WEIGHT = Math.floor(SEGMENT_L1 / MIN_SEGMENT_TAPS);

/** How a layer's weights fit the limb scheme. */
export interface LimbPlan {
  /** Taps per output (the reduction length K). */
  readonly taps: number;
  /** Output units (conv: output channels M; gemm: columns N). */
  readonly outputs: number;
  /** Largest Σ|w| over one output's taps. */
  readonly rowL1: number;
  readonly maxAbsWeight: number;
  /** Fold after at most this many consecutive taps (≥ taps: only at the end). */
  readonly segmentTaps: number;
}

/** Σ|w| per output unit and max |w|, for conv w [M, C/g, kH, kW] (rows contiguous) or gemm w [K, N] (columns). */
function rowStats(layer: ExactLinearLayer): { taps: number; outputs: number; rowL1: number; maxAbs: number } {
  const { dims, data } = layer.w;
  const conv = layer.op === 'Conv';
  if (dims.length !== (conv ? 4 : 2)) throw new InvalidArgumentError(`${layer.op} weights must be ${conv ? '4-D [M, C/group, kH, kW]' : '2-D [K, N]'}, got [${dims.join(', ')}]`);
  const outputs = conv ? dims[0]! : dims[1]!;
  const taps = outputs === 0 ? 0 : data.length / outputs;
  const sums = new Float64Array(outputs);
  let maxAbs = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`weight ${v} at index ${i} is not an integer`);
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
    sums[conv ? Math.floor(i / taps) : i % outputs] += a;
  }
  let rowL1 = 0;
  for (const s of sums) if (s > rowL1) rowL1 = s;
  return { taps, outputs, rowL1, maxAbs };
}

/** The segment plan of `layer`, or OverflowError (naming it) when the limb scheme cannot compute it exactly. */
export function planLayer(layer: ExactLinearLayer, layerName: string): LimbPlan {
  let stats;
  try {
    stats = rowStats(layer);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message, { layer: layerName });
  }
  const { taps, outputs, rowL1, maxAbs } = stats;
  if (rowL1 <= SEGMENT_L1) return { taps, outputs, rowL1, maxAbsWeight: maxAbs, segmentTaps: Math.max(taps, 1) };
  const segmentTaps = Math.floor(SEGMENT_L1 / maxAbs);
  if (segmentTaps < MIN_SEGMENT_TAPS) {
    throw new OverflowError(
      `the WebGPU kernels cannot compute this layer exactly: a weight row has Σ|w| = ${rowL1} > ${SEGMENT_L1} and max |w| = ${maxAbs} > ${MAX_FOLDED_WEIGHT} ` +
        `(12-bit limbs times weights must stay below 2^31 over every ${MIN_SEGMENT_TAPS} taps)`,
      { layer: layerName },
    );
  }
  return { taps, outputs, rowL1, maxAbsWeight: maxAbs, segmentTaps };
}
