/**
 * The trusted runtime's conversions around a linear layer (DESIGN.md §2):
 * - into the field: x̃ = round(x·2^lx), |x̃| ≤ (p−1)/2, as canonical residues;
 * - out of it: z = f(x̃) + b̃ mod p, centered, checked for wrap-around, and dequantized to
 *   z·2^−(lx+lw). Rounding to the next layer's grid happens when that layer quantizes its input, so
 *   the rounding division the paper applies after each layer is folded into the next quantization.
 *
 * Overflow detection: when max|x̃|·Σ|w̃| + max|b̃| ≤ (p−1)/2 no wrap-around is possible (sound
 * bound). Otherwise a centered output beyond (p−1)/4 — twice past the calibrated headroom of the
 * default margin — is reported as an OverflowError rather than trusted.
 */
import { InvalidArgumentError, OverflowError } from '../errors.js';
import { mod } from '../field/modp.js';
import { quantize, requantize, requantizePool2x2, type ResidualAdd } from '../simd/kernels.js';
import { takeF64 } from '../tensor/pool.js';
import { HALF_P, P } from '../field/prime.js';
import type { QuantizedLayer } from './quantize-graph.js';

export interface QuantizedInput {
  /** Canonical residues of x̃. */
  readonly residues: Float64Array;
  readonly maxAbs: number;
}

export function quantizeInput(layer: QuantizedLayer, x: Float64Array): QuantizedInput {
  const scale = 2 ** layer.lx;
  const residues = takeF64(x.length);
  // One SIMD pass (simd/kernels.ts); floor(v + 0.5) rounds half up like Math.round.
  const maxAbs = quantize(x, scale, residues) ?? largestMagnitude(x, scale);
  if (!(maxAbs <= HALF_P)) {
    throw new OverflowError(`quantized input magnitude ${maxAbs} (scale 2^${layer.lx}) leaves (−p/2, p/2)`, { layer: layer.name });
  }
  return { residues, maxAbs };
}

/** max |round(x·scale)| in float (NaN when some x is NaN): the rare path, for the error message. */
function largestMagnitude(x: Float64Array, scale: number): number {
  let worst = 0;
  for (const v of x) worst = Math.max(worst, Math.abs(Math.floor(v * scale + 0.5)));
  return worst;
}

/**
 * An activation a linear layer's requantization pass can apply: clamping to [lo, hi] in real units
 * (ReLU: [0, ∞); ReLU6 as Clip: [0, 6]). See canApplyClamp for when it is exact.
 */
export interface Clamp {
  readonly lo: number;
  readonly hi: number;
}

export const RELU: Clamp = { lo: 0, hi: Infinity };

/** Work on a linear layer's output that its requantization pass does as well. */
export interface FusedPasses {
  /** The unblinding factor u (residues packed 3 bytes each): f(x̃) = fx − u mod p. */
  readonly minus?: Uint8Array;
  /** An activation that follows the layer, applied after the wrap-around check (which needs the pre-activation). */
  readonly clamp?: Clamp;
  /** A 2×2 max pool with stride 2 that follows (after the clamp); see canPool2x2. */
  readonly pool2x2?: boolean;
  /**
   * A residual Add that consumes the output, with its other input (same shape), and whether a ReLU
   * follows it: the pass writes relu(z·2^−(lx+lw) + other). Not combined with the passes above.
   */
  readonly add?: ResidualAdd;
}

/**
 * Adds the bias, centers, checks for wrap-around and dequantizes f(x̃) (canonical residues, or
 * fx − minus when an unblinding factor is left to subtract). In place: `fx` is overwritten with the
 * dequantized outputs and returned; with a pool, the pooled outputs are a new (pooled) array and fx
 * is left to the caller.
 */
export function finishLinear(layer: QuantizedLayer, fx: Float64Array, inputMaxAbs: number, fused: FusedPasses = {}): Float64Array {
  return finish(layer, fx, inputMaxAbs, fused, undefined).values;
}

/**
 * finishLinear followed by `next`'s quantizeInput, in one pass, for a layer whose output (after an
 * optional clamp and pool) feeds `next` and nothing else. Only where canFinishInto holds, where
 * round(y·2^lx') with y = z·2^−(lx+lw) is round(z / 2^m), m = lx + lw − lx', which is
 * (z + 2^(m−1)) >> m in int32: exactly what the two separate passes compute.
 */
