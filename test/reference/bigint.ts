/**
 * Slow BigInt references for the exact linear kernels (docs/design.md §2): straightforward loops, every
 * product and sum in arbitrary precision, results reduced to canonical residues in [0, p). Written
 * independently of src/kernels (no shared index helpers) so they can cross-check the fast kernels.
 */
import { P } from '../../src/field/prime.js';
import type { ConvAttrs } from '../../src/kernels/names.js';

const BP = BigInt(P);

/** The canonical residue of an integer-valued number or bigint. */
export function modBig(v: bigint | number): number {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  const r = b % BP;
  return Number(r < 0n ? r + BP : r);
}

/**
 * (x ∗ w + bias) mod p, NCHW: x [N, C, H, W] data, w [M, C/group, kH, kW], bias [M] (optional).
 * Returns the output dims and canonical residues.
 */
export function convRef(
  xDims: readonly number[],
  x: ArrayLike<number>,
  wDims: readonly number[],
  w: ArrayLike<number>,
  attrs: ConvAttrs,
  bias?: ArrayLike<number>,
): { dims: number[]; data: Float64Array } {
  const [N, C, H, W] = xDims as [number, number, number, number];
  const [M, CG, KH, KW] = wDims as [number, number, number, number];
  const G = attrs.group;
  const MG = M / G;
  const [sH, sW] = attrs.strides;
  const [dH, dW] = attrs.dilations;
  const [pT, pL, pB, pR] = attrs.pads;
  if (CG * G !== C) throw new Error('channel mismatch');
  const OH = Math.floor((H + pT + pB - dH * (KH - 1) - 1) / sH) + 1;
  const OW = Math.floor((W + pL + pR - dW * (KW - 1) - 1) / sW) + 1;
  const out = new Float64Array(N * M * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / MG);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let acc = bias === undefined ? 0n : BigInt(bias[m]!);
          for (let c = 0; c < CG; c++) {
            const ic = g * CG + c;
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * sH - pT + ky * dH;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * sW - pL + kx * dW;
                if (ix < 0 || ix >= W) continue;
                const xv = BigInt(x[((n * C + ic) * H + iy) * W + ix]!);
                const wv = BigInt(w[((m * CG + c) * KH + ky) * KW + kx]!);
                acc += xv * wv;
              }
            }
          }
          out[((n * M + m) * OH + oy) * OW + ox] = modBig(acc);
        }
      }
    }
  }
  return { dims: [N, M, OH, OW], data: out };
}

/** (x·w + bias) mod p for x [B, K], w [K, N], bias [N] (optional); canonical residues [B, N]. */
export function gemmRef(
  B: number,
  K: number,
  N: number,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(B * N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      let acc = bias === undefined ? 0n : BigInt(bias[n]!);
      for (let k = 0; k < K; k++) acc += BigInt(x[b * K + k]!) * BigInt(w[k * N + n]!);
      out[b * N + n] = modBig(acc);
    }
  }
  return out;
}
