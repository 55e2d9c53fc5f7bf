/**
 * The linear-algebra pieces Freivalds' checks are made of (docs/design.md §3), for a Conv (any stride,
 * padding, dilation, group — depthwise and pointwise included) or a Gemm viewed as a 1×1 conv over
 * a 1×1 image. All results are canonical residues mod p.
 *
 * - collapse(r):        V = W·r, the single-output-channel weight [C, kH, kW] with
 *                       V[c, ·] = Σ_{m in c's group} r_m·W[m, c mod C/g, ·];
 * - combineOutputs(Y, r): Y·r per output pixel, Σ_m r_m·Y[n, m, o];
 * - applyCollapsed(X, V): conv(X, V) per output pixel — equals Y·r when Y = conv(X, W);
 * - transposeCollapsed(s, V): T = convᵀ(s ⊗ V), shape of one input item, so that
 *                       ⟨X_n, T⟩ = Σ_o s_o·conv(X_n, V)[o].
 *
 * Exactness: residues are < 2^24, so one product is < 2^48 and sums are reduced at least every 31
 * terms (< 2^53). conv(X, V) cannot reduce inside the conv kernel, so V is split into limbs of b bits
 * with fanIn·(p − 1)·(2^b − 1) < 2^53, each limb's conv is exact (field/prime.ts), and the limbs are
 * recombined mod p.
 */
import { P } from '../field/prime.js';
import { conv2d, convGeometry, type ConvGeometry } from '../kernels/conv.js';
import type { LinearWeights } from '../kernels/names.js';
import type { Residues } from '../field/residues.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import type { Tensor } from '../tensor/tensor.js';

/** A layer as Freivalds' checks see it: its LinearSpec and weights, viewed as a convolution. */
export interface LinearMap extends LinearWeights {
  readonly name: string;
  /** Geometry of one batch item (n = 1); Gemm as C = K inputs, M = N outputs, 1×1 everywhere. */
  readonly g: ConvGeometry;
  /** max |w̃|, bounds the products in collapse(). */
  readonly maxAbsW: number;
  /** Elements of one input item (C·H·W) and one output item (M·OH·OW). */
  readonly inSize: number;
  readonly outSize: number;
}

export function linearMap(layer: QuantizedLayer): LinearMap {
  const item = [1, ...layer.inDims.slice(1)];
  let g: ConvGeometry;
  if (layer.op === 'Conv') {
    g = convGeometry(item, layer.w.dims, layer.conv!);
  } else {
    const [k, n] = [layer.w.dims[0]!, layer.w.dims[1]!];
    g = { n: 1, c: k, h: 1, w: 1, m: n, kH: 1, kW: 1, group: 1, cg: k, mg: n, oh: 1, ow: 1, sH: 1, sW: 1, dH: 1, dW: 1, padTop: 0, padLeft: 0, k };
  }
  let maxAbsW = 0;
  for (const v of layer.w.data) maxAbsW = Math.max(maxAbsW, Math.abs(v));
  return { name: layer.name, op: layer.op, ...(layer.conv ? { conv: layer.conv } : {}), wDims: layer.wDims, inDims: layer.inDims, outDims: layer.outDims, g, w: layer.w, maxAbsW, inSize: g.c * g.h * g.w, outSize: g.m * g.oh * g.ow };
}

/** V = W·r: [C·kH·kW] residues (Gemm: [K]). */
export function collapse(map: LinearMap, r: Float64Array): Float64Array {
  const { g, w } = map;
  const taps = g.kH * g.kW;
  const v = new Float64Array(g.c * taps);
  // A reduced accumulator (|acc| < p) plus `every` terms of at most max|w|·(p − 1) stays below 2^53.
  // Weights so large that even one term breaks that (|w| > 2^52/(p − 1) ≈ 2^28: allowed by the
  // exactness bound of prime.ts, never produced by the quantizer) are reduced mod p first.
  const huge = (P - 1) * map.maxAbsW > Number.MAX_SAFE_INTEGER / 2;
  const wd = huge ? w.data.map((x) => ((x % P) + P) % P) : w.data;
  const every = Math.max(1, Math.floor(Number.MAX_SAFE_INTEGER / 2 / ((P - 1) * Math.max(1, huge ? P - 1 : map.maxAbsW))));
  if (map.op === 'Gemm') {
    const n = g.m;
    for (let k = 0; k < g.c; k++) {
      let acc = 0;
      const row = k * n;
      for (let j = 0, since = 0; j < n; j++) {
        acc += wd[row + j]! * r[j]!;
        if (++since === every) {
          acc %= P;
          since = 0;
        }
      }
      v[k] = ((acc % P) + P) % P;
    }
    return v;
  }
  const per = g.cg * taps;
  for (let grp = 0; grp < g.group; grp++) {
    const acc = v.subarray(grp * per, (grp + 1) * per);
    let since = 0;
    for (let mi = 0; mi < g.mg; mi++) {
      const m = grp * g.mg + mi;
      const rm = r[m]!;
      const base = m * per;
      for (let i = 0; i < per; i++) acc[i] += wd[base + i]! * rm;
      if (++since === every) {
        for (let i = 0; i < per; i++) acc[i] %= P;
        since = 0;
      }
    }
    for (let i = 0; i < per; i++) acc[i] = ((acc[i]! % P) + P) % P;
  }
  return v;
}

