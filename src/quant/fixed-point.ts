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
  let maxAbs = 0;
  let inexact = 0;
  // floor(v + 0.5) rounds half up like Math.round, at a third of its cost. The rest is int32 work
  // with sign masks: a float compare-and-select would branch, and on activations of random sign a
  // branch mispredicts half the time. NaN, ±Infinity and |v| ≥ 2^31 do not survive `| 0` unchanged.
  for (let i = 0; i < x.length; i++) {
    const v = Math.floor(x[i]! * scale + 0.5);
    const q = v | 0;
    inexact |= +(q !== v);
    const sign = q >> 31;
    maxAbs = Math.max(maxAbs, (q ^ sign) - sign);
    residues[i] = q + (P & sign);
  }
  if (inexact !== 0) maxAbs = largestMagnitude(x, scale);
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

/**
 * Adds the bias, centers, checks for wrap-around and dequantizes f(x̃) (canonical residues, or
 * fx − minus when an unblinding factor is left to subtract), in place: `fx` is overwritten with the
 * dequantized outputs and returned. With `clamp`, an activation that follows the layer is applied in
 * the same pass (after the wrap-around check, which needs the pre-activation).
 */
export function finishLinear(layer: QuantizedLayer, fx: Float64Array, inputMaxAbs: number, clamp?: Clamp, minus?: Float64Array): Float64Array {
  finish(layer, fx, minus, inputMaxAbs, clamp, undefined);
  return fx;
}

/**
 * finishLinear followed by `next`'s quantizeInput, in one pass and in place, for a layer whose
 * output (after an optional clamp) feeds `next` and nothing else. Only where canFinishInto holds,
 * where round(y·2^lx') with y = z·2^−(lx+lw) is round(z / 2^m), m = lx + lw − lx',
 * which is (z + 2^(m−1)) >> m in int32: exactly what the two separate passes compute.
 */
export function finishLinearInto(
  layer: QuantizedLayer,
  fx: Float64Array,
  inputMaxAbs: number,
  clamp: Clamp | undefined,
  next: QuantizedLayer,
  minus?: Float64Array,
): QuantizedInput {
  if (!canFinishInto(layer, next)) {
    throw new InvalidArgumentError(`layer '${next.name}' quantizes at 2^${next.lx}: not a right shift of '${layer.name}' outputs at 2^${layer.lx + layer.lw}`);
  }
  const maxAbs = finish(layer, fx, minus, inputMaxAbs, clamp, next);
  if (!(maxAbs <= HALF_P)) {
    throw new OverflowError(`quantized input magnitude ${maxAbs} (scale 2^${next.lx}) leaves (−p/2, p/2)`, { layer: next.name });
  }
  return { residues: fx, maxAbs };
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

const NOTHING = new Float64Array(0);

/**
 * The pass behind both: takes f(x̃) = fx − minus mod p (fx alone without `minus`), adds the bias,
 * centers, checks for wrap-around, applies the clamp, then dequantizes — or, with `next`, rounds to
 * next's input grid. Returns max |x̃'| of next's input (0 without `next`).
 */
function finish(layer: QuantizedLayer, fx: Float64Array, minus: Float64Array | undefined, inputMaxAbs: number, clamp: Clamp | undefined, next: QuantizedLayer | undefined): number {
  if (minus !== undefined && minus.length !== fx.length) throw new InvalidArgumentError(`unblinding factor of ${minus.length} values for ${fx.length} outputs`);
  if (clamp !== undefined && !canApplyClamp(layer, clamp)) throw new InvalidArgumentError(`clamp [${clamp.lo}, ${clamp.hi}] is not exact at scale 2^${layer.lx + layer.lw}`);
  const subtract = minus !== undefined;
  const u = minus ?? NOTHING;
  // The clamp's finite bounds in integer units.
  const scaleUp = 2 ** (layer.lx + layer.lw);
  const hasLo = clamp !== undefined && clamp.lo !== -Infinity;
  const hasHi = clamp !== undefined && clamp.hi !== Infinity;
  const lo = hasLo ? (clamp.lo * scaleUp) | 0 : 0;
  const hi = hasHi ? (clamp.hi * scaleUp) | 0 : 0;
  const toNext = next !== undefined;
  const inv = 2 ** -(layer.lx + layer.lw);
  const shift = toNext ? layer.lx + layer.lw - next.lx : 0;
  const half = shift > 0 ? 1 << (shift - 1) : 0;
  const channels = layer.op === 'Conv' ? layer.outDims[1]! : layer.outDims[layer.outDims.length - 1]!;
  // Conv outputs are channel-major blocks of OH·OW values; Gemm outputs alternate channels.
  // `| 0` keeps the loop indices and the bias below int32 in the JIT (a double index is slow).
  const inner = layer.op === 'Conv' ? (fx.length / (layer.outDims[0]! * channels)) | 0 : 1;
  const bias = layer.bias;
  const cannotWrap = inputMaxAbs * layer.weightRowL1 + layer.maxAbsBias <= HALF_P;
  const limit = cannotWrap ? HALF_P : HALF_P / 2;
  let worst = 0;
  let nextMax = 0;
  for (let start = 0, block = 0; start < fx.length; start += inner, block++) {
    // The bias as a residue, so fx + b < 2p < 2^25 and everything below is int32 arithmetic with sign
    // masks instead of branches (a float select mispredicts half the time on values of random sign).
    const b = bias === undefined ? 0 : mod(bias[block % channels]!) | 0;
    const end = start + inner;
    for (let i = start; i < end; i++) {
      // fx (validated) and u (authenticated) are residues in [0, p): z ∈ (−2p, p), int32.
      let z = (fx[i]! | 0) - (subtract ? u[i]! | 0 : 0) + b - P;
      z += P & (z >> 31); // (−p, p)
      z += P & (z >> 31); // [0, p)
      z -= P & ((HALF_P - z) >> 31); // centered
      const sign = z >> 31;
      worst = Math.max(worst, (z ^ sign) - sign);
      // max(z, lo) then min(·, hi), with sign masks: d & ~(d >> 31) is max(d, 0). The tests on
      // hasLo/hasHi never change within a call, so they cost no mispredictions.
      let zr = z;
      if (hasLo) {
        const below = z - lo;
        zr = lo + (below & ~(below >> 31));
      }
      if (hasHi) {
        const above = hi - zr;
        zr = hi - (above & ~(above >> 31));
      }
      if (toNext) {
        const q = (zr + half) >> shift; // |zr| < 2^23: no int32 overflow
        const s = q >> 31;
        nextMax = Math.max(nextMax, (q ^ s) - s);
        fx[i] = q + (P & s);
      } else {
        fx[i] = zr * inv; // exact: a power of two
      }
    }
  }
  if (!(worst <= limit)) {
    throw new OverflowError(
      `output magnitude ${worst} exceeds ${limit} at scale 2^${layer.lx + layer.lw}: the value may have wrapped mod p (input beyond the calibrated range?)`,
      { layer: layer.name },
    );
  }
  return nextMax;
}
