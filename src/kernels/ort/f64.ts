/**
 * The float64 path of ort-exact.ts: one batched ORT `MatMul` in double. A convolution is
 * w [group, M/group, K] · col [group, K, R] → [group, M/group, R] over a JS im2col (im2col.ts), which
 * for R = OH·OW is already the NCHW output of one image; a 1×1 stride-1 unpadded convolution needs no
 * im2col. A dense layer is one `MatMul` x [B, K] · w [K, N].
 *
 * Exactness: the integers involved satisfy the bound of field.ts ((p − 1)·Σ|w_row| + |b| ≤ 2^53 − 1,
 * checked by `assertExact`), so every partial sum ORT may form, in any order or blocking, is an
 * integer below 2^53 and exact; a fused multiply-add rounds once and is exact as well.
 */
import * as ort from 'onnxruntime-node';
import { mod } from '../../field/modp.js';
import { singleNodeModel } from '../../onnx/single-node.js';
import { isPointwise, type ConvGeometry } from '../conv.js';
import { ortSafe } from './env.js';
import { im2colCols } from './im2col.js';
import type { Scratch } from './scratch.js';

/** Upper bound on the elements of one im2col chunk (16 MiB of doubles). */
const CHUNK_ELEMS = 1 << 21;

/** A batched MatMul A [g, m, k] · B [g, k, n] in double, every dim symbolic. */
export function matmulF64Model(): Uint8Array {
  return singleNodeModel({
    op: 'MatMul',
    inputs: [
      { name: 'A', elemType: 'double', dims: ['g', 'm', 'k'] },
      { name: 'B', elemType: 'double', dims: ['g', 'k', 'n'] },
    ],
    outputs: [{ name: 'Y', elemType: 'double', dims: ['g', 'm', 'n'] }],
  });
}

/** Runs the MatMul session of `matmulF64Model`. */
export async function matmulF64(session: ort.InferenceSession, a: Float64Array, aDims: readonly number[], b: Float64Array, bDims: readonly number[]): Promise<Float64Array> {
  const r = await session.run({ A: new ort.Tensor('float64', a, aDims), B: new ort.Tensor('float64', b, bDims) });
  const y = r.Y!.data;
  if (!(y instanceof Float64Array)) throw new TypeError('MatMul returned a non-float64 tensor');
  return y;
}

/** (x ∗ w + b) mod p in [0, p) through im2col and MatMul (chunked along output rows). */
export async function convF64(session: ort.InferenceSession, scratch: Scratch, g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined): Promise<Float64Array> {
  const t = g.oh * g.ow;
  const wa = ortSafe(w);
  const aDims = [g.group, g.mg, g.k];
  if (isPointwise(g)) {
    const xs = ortSafe(x);
    // The MatMul result [group, mg, t] of one image is that image's NCHW output.
    if (g.n === 1) return storeWhole(g, await matmulF64(session, wa, aDims, xs, [g.group, g.k, t]), bias);
    const out = new Float64Array(g.n * g.m * t);
    for (let n = 0; n < g.n; n++) {
      const y = await matmulF64(session, wa, aDims, xs.subarray(n * g.c * t, (n + 1) * g.c * t), [g.group, g.k, t]);
      storeChunk(g, y, n, 0, t, bias, out);
    }
    return out;
  }
  // Output rows per chunk, so that one chunk's im2col holds at most CHUNK_ELEMS doubles.
  const rows = Math.max(1, Math.min(g.oh, Math.floor(CHUNK_ELEMS / (g.group * g.k * g.ow))));
  const colElems = g.group * g.k * rows * g.ow;
  const buffer = scratch.take(colElems * 8);
  const col = new Float64Array(buffer, 0, colElems);
  try {
    if (g.n === 1 && rows === g.oh) {
      for (let grp = 0; grp < g.group; grp++) im2colCols(g, x, 0, grp, 0, g.oh, col, grp * g.k * t, t);
      return storeWhole(g, await matmulF64(session, wa, aDims, col, [g.group, g.k, t]), bias);
    }
    const out = new Float64Array(g.n * g.m * t);
    for (let n = 0; n < g.n; n++) {
      for (let oy0 = 0; oy0 < g.oh; oy0 += rows) {
        const oy1 = Math.min(g.oh, oy0 + rows);
        const r = (oy1 - oy0) * g.ow;
        for (let grp = 0; grp < g.group; grp++) im2colCols(g, x, n, grp, oy0, oy1, col, grp * g.k * r, r);
        const y = await matmulF64(session, wa, aDims, col.subarray(0, g.group * g.k * r), [g.group, g.k, r]);
        storeChunk(g, y, n, oy0 * g.ow, r, bias, out);
      }
    }
    return out;
  } finally {
    scratch.give(buffer);
  }
}

/** The output of a single image computed in one MatMul ([M, OH·OW]): adds the bias and reduces in place. */
function storeWhole(g: ConvGeometry, y: Float64Array, bias: Float64Array | undefined): Float64Array {
  const t = g.oh * g.ow;
  for (let ch = 0; ch < g.m; ch++) {
    const b = bias === undefined ? 0 : bias[ch]!;
    for (let i = ch * t, end = i + t; i < end; i++) y[i] = mod(y[i]! + b);
  }
  return y;
}

/** out[n, ch, j0 + r] = (y[ch, r] + b[ch]) mod p for a chunk y [group·mg = M, rows]. */
function storeChunk(g: ConvGeometry, y: Float64Array, n: number, j0: number, rows: number, bias: Float64Array | undefined, out: Float64Array): void {
  const t = g.oh * g.ow;
  for (let ch = 0; ch < g.m; ch++) {
    const src = ch * rows;
    const dst = (n * g.m + ch) * t + j0;
    const b = bias === undefined ? 0 : bias[ch]!;
    for (let r = 0; r < rows; r++) out[dst + r] = mod(y[src + r]! + b);
  }
}
