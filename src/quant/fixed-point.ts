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
import { OverflowError } from '../errors.js';
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
  // Branch-free (signs are random: branches would mispredict); Math.max keeps a NaN once seen.
  // floor(v + 0.5) rounds half up like Math.round, at a third of its cost.
  for (let i = 0; i < x.length; i++) {
    const v = Math.floor(x[i]! * scale + 0.5);
    maxAbs = Math.max(maxAbs, Math.abs(v));
    residues[i] = v + P * +(v < 0);
  }
  if (!(maxAbs <= HALF_P)) {
    throw new OverflowError(`quantized input magnitude ${maxAbs} (scale 2^${layer.lx}) leaves (−p/2, p/2)`, { layer: layer.name });
  }
  return { residues, maxAbs };
}

/**
 * Adds the bias, centers, checks for wrap-around and dequantizes f(x̃) (canonical residues), in
 * place: `fx` is overwritten with the dequantized outputs and returned. With `relu`, a ReLU that
 * follows the layer is applied in the same pass (after the wrap-around check, which needs the
 * pre-activation).
 */
export function finishLinear(layer: QuantizedLayer, fx: Float64Array, inputMaxAbs: number, relu = false): Float64Array {
  // A fused ReLU clamps at 0 from below; −Infinity leaves every value as it is.
  const floor = relu ? 0 : -Infinity;
  const inv = 2 ** -(layer.lx + layer.lw);
  const channels = layer.op === 'Conv' ? layer.outDims[1]! : layer.outDims[layer.outDims.length - 1]!;
  // Conv outputs are channel-major blocks of OH·OW values; Gemm outputs alternate channels.
  const inner = layer.op === 'Conv' ? fx.length / (layer.outDims[0]! * channels) : 1;
  const bias = layer.bias;
  const cannotWrap = inputMaxAbs * layer.weightRowL1 + layer.maxAbsBias <= HALF_P;
  const limit = cannotWrap ? HALF_P : HALF_P / 2;
  let worst = 0;
  for (let start = 0, block = 0; start < fx.length; start += inner, block++) {
    // The bias as a residue, so fx + b < 2p and one subtraction reduces it.
    const b = bias === undefined ? 0 : mod(bias[block % channels]!);
    const end = start + inner;
    for (let i = start; i < end; i++) {
      let z = fx[i]! + b;
      z -= P * +(z >= P);
      z -= P * +(z > HALF_P);
      worst = Math.max(worst, Math.abs(z));
      fx[i] = Math.max(floor, z * inv);
    }
  }
  if (!(worst <= limit)) {
    throw new OverflowError(
      `output magnitude ${worst} exceeds ${limit} at scale 2^${layer.lx + layer.lw}: the value may have wrapped mod p (input beyond the calibrated range?)`,
      { layer: layer.name },
    );
  }
  return fx;
}
