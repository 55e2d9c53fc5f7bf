/**
 * Column-form im2col for the float64 MatMul path of ort-exact.ts: a convolution becomes
 * w [group, M/group, K] · col [group, K, R], K = C/group·kH·kW. Pure copying, no arithmetic, so
 * exactness is the MatMul's (f64.ts).
 */
import type { ConvGeometry } from '../conv.js';

/**
 * Column-form im2col for output rows [oy0, oy1) of image n, group grp: col[k, r] at
 * dst[dstOff + k·ld + r], k over (c, ky, kx) in w's layout, r = (oy − oy0)·OW + ox; padding taps are 0.
 */
export function im2colCols(g: ConvGeometry, src: Float64Array, n: number, grp: number, oy0: number, oy1: number, dst: Float64Array, dstOff: number, ld: number): void {
  const { h, w, cg, kH, kW, ow, sH, sW, dH, dW, padTop, padLeft } = g;
  const plane = h * w;
  const xBase = (n * g.c + grp * cg) * plane;
  let row = dstOff;
  for (let c = 0; c < cg; c++) {
    const xc = xBase + c * plane;
    for (let ky = 0; ky < kH; ky++) {
      const dy = ky * dH - padTop;
      for (let kx = 0; kx < kW; kx++, row += ld) {
        const dx = kx * dW - padLeft;
        // output columns ox with 0 ≤ ox·sW + dx < w, as the half-open range [oxLo, oxHi)
        const oxLo = Math.min(ow, Math.max(0, Math.ceil(-dx / sW)));
        const oxHi = Math.max(oxLo, Math.min(ow, Math.floor((w - 1 - dx) / sW) + 1));
        let d = row;
        for (let oy = oy0; oy < oy1; oy++, d += ow) {
          const iy = oy * sH + dy;
          if (iy < 0 || iy >= h) {
            dst.fill(0, d, d + ow);
            continue;
          }
          if (oxLo > 0) dst.fill(0, d, d + oxLo);
          const xr = xc + iy * w + dx;
          if (sW === 1) {
            for (let ox = oxLo; ox < oxHi; ox++) dst[d + ox] = src[xr + ox]!;
          } else {
            for (let ox = oxLo, xi = xr + oxLo * sW; ox < oxHi; ox++, xi += sW) dst[d + ox] = src[xi]!;
          }
          if (oxHi < ow) dst.fill(0, d + oxHi, d + ow);
        }
      }
    }
  }
}
