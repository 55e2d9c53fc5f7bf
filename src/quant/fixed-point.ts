/**
 * The trusted runtime's conversions around a linear layer (docs/design.md §2), as this module's
 * contributions to the layer's boundary pass (boundary/pass-plan.ts; the per-value loop is
 * simd/assembly/requantize.ts, run by boundary.ts):
 * - into the field: x̃ = round(x·2^lx) = floor(x·2^lx + 0.5), |x̃| ≤ (p−1)/2, as canonical residues
 *   (nextRequest: a rounding to NaN, ±∞ or past 2^31 is flagged, never wrapped);
 * - out of it: z = f(x̃) + b̃ mod p, centered, checked for wrap-around, and dequantized to
 *   z·2^−(lx+lw) — or, when the output feeds the next linear layer directly, rounded onto that
 *   layer's grid by a right shift (requantTerm). The rounding division the paper applies after each
 *   layer is folded into the next quantization.
 *
 * Exactness in 32-bit lanes: residues and centered values are below 2^24 in magnitude and the
 * clamp's bounds at most 2^30, so every sum the pass forms (y + b̃ − p − u, z + 2^(shift−1)) is an
 * int32; dequantization multiplies an int32 by a power of two, exact in a double.
 *
 * Overflow detection: when max|x̃|·Σ|w̃| + max|b̃| ≤ (p−1)/2 no wrap-around is possible (sound
 * bound). Otherwise a centered output beyond (p−1)/4 — twice past the calibrated headroom of the
 * default margin — is reported as an OverflowError rather than trusted.
 */
import type { InputSide, NextRequest, RequantTerm } from '../boundary/pass-plan.js';
import { InvalidArgumentError, OverflowError } from '../errors.js';
import { mod } from '../field/modp.js';
import { HALF_P } from '../field/prime.js';
import type { Region } from '../simd/arena.js';
import type { QuantizedLayer } from './quantize-graph.js';

/**
 * An activation a linear layer's requantization pass can apply: clamping to [lo, hi] in real units
 * (ReLU: [0, ∞); ReLU6 as Clip: [0, 6]). See canApplyClamp for when it is exact.
 */
export interface Clamp {
  readonly lo: number;
  readonly hi: number;
}

export const RELU: Clamp = { lo: 0, hi: Infinity };

/** Work on a linear layer's output that its requantization does as well. */
export interface FusedPasses {
  /** An activation that follows the layer, applied after the wrap-around check (which needs the pre-activation). */
  readonly clamp?: Clamp;
  /** A 2×2 max pool with stride 2 that follows (after the clamp); see canPool2x2. */
  readonly pool2x2?: boolean;
  /**
   * A residual Add that consumes the output, with its other input (same shape, resident or not), and
   * whether a ReLU follows it: the pass writes relu(z·2^−(lx+lw) + other). Not combined with a clamp,
   * a pool or a shift onto the next grid (the sum is a float, rounded onto it like any float).
   */
  readonly add?: { readonly other: Float64Array; readonly relu: boolean };
}

/**
 * The next layer's part of a pass that writes its request: the grid (a shift of this layer's
 * outputs, or 2^lx for floats), and the decision over the magnitudes the pass found.
 */
export function nextRequest(layer: QuantizedLayer, parts: { readonly fromFloats: boolean; readonly check?: InputSide; readonly pad?: Region }): NextRequest {
  return {
    layerName: layer.name,
    dims: layer.inDims,
    ...(parts.fromFloats ? { quantScale: 2 ** layer.lx } : {}),
    ...(parts.check !== undefined ? { check: parts.check } : {}),
    ...(parts.pad !== undefined ? { pad: parts.pad } : {}),
    decide(nextMax, inexact) {
      if (inexact) throw new OverflowError(`a quantized input is not finite or beyond 2^31 at scale 2^${layer.lx} (a NaN or ±∞ input?)`, { layer: layer.name });
      if (!(nextMax <= HALF_P)) throw new OverflowError(`quantized input magnitude ${nextMax} (scale 2^${layer.lx}) leaves (−p/2, p/2)`, { layer: layer.name });
    },
  };
}

/**
 * The requantization of `layer`'s outputs: bias, center, wrap-around decision, the fused clamp and
 * pool, then either a shift onto `next`'s grid (where canFinishInto holds: round(y·2^lx′) with
 * y = z·2^−(lx+lw) is round(z / 2^m), m = lx + lw − lx′, which is (z + 2^(m−1)) >> m in int32 —
 * exactly what the separate passes compute) or float outputs (`keepFloats`, with a residual Add).
 * `inputMaxAbs` is max |x̃| of the layer's input (for the sound bound); `bias` the resident residues
 * of biasResidues(layer).
 */