export function finishLinearInto(layer: QuantizedLayer, fx: Float64Array, inputMaxAbs: number, next: QuantizedLayer, fused: FusedPasses = {}): QuantizedInput {
  if (!canFinishInto(layer, next)) {
    throw new InvalidArgumentError(`layer '${next.name}' quantizes at 2^${next.lx}: not a right shift of '${layer.name}' outputs at 2^${layer.lx + layer.lw}`);
  }
  const { values, nextMax } = finish(layer, fx, inputMaxAbs, fused, next);
  if (!(nextMax <= HALF_P)) {
    throw new OverflowError(`quantized input magnitude ${nextMax} (scale 2^${next.lx}) leaves (−p/2, p/2)`, { layer: next.name });
  }
  return { residues: values, maxAbs: nextMax };
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
 * The pass behind both: takes f(x̃) = fx − minus mod p (fx alone without `minus`), adds the bias,
 * centers, checks for wrap-around, applies the clamp and the pool, then dequantizes (and adds a
 * residual, rectifying after it) — or, with
 * `next`, rounds to next's input grid. Returns the values and max |x̃'| of next's input (0 without
 * `next`). The per-value work runs in the SIMD kernels (simd/kernels.ts): int32 lanes, sign masks
 * instead of branches.
 */
function finish(layer: QuantizedLayer, fx: Float64Array, inputMaxAbs: number, fused: FusedPasses, next: QuantizedLayer | undefined): { values: Float64Array; nextMax: number } {
  const { minus, clamp } = fused;
  if (minus !== undefined && minus.length !== 3 * fx.length) throw new InvalidArgumentError(`unblinding factor of ${minus.length} bytes for ${fx.length} outputs (3 bytes each)`);
  if (clamp !== undefined && !canApplyClamp(layer, clamp)) throw new InvalidArgumentError(`clamp [${clamp.lo}, ${clamp.hi}] is not exact at scale 2^${layer.lx + layer.lw}`);
  if (fused.pool2x2 && !canPool2x2(layer)) throw new InvalidArgumentError(`a 2×2 pool cannot be fused after '${layer.name}' (output ${layer.outDims.join('×')})`);
  if (fused.add !== undefined && (clamp !== undefined || fused.pool2x2 || next !== undefined || fused.add.other.length !== fx.length)) {
    throw new InvalidArgumentError(`an Add cannot be fused after '${layer.name}' with a clamp, a pool or the next layer's quantization, or with an operand of another size`);
  }
  // The clamp's bounds in integer units; an absent bound is one no centered value (< 2^23) reaches.
  const scaleUp = 2 ** (layer.lx + layer.lw);
  const lo = clamp === undefined || clamp.lo === -Infinity ? -UNBOUNDED : clamp.lo * scaleUp;
  const hi = clamp === undefined || clamp.hi === Infinity ? UNBOUNDED : clamp.hi * scaleUp;
  const channels = layer.op === 'Conv' ? layer.outDims[1]! : layer.outDims[layer.outDims.length - 1]!;
  const cannotWrap = inputMaxAbs * layer.weightRowL1 + layer.maxAbsBias <= HALF_P;
  const limit = cannotWrap ? HALF_P : HALF_P / 2;
  const q = {
    bias: biasResidues(layer, channels),
    // Conv outputs are channel-major blocks of OH·OW values; Gemm outputs alternate channels.
    inner: layer.op === 'Conv' ? fx.length / (layer.outDims[0]! * channels) : 1,
    lo,
    hi,
    shift: next === undefined ? -1 : layer.lx + layer.lw - next.lx,
    scale: 2 ** -(layer.lx + layer.lw),
  };
  let values = fx;
  let result: { worst: number; nextMax: number };
  if (fused.pool2x2) {
    const [n, c, h, w] = layer.outDims as [number, number, number, number];
    values = takeF64(fx.length / 4);
    result = requantizePool2x2(fx, minus, q, { rows: n * c * h, height: h, width: w }, values);
  } else {
    result = requantize(fx, minus, q, fused.add);
  }
  if (!(result.worst <= limit)) {
    throw new OverflowError(
      `output magnitude ${result.worst} exceeds ${limit} at scale 2^${layer.lx + layer.lw}: the value may have wrapped mod p (input beyond the calibrated range?)`,
      { layer: layer.name },
    );
  }
  return { values, nextMax: result.nextMax };
}

const biasCache = new WeakMap<QuantizedLayer, Int32Array>();

/** The layer's integer bias as residues per channel (zeros without a bias), computed once per layer. */
function biasResidues(layer: QuantizedLayer, channels: number): Int32Array {
  let residues = biasCache.get(layer);
  if (residues === undefined) {
    residues = new Int32Array(channels);
    if (layer.bias !== undefined) for (let c = 0; c < channels; c++) residues[c] = mod(layer.bias[c]!);
    biasCache.set(layer, residues);
  }
  return residues;
}
