/**
 * 2-D convolution (ONNX `Conv`, NCHW) in plain JavaScript doubles (docs/design.md §2, §6).
 *
 * One kernel serves two uses: float inference, and exact integer inference over Z_p. Every output is
 * bias[m] plus a sum of products x·w, and whatever order the kernel adds them in, each partial sum is
 * the bias plus a sub-sum of those products. With integer x (|x| ≤ p − 1), integer w and an integer
 * bias, every partial sum is therefore an integer of magnitude at most (p − 1)·Σ|w_row| + |b|; while
 * that is below 2^53 (`linearIsExact` in field/prime.ts, enforced by `assertExact` in field.ts) every
 * double operation is exact and the result is the true integer, whatever the blocking or order.
 *
 * Paths:
 * - depthwise (C/group = 1): direct loops over the kernel taps, no im2col;
 * - everything else: per (image, group) and per chunk of output positions, an im2col into rows
 *   (one row of C/group·kH·kW taps per output position; for 1×1 stride-1 unpadded convolutions a plain
 *   transpose) followed by a register-blocked dot-product GEMM (4 output channels × 2 positions per
 *   inner loop, accumulating over the contiguous tap axis).
 */
import { InvalidArgumentError } from '../errors.js';
import { formatDims, type Tensor } from '../tensor/tensor.js';
import type { ConvAttrs } from './names.js';

/** Output positions handled per j-block of the GEMM, so a block of im2col rows stays in L2. */
const J_BLOCK = 32;
/** Upper bound on the doubles of one im2col chunk (2 MiB), so the scratch never grows with the image. */
const CHUNK_ELEMS = 1 << 18;

/** A convolution's shape, resolved and checked once. */
export interface ConvGeometry {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly m: number;
  readonly kH: number;
  readonly kW: number;
  readonly group: number;
  /** Input channels per group. */
  readonly cg: number;
  /** Output channels per group. */
  readonly mg: number;
  readonly oh: number;
  readonly ow: number;
  readonly sH: number;
  readonly sW: number;
  readonly dH: number;
  readonly dW: number;
  readonly padTop: number;
  readonly padLeft: number;
  /** Taps per output value: cg·kH·kW (the GEMM's inner dimension). */
  readonly k: number;
}