export function requantTerm(
  layer: QuantizedLayer,
  parts: { readonly fused: FusedPasses; readonly inputMaxAbs: number; readonly bias: Region; readonly shiftInto?: QuantizedLayer; readonly keepFloats: boolean },
): RequantTerm {
  const { fused, shiftInto } = parts;
  const { clamp } = fused;
  if (clamp !== undefined && !canApplyClamp(layer, clamp)) throw new InvalidArgumentError(`clamp [${clamp.lo}, ${clamp.hi}] is not exact at scale 2^${layer.lx + layer.lw}`);
  if (fused.pool2x2 && !canPool2x2(layer)) throw new InvalidArgumentError(`a 2×2 pool cannot be fused after '${layer.name}' (output ${layer.outDims.join('×')})`);
  if (shiftInto !== undefined && !canFinishInto(layer, shiftInto)) {
    throw new InvalidArgumentError(`layer '${shiftInto.name}' quantizes at 2^${shiftInto.lx}: not a right shift of '${layer.name}' outputs at 2^${layer.lx + layer.lw}`);
  }
  if (fused.add !== undefined && (clamp !== undefined || fused.pool2x2 || shiftInto !== undefined || fused.add.other.length !== layer.outDims.reduce((a, b) => a * b, 1))) {
    throw new InvalidArgumentError(`an Add cannot be fused after '${layer.name}' with a clamp, a pool or a shift onto the next grid, or with an operand of another size`);
  }
  // The clamp's bounds in integer units; an absent bound is one no centered value (< 2^23) reaches.
  const scaleUp = 2 ** (layer.lx + layer.lw);
  const lo = clamp === undefined || clamp.lo === -Infinity ? -UNBOUNDED : clamp.lo * scaleUp;
  const hi = clamp === undefined || clamp.hi === Infinity ? UNBOUNDED : clamp.hi * scaleUp;
  const cannotWrap = parts.inputMaxAbs * layer.weightRowL1 + layer.maxAbsBias <= HALF_P;
  const limit = cannotWrap ? HALF_P : HALF_P / 2;
  const [n, c, h, w] = layer.outDims;
  return {
    bias: parts.bias,
    // Conv outputs are channel-major planes (a bias per row); a Gemm's items hold every channel (a bias per position).
    perColumn: layer.op === 'Gemm',
    channels: channelsOf(layer),
    lo,
    hi,
    poolWidth: fused.pool2x2 ? w! : 0,
    shift: shiftInto === undefined ? -1 : layer.lx + layer.lw - shiftInto.lx,
    dequant: 2 ** -(layer.lx + layer.lw),
    ...(fused.add !== undefined ? { addend: { values: fused.add.other, relu: fused.add.relu } } : {}),
    ...(parts.keepFloats ? { floatDims: fused.pool2x2 ? [n!, c!, h! / 2, w! / 2] : layer.outDims } : {}),
    decide(worst) {
      if (!(worst <= limit)) {
        throw new OverflowError(
          `output magnitude ${worst} exceeds ${limit} at scale 2^${layer.lx + layer.lw}: the value may have wrapped mod p (input beyond the calibrated range?)`,
          { layer: layer.name },
        );
      }
    },
  };
}

/** Output channels: a Conv's planes per item, a Gemm's features. */
export function channelsOf(layer: QuantizedLayer): number {
  return layer.op === 'Conv' ? layer.outDims[1]! : layer.outDims[layer.outDims.length - 1]!;
}

/** The layer's integer bias as residues per channel (zeros without a bias). */
export function biasResidues(layer: QuantizedLayer): Int32Array {
  const channels = channelsOf(layer);
  const residues = new Int32Array(channels);
  if (layer.bias !== undefined) for (let k = 0; k < channels; k++) residues[k] = mod(layer.bias[k]!);
  return residues;
}

/**
 * Whether a 2×2 max pool with stride 2 (no padding, no dilation) can be fused into `layer`'s
 * requantization: its output is NCHW with an even height and width, so every value lies in exactly
 * one window. Max commutes with the clamp, the dequantization and the rounding shift (all monotone),
 * so pooling the integers is bit-identical to pooling the doubles.
 */
export function canPool2x2(layer: QuantizedLayer): boolean {
  const d = layer.outDims;
  return layer.op === 'Conv' && d.length === 4 && d[2]! % 2 === 0 && d[3]! % 2 === 0;
}

/**
 * Whether `next`'s input grid is no finer than `layer`'s output grid (the usual case: it is coarser)
 * and the rescaling is a shift that int32 arithmetic performs as written (JS shifts count mod 32).
 */
export function canFinishInto(layer: QuantizedLayer, next: QuantizedLayer): boolean {
  const shift = layer.lx + layer.lw - next.lx;
  return shift >= 0 && shift <= 30;
}

/** Largest clamp bound in integer units: any centered value (< 2^23) minus it stays in int32. */
const UNBOUNDED = 2 ** 30;

/**
 * Whether `clamp` applies exactly to `layer`'s integer outputs z (scale 2^(lx+lw)): each finite bound
 * times 2^(lx+lw) is an integer of magnitude ≤ 2^30, so clamping z to it and then dequantizing gives
 * the same doubles as dequantizing and then clamping.
 */
export function canApplyClamp(layer: QuantizedLayer, clamp: Clamp): boolean {
  const onGrid = (bound: number): boolean => {
    const v = bound * 2 ** (layer.lx + layer.lw);
    return !Number.isFinite(bound) || (Number.isInteger(v) && Math.abs(v) <= UNBOUNDED);
  };
  return clamp.lo <= clamp.hi && clamp.lo !== Infinity && clamp.hi !== -Infinity && onGrid(clamp.lo) && onGrid(clamp.hi);
}

/**
 * The per-channel part of a layer's dequantization (quantize-graph.ts): feature j of the float
 * outputs the boundary pass wrote at 2^−(lx+lw) is multiplied by 2^−e_j, in place (exact: a power of
 * two). A layer with one scale per tensor is left alone.
 */
export function scaleColumns(layer: QuantizedLayer, floats: Float64Array): void {
  const bits = layer.channelBits;
  if (bits === undefined) return;
  const n = bits.length;
  const factors = Float64Array.from(bits, (e) => 2 ** -e);
  for (let i = 0; i < floats.length; i += n) for (let j = 0; j < n; j++) floats[i + j]! *= factors[j]!;
}