/** Σ_m r_m·Y[n, m, o] for every item n and output pixel o: [N·OH·OW]. */
export function combineOutputs(map: LinearMap, y: Residues, r: Float64Array): Float64Array {
  const pixels = map.g.oh * map.g.ow;
  const m = map.g.m;
  const items = y.length / map.outSize;
  const out = new Float64Array(items * pixels);
  for (let n = 0; n < items; n++) {
    const acc = out.subarray(n * pixels, (n + 1) * pixels);
    const base = n * map.outSize;
    let since = 0;
    for (let ch = 0; ch < m; ch++) {
      const rc = r[ch]!;
      const off = base + ch * pixels;
      for (let o = 0; o < pixels; o++) acc[o] += y[off + o]! * rc;
      if (++since === 31) {
        for (let o = 0; o < pixels; o++) acc[o] %= P;
        since = 0;
      }
    }
    for (let o = 0; o < pixels; o++) acc[o] %= P;
  }
  return out;
}

/** conv(X, V) mod p per item and output pixel: [N·OH·OW], exact through limb splitting. */
export function applyCollapsed(map: LinearMap, x: Residues, v: Float64Array): Float64Array {
  const { g } = map;
  const items = x.length / map.inSize;
  const fanIn = g.c * g.kH * g.kW;
  const limbBits = Math.min(24, Math.floor(Math.log2(Number.MAX_SAFE_INTEGER / (fanIn * (P - 1) + 1) + 1)));
  const limbs = Math.ceil(24 / limbBits);
  const base = 2 ** limbBits;
  // The conv kernel is exact in doubles under the limb bound below; residues convert exactly.
  const xt: Tensor = { dims: [items, g.c, g.h, g.w], data: Float64Array.from(x) };
  const attrs = { strides: [g.sH, g.sW], pads: [g.padTop, g.padLeft, padEnd(g, 'h'), padEnd(g, 'w')], dilations: [g.dH, g.dW], group: 1 } as const;
  const out = new Float64Array(items * g.oh * g.ow);
  let rest = Float64Array.from(v);
  let weight = 1;
  for (let l = 0; l < limbs; l++) {
    const limb = rest.map((val) => val % base);
    rest = rest.map((val) => Math.floor(val / base));
    const part = conv2d(xt, { dims: [1, g.c, g.kH, g.kW], data: limb }, attrs).data;
    for (let i = 0; i < out.length; i++) out[i] = (out[i]! + (part[i]! % P) * weight) % P;
    weight = (weight * base) % P;
  }
  return out;
}

/** The bottom/right padding that makes the conv produce exactly OH×OW (extra padding is never read). */
function padEnd(g: ConvGeometry, axis: 'h' | 'w'): number {
  const [size, k, s, d, begin, out] = axis === 'h' ? [g.h, g.kH, g.sH, g.dH, g.padTop, g.oh] : [g.w, g.kW, g.sW, g.dW, g.padLeft, g.ow];
  return Math.max(0, (out - 1) * s + d * (k - 1) + 1 - size - begin);
}

/** T = convᵀ(s ⊗ V) for one item: [C·H·W] residues with ⟨X_n, T⟩ = Σ_o s_o·conv(X_n, V)[o]. */
export function transposeCollapsed(map: LinearMap, s: Float64Array, v: Float64Array): Float64Array {
  const { g } = map;
  const t = new Float64Array(map.inSize);
  const taps = g.kH * g.kW;
  for (let c = 0; c < g.c; c++) {
    const plane = c * g.h * g.w;
    for (let kh = 0; kh < g.kH; kh++) {
      for (let kw = 0; kw < g.kW; kw++) {
        const vk = v[c * taps + kh * g.kW + kw]!;
        if (vk === 0) continue;
        for (let oh = 0; oh < g.oh; oh++) {
          const ih = oh * g.sH - g.padTop + kh * g.dH;
          if (ih < 0 || ih >= g.h) continue;
          for (let ow = 0; ow < g.ow; ow++) {
            const iw = ow * g.sW - g.padLeft + kw * g.dW;
            if (iw < 0 || iw >= g.w) continue;
            // Each (kh, kw) adds at most one term per entry: T stays below kH·kW·p < 2^53.
            t[plane + ih * g.w + iw] += (s[oh * g.ow + ow]! * vk) % P;
          }
        }
      }
    }
  }
  for (let i = 0; i < t.length; i++) t[i] %= P;
  return t;
}