function posInt(v: number, what: string, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`Conv: ${what} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Resolves and checks the shapes of a convolution; throws InvalidArgumentError on any inconsistency. */
export function convGeometry(xDims: readonly number[], wDims: readonly number[], attrs: ConvAttrs): ConvGeometry {
  if (xDims.length !== 4) throw new InvalidArgumentError(`Conv: x must be 4-D [N, C, H, W], got ${formatDims(xDims)}`);
  if (wDims.length !== 4) throw new InvalidArgumentError(`Conv: w must be 4-D [M, C/group, kH, kW], got ${formatDims(wDims)}`);
  const [n, c, h, w] = xDims as [number, number, number, number];
  const [m, cg, kH, kW] = wDims as [number, number, number, number];
  posInt(n, 'batch', 0);
  posInt(c, 'input channels');
  posInt(h, 'input height');
  posInt(w, 'input width');
  posInt(m, 'output channels');
  posInt(cg, 'w channels');
  posInt(kH, 'kernel height');
  posInt(kW, 'kernel width');
  const group = posInt(attrs.group, 'group');
  const [sH, sW] = attrs.strides;
  const [dH, dW] = attrs.dilations;
  const [padTop, padLeft, padBottom, padRight] = attrs.pads;
  posInt(sH, 'stride');
  posInt(sW, 'stride');
  posInt(dH, 'dilation');
  posInt(dW, 'dilation');
  for (const pad of attrs.pads) posInt(pad, 'pad', 0);
  if (c % group !== 0) throw new InvalidArgumentError(`Conv: group ${group} does not divide the ${c} input channels`);
  if (m % group !== 0) throw new InvalidArgumentError(`Conv: group ${group} does not divide the ${m} output channels`);
  if (cg !== c / group) {
    throw new InvalidArgumentError(
      `Conv: w ${formatDims(wDims)} has ${cg} channels per group, x ${formatDims(xDims)} with group ${group} needs ${c / group}`,
    );
  }
  const oh = Math.floor((h + padTop + padBottom - dH * (kH - 1) - 1) / sH) + 1;
  const ow = Math.floor((w + padLeft + padRight - dW * (kW - 1) - 1) / sW) + 1;
  if (oh < 1 || ow < 1) {
    throw new InvalidArgumentError(`Conv: kernel ${kH}×${kW} (dilation ${dH}, ${dW}) does not fit the padded input ${formatDims(xDims)}`);
  }
  return { n, c, h, w, m, kH, kW, group, cg, mg: m / group, oh, ow, sH, sW, dH, dW, padTop, padLeft, k: cg * kH * kW };
}

/** [N, M, OH, OW] for a convolution of x by w; throws InvalidArgumentError on inconsistent shapes. */
export function convOutputDims(xDims: readonly number[], wDims: readonly number[], attrs: ConvAttrs): number[] {
  const g = convGeometry(xDims, wDims, attrs);
  return [g.n, g.m, g.oh, g.ow];
}

function checkBias(bias: Float64Array | undefined, m: number): void {
  if (bias !== undefined && bias.length !== m) throw new InvalidArgumentError(`Conv: bias has ${bias.length} values, expected ${m}`);
}

function checkData(t: Tensor, what: string): void {
  let n = 1;
  for (const d of t.dims) n *= d;
  if (t.data.length !== n) throw new InvalidArgumentError(`Conv: ${what} has ${t.data.length} values for shape ${formatDims(t.dims)}`);
}

/**
 * Convolution of x [N, C, H, W] by w [M, C/group, kH, kW] plus an optional bias [M], in doubles.
 * Exact on integers within the bound of field/prime.ts (see the module comment).
 */
export function conv2d(x: Tensor, w: Tensor, attrs: ConvAttrs, bias?: Float64Array): Tensor {
  const g = convGeometry(x.dims, w.dims, attrs);
  checkData(x, 'x');
  checkData(w, 'w');
  checkBias(bias, g.m);
  const out = new Float64Array(g.n * g.m * g.oh * g.ow);
  if (out.length > 0) {
    if (g.cg === 1) depthwise(g, x.data, w.data, bias, out);
    else convGemm(g, x.data, w.data, bias, out);
  }
  return { dims: [g.n, g.m, g.oh, g.ow], data: out };
}

/** True for a 1×1, stride-1, unpadded convolution, whose im2col is a transpose. */
export function isPointwise(g: ConvGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.sH === 1 && g.sW === 1 && g.oh === g.h && g.ow === g.w;
}

/**
 * im2col for output positions [j0, j1) of image `n`, group `grp`: writes (j1 − j0) rows of g.k taps
 * (channel-major, then kH, then kW: w's layout) into dst from dstOff; taps in the padding are 0.
 */
export function im2colRows(g: ConvGeometry, x: Float64Array, n: number, grp: number, j0: number, j1: number, dst: Float64Array, dstOff: number): void {
  const { h, w, cg, kH, kW, ow, sH, sW, dH, dW, padTop, padLeft } = g;
  const plane = h * w;
  const xBase = (n * g.c + grp * cg) * plane;
  let d = dstOff;
  if (isPointwise(g)) {
    for (let j = j0; j < j1; j++) {
      let s = xBase + j;
      for (let c = 0; c < cg; c++, s += plane) dst[d++] = x[s]!;
    }
    return;
  }
  for (let j = j0; j < j1; j++) {
    const oy = (j / ow) | 0;
    const ox = j - oy * ow;
    const iy0 = oy * sH - padTop;
    const ix0 = ox * sW - padLeft;
    const interiorX = ix0 >= 0 && ix0 + (kW - 1) * dW < w;
    for (let c = 0; c < cg; c++) {
      const cBase = xBase + c * plane;
      for (let ky = 0; ky < kH; ky++) {
        const iy = iy0 + ky * dH;
        if (iy < 0 || iy >= h) {
          for (let kx = 0; kx < kW; kx++) dst[d++] = 0;
          continue;
        }
        const row = cBase + iy * w + ix0;
        if (interiorX) {
          for (let kx = 0, o = row; kx < kW; kx++, o += dW) dst[d++] = x[o]!;
        } else {
          for (let kx = 0, ix = ix0; kx < kW; kx++, ix += dW) dst[d++] = ix >= 0 && ix < w ? x[row + kx * dW]! : 0;
        }
      }
    }
  }
}

/** Output positions per im2col chunk: a multiple of J_BLOCK with chunk·k ≤ CHUNK_ELEMS (at least one block). */
export function chunkRows(k: number, total: number): number {
  const rows = Math.max(J_BLOCK, Math.floor(CHUNK_ELEMS / k / J_BLOCK) * J_BLOCK);
  return Math.min(rows, total);
}

function convGemm(g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined, out: Float64Array): void {
  const t = g.oh * g.ow;
  const rows = chunkRows(g.k, t);
  const col = new Float64Array(rows * g.k);
  for (let n = 0; n < g.n; n++) {
    for (let grp = 0; grp < g.group; grp++) {
      const wOff = grp * g.mg * g.k;
      const outBase = (n * g.m + grp * g.mg) * t;
      for (let j0 = 0; j0 < t; j0 += rows) {
        const j1 = Math.min(t, j0 + rows);
        im2colRows(g, x, n, grp, j0, j1, col, 0);
        dotRowsKernel(w, wOff, g.mg, g.k, col, j1 - j0, out, outBase + j0, t, bias, grp * g.mg);
      }
    }
  }
}

/**
 * out[outOff + m·outStride + r] = bias[biasOff + m] + Σ_k a[aOff + m·k + kk]·b[r·k + kk], for m < rowsA,
 * r < rowsB: a dot-product GEMM of two row-major operands sharing the contiguous inner axis,
 * register-blocked 4 × 2 and blocked over J_BLOCK rows of b.
 */
export function dotRowsKernel(
  a: Float64Array,
  aOff: number,
  rowsA: number,
  k: number,
  b: Float64Array,
  rowsB: number,
  out: Float64Array,
  outOff: number,
  outStride: number,
  bias: Float64Array | undefined,
  biasOff: number,
): void {
  for (let r0 = 0; r0 < rowsB; r0 += J_BLOCK) {
    const r1 = Math.min(rowsB, r0 + J_BLOCK);
    let m = 0;
    for (; m + 3 < rowsA; m += 4) {
      const a0 = aOff + m * k;
      const a1 = a0 + k;
      const a2 = a1 + k;
      const a3 = a2 + k;
      const z0 = bias === undefined ? 0 : bias[biasOff + m]!;
      const z1 = bias === undefined ? 0 : bias[biasOff + m + 1]!;
      const z2 = bias === undefined ? 0 : bias[biasOff + m + 2]!;
      const z3 = bias === undefined ? 0 : bias[biasOff + m + 3]!;
      const o0 = outOff + m * outStride;
      const o1 = o0 + outStride;
      const o2 = o1 + outStride;
      const o3 = o2 + outStride;
      let r = r0;
      for (; r + 1 < r1; r += 2) {
        const b0 = r * k;
        const b1 = b0 + k;
        let s00 = z0, s01 = z0, s10 = z1, s11 = z1, s20 = z2, s21 = z2, s30 = z3, s31 = z3;
        for (let kk = 0; kk < k; kk++) {
          const v0 = b[b0 + kk]!;
          const v1 = b[b1 + kk]!;
          let u = a[a0 + kk]!;
          s00 += u * v0;
          s01 += u * v1;
          u = a[a1 + kk]!;
          s10 += u * v0;
          s11 += u * v1;
          u = a[a2 + kk]!;
          s20 += u * v0;
          s21 += u * v1;
          u = a[a3 + kk]!;
          s30 += u * v0;
          s31 += u * v1;
        }
        out[o0 + r] = s00;
        out[o0 + r + 1] = s01;
        out[o1 + r] = s10;
        out[o1 + r + 1] = s11;
        out[o2 + r] = s20;
        out[o2 + r + 1] = s21;
        out[o3 + r] = s30;
        out[o3 + r + 1] = s31;
      }
      if (r < r1) {
        const b0 = r * k;
        let s0 = z0, s1 = z1, s2 = z2, s3 = z3;
        for (let kk = 0; kk < k; kk++) {
          const v = b[b0 + kk]!;
          s0 += a[a0 + kk]! * v;
          s1 += a[a1 + kk]! * v;
          s2 += a[a2 + kk]! * v;
          s3 += a[a3 + kk]! * v;
        }
        out[o0 + r] = s0;
        out[o1 + r] = s1;
        out[o2 + r] = s2;
        out[o3 + r] = s3;
      }
    }
    for (; m < rowsA; m++) {
      const a0 = aOff + m * k;
      const z = bias === undefined ? 0 : bias[biasOff + m]!;
      const o = outOff + m * outStride;
      let r = r0;
      for (; r + 1 < r1; r += 2) {
        const b0 = r * k;
        const b1 = b0 + k;
        let s0 = z, s1 = z;
        for (let kk = 0; kk < k; kk++) {
          const u = a[a0 + kk]!;
          s0 += u * b[b0 + kk]!;
          s1 += u * b[b1 + kk]!;
        }
        out[o + r] = s0;
        out[o + r + 1] = s1;
      }
      if (r < r1) {
        const b0 = r * k;
        let s = z;
        for (let kk = 0; kk < k; kk++) s += a[a0 + kk]! * b[b0 + kk]!;
        out[o + r] = s;
      }
    }
  }
}

/** Depthwise (one input channel per group, any channel multiplier): direct loops over the taps. */
function depthwise(g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined, out: Float64Array): void {
  const { h, w: wd, kH, kW, oh, ow, sH, sW, dH, dW, padTop, padLeft, mg } = g;
  const plane = h * wd;
  const oplane = oh * ow;
  for (let n = 0; n < g.n; n++) {
    for (let m = 0; m < g.m; m++) {
      const xc = (n * g.c + ((m / mg) | 0)) * plane;
      const o = (n * g.m + m) * oplane;
      if (bias !== undefined) out.fill(bias[m]!, o, o + oplane);
      for (let ky = 0; ky < kH; ky++) {
        const dy = ky * dH - padTop;
        // rows oy with 0 ≤ oy·sH + dy < h
        const oyLo = Math.max(0, Math.ceil(-dy / sH));
        const oyHi = Math.min(oh - 1, Math.floor((h - 1 - dy) / sH));
        for (let kx = 0; kx < kW; kx++) {
          const a = w[(m * kH + ky) * kW + kx]!;
          const dx = kx * dW - padLeft;
          const oxLo = Math.max(0, Math.ceil(-dx / sW));
          const oxHi = Math.min(ow - 1, Math.floor((wd - 1 - dx) / sW));
          if (oxLo > oxHi) continue;
          for (let oy = oyLo; oy <= oyHi; oy++) {
            const xr = xc + (oy * sH + dy) * wd + dx;
            const orow = o + oy * ow;
            if (sW === 1) {
              for (let ox = oxLo; ox <= oxHi; ox++) out[orow + ox] += a * x[xr + ox]!;
            } else {
              for (let ox = oxLo, xi = xr + oxLo * sW; ox <= oxHi; ox++, xi += sW) out[orow + ox] += a * x[xi]!;
            }
          }
        }
      }
    }
  }
}
