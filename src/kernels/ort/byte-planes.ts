/**
 * The byte-plane path of ort-exact.ts, for convolutions whose weights are all integers in
 * [−128, 127] and whose fan-in K = C/group·kH·kW is at most MAX_BYTE_PLANE_K. x is reduced to
 * canonical residues r < 2^24 and split into three byte planes r = r0 + 2^8·r1 + 2^16·r2, stacked
 * along the batch axis; one ORT `ConvInteger` (uint8 × uint8 → int32, weights stored as w + 128 with
 * w_zero_point 128, im2col in native code) convolves all three. Each int32 accumulator is bounded by
 * 255·255·K < 2^31, so the plane results y_q = Σ r_q·w are exact; z = y0 + 2^8·y1 + 2^16·y2 + b has
 * |z| < 2^48 and is recombined exactly in doubles, then reduced. (uint8 × int8 is not used: on AVX2
 * without VNNI, MLAS's u8s8 kernel saturates pairwise int16 sums.) Because the exactness of an
 * integer kernel depends on the CPU's MLAS code path, `probeConvInteger` runs a worst case and the
 * kernels disable this path if it is not exact.
 */
import * as ort from 'onnxruntime-node';
import { mod } from '../../field/modp.js';
import { P } from '../../field/prime.js';
import { singleNodeModel } from '../../onnx/single-node.js';
import type { ConvGeometry } from '../conv.js';
import type { ConvAttrs } from '../names.js';
import type { Scratch } from './scratch.js';

/** Largest fan-in K for the byte-plane path: 255·255·K < 2^31. */
export const MAX_BYTE_PLANE_K = Math.floor((2 ** 31 - 1) / (255 * 255));

/** A ConvInteger with fixed attributes and symbolic shapes (uint8 x and w, scalar zero points). */
export function convIntegerModel(attrs: ConvAttrs): Uint8Array {
  return singleNodeModel({
    op: 'ConvInteger',
    inputs: [
      { name: 'x', elemType: 'uint8', dims: ['n', 'c', 'h', 'w'] },
      { name: 'w', elemType: 'uint8', dims: ['m', 'cg', 'kh', 'kw'] },
      { name: 'x_zero_point', elemType: 'uint8', dims: [] },
      { name: 'w_zero_point', elemType: 'uint8', dims: [] },
    ],
    outputs: [{ name: 'y', elemType: 'int32', dims: ['n', 'm', 'oh', 'ow'] }],
    attrs: { strides: { ints: attrs.strides }, pads: { ints: attrs.pads }, dilations: { ints: attrs.dilations }, group: { int: attrs.group } },
  });
}

/** True when every weight is an integer in [−128, 127]. */
export function fitsInt8(w: Float64Array): boolean {
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    if (!(v >= -128 && v <= 127) || Math.trunc(v) !== v) return false;
  }
  return true;
}

const ZERO_POINT_0 = new ort.Tensor('uint8', Uint8Array.of(0), []);
const ZERO_POINT_128 = new ort.Tensor('uint8', Uint8Array.of(128), []);

/** (x ∗ w + b) mod p in [0, p) on a `convIntegerModel(attrs)` session; w must pass `fitsInt8`. */
export async function convBytePlanes(session: ort.InferenceSession, scratch: Scratch, g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined): Promise<Float64Array> {
  // Three byte planes of the canonical residues of x, stacked as batch [plane·N + n].
  const size = x.length;
  const buffer = scratch.take(3 * size);
  const planes = new Uint8Array(buffer, 0, 3 * size);
  for (let i = 0; i < size; i++) {
    let v = x[i]!;
    if (!(v >= 0 && v < P)) v = mod(v);
    const r = v | 0;
    planes[i] = r & 255;
    planes[size + i] = (r >>> 8) & 255;
    planes[2 * size + i] = r >>> 16;
  }
  const wu = new Uint8Array(w.length);
  for (let i = 0; i < w.length; i++) wu[i] = w[i]! + 128;
  let res: ort.InferenceSession.ReturnType;
  try {
    res = await session.run({
      x: new ort.Tensor('uint8', planes, [3 * g.n, g.c, g.h, g.w]),
      w: new ort.Tensor('uint8', wu, [g.m, g.cg, g.kH, g.kW]),
      x_zero_point: ZERO_POINT_0,
      w_zero_point: ZERO_POINT_128,
    });
  } finally {
    scratch.give(buffer);
  }
  const y = res.y!.data;
  const outSize = g.n * g.m * g.oh * g.ow;
  if (!(y instanceof Int32Array) || y.length !== 3 * outSize) throw new TypeError('ConvInteger returned an unexpected tensor');
  const out = new Float64Array(outSize);
  const t = g.oh * g.ow;
  for (let n = 0; n < g.n; n++) {
    for (let ch = 0; ch < g.m; ch++) {
      const o = (n * g.m + ch) * t;
      const b = bias === undefined ? 0 : bias[ch]!;
      for (let i = o, end = o + t; i < end; i++) out[i] = mod(y[i]! + 256 * y[outSize + i]! + 65536 * y[2 * outSize + i]! + b);
    }
  }
  return out;
}

/**
 * Worst-case check of ConvInteger (uint8 × uint8, w_zero_point 128) on this CPU's kernels: a 1×1
 * convolution over K = MAX_BYTE_PLANE_K channels with x at 255 or alternating, weights at −128, 127
 * and mixed patterns; true when every output is exact.
 */
export async function probeConvInteger(session: ort.InferenceSession): Promise<boolean> {
  const k = MAX_BYTE_PLANE_K;
  const m = 4;
  const pos = 4;
  const x = new Uint8Array(k * pos); // [1, k, 1, pos]
  const w = new Uint8Array(m * k); // [m, k, 1, 1], stored as w + 128
  for (let c = 0; c < k; c++) {
    x[c * pos] = 255;
    x[c * pos + 1] = c % 2 === 0 ? 255 : 0;
    x[c * pos + 2] = (c * 11) % 256;
    x[c * pos + 3] = 255 - (c % 7);
    w[c] = 0; // w = −128
    w[k + c] = 255; // w = 127
    w[2 * k + c] = c % 2 === 0 ? 0 : 255;
    w[3 * k + c] = (c * 37) % 256;
  }
  try {
    const res = await session.run({
      x: new ort.Tensor('uint8', x, [1, k, 1, pos]),
      w: new ort.Tensor('uint8', w, [m, k, 1, 1]),
      x_zero_point: ZERO_POINT_0,
      w_zero_point: ZERO_POINT_128,
    });
    const y = res.y!.data;
    if (!(y instanceof Int32Array) || y.length !== m * pos) return false;
    for (let o = 0; o < m; o++) {
      for (let j = 0; j < pos; j++) {
        let s = 0;
        for (let c = 0; c < k; c++) s += x[c * pos + j]! * (w[o * k + c]! - 128);
        if (y[o * pos + j] !== s) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}
