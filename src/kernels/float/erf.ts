/**
 * The error function erf(x) in float64 (ONNX Erf, and GELU through it); JavaScript's Math has none.
 *
 * W. J. Cody's rational Chebyshev approximations, "Rational Chebyshev approximations for the error
 * function", Math. Comp. 23 (1969) 631–637, with the coefficients of his netlib specfun CALERF
 * (1985): erf(x) = x·R₁(x²) on |x| ≤ 0.46875, erfc(x) = e^(−x²)·R₂(x) on 0.46875 < |x| ≤ 4 and
 * erfc(x) = e^(−x²)/x·(1/√π + R₃(1/x²)/x²) beyond, each Rᵢ a ratio of polynomials of degree ≤ 8.
 * Cody bounds their relative error near 1e-18, so in a double only rounding remains: against Python's
 * math.erf the largest difference is 2 units in the last place, 3.3e-16 relative
 * (test/kernels/float/erf.test.ts), more than 10^8 times below float32's epsilon. e^(−x²) is taken as e^(−u²)·e^(−(x−u)(x+u))
 * with u = x rounded down to a multiple of 1/16, so that x² loses no bits (Cody's device).
 * Abramowitz–Stegun 7.1.26 (|ε| ≤ 1.5e-7) would not do: that is float32's epsilon itself.
 */
import type { Tensor } from '../../tensor/tensor.js';
import { takeF64 } from '../../tensor/pool.js';

/** erf(x) = x·(A₄x⁸ + A₀x⁶ + A₁x⁴ + A₂x² + A₃)/(x⁸ + B₀x⁶ + B₁x⁴ + B₂x² + B₃) for |x| ≤ 0.46875. */
const A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153] as const;
const B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062] as const;
/** erfc(x)·e^(x²) on (0.46875, 4]: degree 8 over degree 8 in x. */
const C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909, 1712.04761263407058,
  2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8,
] as const;
const D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963, 4362.61909014324716,
  3439.36767414372164, 1230.33935480374942,
] as const;
/** erfc(x)·x·e^(x²) − 1/√π on (4, ∞), in 1/x². */
const P = [0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978] as const;
const Q = [2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191, 0.00233520497626869185] as const;

const INV_SQRT_PI = 0.56418958354775628695;
/** Below this the x² terms fall under the last bit: erf(x) = x·A₃/B₃. */
const X_SMALL = 1.11e-16;
/** Beyond this erfc(x) < 2^-1074: erf(x) = ±1 exactly. */
const X_BIG = 26.543;

/** e^(−y²) without the rounding error of forming y² (y ≥ 0). */
function expMinusSquare(y: number): number {
  const u = Math.trunc(y * 16) / 16;
  return Math.exp(-u * u) * Math.exp(-(y - u) * (y + u));
}

/** erfc(y) for y > 0.46875 (NaN stays NaN). */
function erfcLarge(y: number): number {
  if (y <= 4) {
    let num = C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + C[i]!) * y;
      den = (den + D[i]!) * y;
    }
    return expMinusSquare(y) * ((num + C[7]) / (den + D[7]));
  }
  if (y >= X_BIG) return 0;
  const z = 1 / (y * y);
  let num = P[5] * z;
  let den = z;
  for (let i = 0; i < 4; i++) {
    num = (num + P[i]!) * z;
    den = (den + Q[i]!) * z;
  }
  const r = (z * (num + P[4])) / (den + Q[4]);
  return (expMinusSquare(y) * (INV_SQRT_PI - r)) / y;
}

/** erf(x) for one double: odd, erf(±∞) = ±1, erf(NaN) = NaN, erf(−0) = −0. */
export function erf(x: number): number {
  const y = Math.abs(x);
  if (y <= 0.46875) {
    const z = y > X_SMALL ? y * y : 0;
    let num = A[4] * z;
    let den = z;
    for (let i = 0; i < 3; i++) {
      num = (num + A[i]!) * z;
      den = (den + B[i]!) * z;
    }
    return (x * (num + A[3])) / (den + B[3]);
  }
  const r = 0.5 - erfcLarge(y) + 0.5; // (½ − erfc) + ½ keeps the last bit when erfc is tiny
  return x < 0 ? -r : r;
}

/** ONNX Erf, element-wise. */
export function erfTensor(x: Tensor): Tensor {
  const src = x.data;
  const out = takeF64(src.length);
  for (let i = 0; i < src.length; i++) out[i] = erf(src[i]!);
  return { dims: [...x.dims], data: out };
}
