/**
 * The integer-GEMM path of ort-exact.ts: an exact linear layer as one onnxruntime `MatMulInteger`
 * (uint8 × int8 → int32) over limbs, so that MLAS's integer kernels (AVX-512 VNNI, AVX-VNNI, AMX)
 * compute it.
 *
 * - x: each canonical residue r < 2^24 is split into P = ⌈24/b⌉ limbs of b bits (b = 8: three bytes;
 *   b = 7 where the CPU's u8×s8 kernel saturates 8-bit pairs, see below), r = Σ_q 2^{b·q}·r_q. The
 *   limb planes are stacked along the GEMM's rows, so one MatMulInteger computes all of them.
 * - w: weights in [−128, 127] are one int8 limb; wider integer weights are cut into L balanced base-256
 *   digits d_j ∈ [−128, 127] (w = Σ_j 2^{8j}·d_j), stacked along the GEMM's columns.
 * - convolutions: the input's limb planes are laid out NHWC with the padding written as zeros, and an
 *   ONNX `Gather` with constant indices [R, kH·kW] copies runs of C bytes per tap in native code (the
 *   im2col), giving rows of K = kH·kW·C taps ordered (tap, channel); the weights are reordered to match.
 *   Dense layers need no im2col. Per layer and input size the weights are an initializer of its own
 *   session, so onnxruntime packs them once.
 *
 * Bounds. Every int32 accumulator is Σ_k x_{q,k}·d_{j,k} with x_q ≤ 2^b − 1 and |d_j| ≤ 128, so
 * |acc| ≤ K·(2^b − 1)·128 < 2^31 while K ≤ maxK(b) (65 793 for b = 8, 132 104 for b = 7); a longer K is
 * split into chunks of at most maxK, each its own MatMulInteger, and the chunks are added in doubles.
 * Recombination is Horner's rule, first over weight limbs (t_q = Σ_j 2^{8j}·y_{q,j}), then over x limbs
 * (z = Σ_q 2^{bq}·t_q, from the top): every intermediate is Σ_k ⌊r_k/2^{bq}⌋·hi_j(w_k) for a prefix of
 * digits, at most 2^24·(Σ|w| + K) in magnitude, and the final z + bias is at most (p − 1)·Σ|w| + |b|,
 * below 2^53 by `assertExact` (field/prime.ts): so every double operation is exact, and z mod p is
 * the exact residue.
 *
 * Whether a CPU's kernel really is exact (MLAS's AVX2 u8×s8 kernel without VNNI adds pairs of
 * products in saturating int16: 2·255·128 overflows, 2·127·128 does not) is decided at start-up by
 * `probeIntGemm` on worst-case operands through the very session shape the layers use.
 */
import * as ort from 'onnxruntime-node';
import { mod } from '../../field/modp.js';
import { P } from '../../field/prime.js';
import { OnnxBuilder } from '../../onnx/build.js';
import type { ConvGeometry } from '../conv.js';
import type { Scratch } from './scratch.js';

/** Bits per limb of x: 8 (three planes) where the probe finds the kernel exact, else 7 (four). */
export type LimbBits = 8 | 7;

/** Largest K per MatMulInteger: K·(2^b − 1)·128 ≤ 2^31 − 1. */
export function maxK(bits: LimbBits): number {
  return Math.floor((2 ** 31 - 1) / ((2 ** bits - 1) * 128));
}

/** Limb planes of x for `bits`-bit limbs: residues are below 2^24. */
export function planesOf(bits: LimbBits): number {
  return Math.ceil(24 / bits);
}

/** Output rows per tile of the recombination's transpose. */
const RECOMBINE_TILE = 32;

/** Numbers that canonical or |v| < p inputs come in. */
type Values = Float64Array | Uint32Array;

/** Weights as L balanced base-256 digits, laid out [K, L·M] for the GEMM. */
export interface WeightLimbs {
  readonly limbs: number;
  /** [K, L·M] int8: column j·M + m holds digit j of output m's weights. */
  readonly data: Int8Array;
}

/**
 * The digits of integer weights (`at(k, m)` for k < K, m < M), as few as cover the widest weight:
 * d = ((w + 128) mod 256) − 128, w ← (w − d)/256, until every w is 0.
 */
export function weightLimbs(k: number, m: number, at: (k: number, m: number) => number): WeightLimbs {
  let widest = 0;
  for (let kk = 0; kk < k; kk++) for (let j = 0; j < m; j++) widest = Math.max(widest, Math.abs(at(kk, j)));
  let limbs = 1;
  // L digits cover |w| ≤ 127·(256^L − 1)/255 (the largest all-127 value): a safe, simple bound.
  while (widest > (127 * (256 ** limbs - 1)) / 255) limbs++;
  const data = new Int8Array(k * limbs * m);
  const lm = limbs * m;
  for (let kk = 0; kk < k; kk++) {
    for (let j = 0; j < m; j++) {
      let v = at(kk, j);
      for (let l = 0; l < limbs; l++) {
        const d = (((v + 128) % 256) + 256) % 256 - 128;
        data[kk * lm + l * m + j] = d;
        v = (v - d) / 256;
      }
    }
  }
  return { limbs, data };
}

/** K ranges [start, end) of at most maxK(bits) each. */
function kChunks(k: number, bits: LimbBits): [number, number][] {
  const step = maxK(bits);
  const out: [number, number][] = [];
  for (let s = 0; s < k; s += step) out.push([s, Math.min(k, s + step)]);
  return out;
}

/**
 * The MatMulInteger nodes of a layer: `a` [rows, K] uint8 times each K chunk of the weight limbs,
 * outputs y0, y1, … [rows, L·M] int32.
 */
function addMatMuls(b: OnnxBuilder, k: number, w: WeightLimbs, bits: LimbBits): number {
  const chunks = kChunks(k, bits);
  const lm = w.data.length / k;
  chunks.forEach(([s, e], i) => {
    const name = `w${i}`;
    b.initializer(name, [e - s, lm], w.data.subarray(s * lm, e * lm));
    let a = 'a';
    if (chunks.length > 1) {
      a = `a${i}`;
      b.initializer(`${a}_start`, [1], BigInt64Array.of(BigInt(s)));
      b.initializer(`${a}_end`, [1], BigInt64Array.of(BigInt(e)));
      b.initializer(`${a}_axis`, [1], BigInt64Array.of(1n));
      b.node('Slice', ['a', `${a}_start`, `${a}_end`, `${a}_axis`], [a]);
    }
    b.node('MatMulInteger', [a, name], [`y${i}`]);
    b.output(`y${i}`, ['rows', lm], 'int32');
  });
  return chunks.length;
}

/** A dense layer's session graph: planes [rows, K] uint8 → y_i [rows, L·M] int32. */
export function gemmIntModel(k: number, w: WeightLimbs, bits: LimbBits): { model: Uint8Array; outputs: number } {
  const b = new OnnxBuilder('int_gemm');
  b.input('a', ['rows', k], 'uint8');
  const outputs = addMatMuls(b, k, w, bits);
  return { model: b.toBytes(), outputs };
}

/** Whether the convolution's im2col is the identity on NHWC rows (1×1, stride 1, no padding). */
function noIm2col(g: ConvGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.sH === 1 && g.sW === 1 && g.oh === g.h && g.ow === g.w;
}

/** Padded height and width of the NHWC planes (bottom/right padding only as far as taps reach). */
function paddedSize(g: ConvGeometry): [number, number] {
  const hp = Math.max(g.padTop + g.h, (g.oh - 1) * g.sH + (g.kH - 1) * g.dH + 1);
  const wp = Math.max(g.padLeft + g.w, (g.ow - 1) * g.sW + (g.kW - 1) * g.dW + 1);
  return [hp, wp];
}

/**
 * A single-group convolution's session graph: limb planes [P·N, C, H, W] uint8 → NHWC (Transpose) →
 * zero padding (Pad) → [P·N, Hp·Wp, C] → Gather of the taps → a [P·N·R, K] → y_i [P·N·R, L·M] int32,
 * K ordered (ky, kx, c). Layout changes of bytes only, in native code.
 */
export function convIntModel(g: ConvGeometry, w: WeightLimbs, bits: LimbBits): { model: Uint8Array; outputs: number } {
  const b = new OnnxBuilder('int_conv');
  const [hp, wp] = paddedSize(g);
  const taps = g.kH * g.kW;
  b.input('planes', ['pn', g.c, g.h, g.w], 'uint8');
  b.node('Transpose', ['planes'], ['nhwc'], { perm: [0, 2, 3, 1] });
  let padded = 'nhwc';
  if (hp !== g.h || wp !== g.w) {
    b.initializer('pads', [8], BigInt64Array.from([0, g.padTop, g.padLeft, 0, 0, hp - g.padTop - g.h, wp - g.padLeft - g.w, 0], BigInt));
    b.node('Pad', ['nhwc', 'pads'], ['padded']);
    padded = 'padded';
  }
  b.initializer('shape', [2], BigInt64Array.of(-1n, BigInt(g.k)));
  if (noIm2col(g)) {
    b.node('Reshape', [padded, 'shape'], ['a']);
  } else {
    const r = g.oh * g.ow;
    const idx = new BigInt64Array(r * taps);
    for (let oy = 0, i = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        for (let ky = 0; ky < g.kH; ky++) {
          for (let kx = 0; kx < g.kW; kx++) idx[i++] = BigInt((oy * g.sH + ky * g.dH) * wp + ox * g.sW + kx * g.dW);
        }
      }
    }
    b.initializer('rows', [3], BigInt64Array.of(-1n, BigInt(hp * wp), BigInt(g.c)));
    b.node('Reshape', [padded, 'rows'], ['pixels']);
    b.initializer('idx', [r, taps], idx);
    b.node('Gather', ['pixels', 'idx'], ['taps'], { axis: 1 });
    b.node('Reshape', ['taps', 'shape'], ['a']);
  }
  const outputs = addMatMuls(b, g.k, w, bits);
  return { model: b.toBytes(), outputs };
}

/** Weight limbs of a single-group convolution, rows ordered (ky, kx, c) as convIntModel's taps. */
export function convWeightLimbs(g: ConvGeometry, w: Float64Array): WeightLimbs {
  const taps = g.kH * g.kW;
  return weightLimbs(g.k, g.m, (kk, m) => {
    const t = Math.floor(kk / g.c);
    const c = kk - t * g.c;
    return w[(m * g.c + c) * taps + t]!;
  });
}

/** The canonical residue of x[i]. */
function residueAt(x: Values, i: number): number {
  const v = x[i]!;
  return v >= 0 && v < P ? v : mod(v);
}

/**
 * Limb planes [P, …x's shape] of x, each in x's own layout (a dense layer's [P·B, K]; a convolution's
 * [P·N, C, H, W]), into `dst`: one sequential pass.
 */
export function limbPlanes(x: Values, bits: LimbBits, dst: Uint8Array): void {
  const size = x.length;
  const mask = 2 ** bits - 1;
  const planes = planesOf(bits);
  if (planes === 3) {
    const d1 = dst.subarray(size, 2 * size);
    const d2 = dst.subarray(2 * size, 3 * size);
    for (let i = 0; i < size; i++) {
      const r = residueAt(x, i);
      dst[i] = r & mask;
      d1[i] = (r >>> bits) & mask;
      d2[i] = r >>> (2 * bits);
    }
    return;
  }
  for (let i = 0; i < size; i++) {
    let r = residueAt(x, i);
    for (let q = 0, o = i; q < planes; q++, o += size) {
      dst[o] = r & mask;
      r >>>= bits;
    }
  }
}

/**
 * out[(n·M + m)·R + r] = (Σ_q 2^{bq} Σ_j 2^{8j} Σ_i y_i[((q·N + n)·R + r), j·M + m] + bias[m]) mod p:
 * the recombination of the module comment, written NCHW (a dense layer is R = 1, N = batch).
 */
export function recombine(ys: readonly Int32Array[], n: number, rows: number, m: number, limbs: number, bits: LimbBits, bias: Float64Array | undefined, out: Values): void {
  const planes = planesOf(bits);
  const base = 2 ** bits;
  const lm = limbs * m;
  const planeRows = n * rows;
  if (ys.length === 1 && limbs === 1 && planes === 3) {
    // the common case, unrolled: one K chunk, int8 weights, three byte planes
    const y = ys[0]!;
    const s1 = planeRows * m;
    const s2 = 2 * s1;
    const bb = base * base;
    // tiles of RECOMBINE_TILE rows, so the transposed reads stay in L1 and the writes are sequential
    for (let nn = 0; nn < n; nn++) {
      for (let r0 = 0; r0 < rows; r0 += RECOMBINE_TILE) {
        const r1 = Math.min(rows, r0 + RECOMBINE_TILE);
        for (let j = 0; j < m; j++) {
          const b = bias === undefined ? 0 : bias[j]!;
          let o = (nn * m + j) * rows + r0;
          for (let i = (nn * rows + r0) * m + j, end = (nn * rows + r1) * m; i < end; i += m, o++) {
            out[o] = mod(y[i]! + base * y[s1 + i]! + bb * y[s2 + i]! + b);
          }
        }
      }
    }
    return;
  }
  // every other case, tiled the same way: Horner over the limbs of each (plane, K chunk)
  const planeStride = planeRows * lm;
  for (let nn = 0; nn < n; nn++) {
    for (let r0 = 0; r0 < rows; r0 += RECOMBINE_TILE) {
      const r1 = Math.min(rows, r0 + RECOMBINE_TILE);
      for (let j = 0; j < m; j++) {
        const b = bias === undefined ? 0 : bias[j]!;
        let o = (nn * m + j) * rows + r0;
        for (let i = (nn * rows + r0) * lm + j, end = (nn * rows + r1) * lm; i < end; i += lm, o++) {
          let z = 0;
          for (let q = planes - 1, iq = i + q * planeStride; q >= 0; q--, iq -= planeStride) {
            let t = 0;
            for (let l = limbs - 1, il = iq + l * m; l >= 0; l--, il -= m) {
              let s = 0;
              for (let c = 0; c < ys.length; c++) s += ys[c]![il]!;
              t = t * 256 + s;
            }
            z = z * base + t;
          }
          out[o] = mod(z + b);
        }
      }
    }
  }
}

/** Runs a layer session on limb planes and returns its int32 outputs. */
export async function runInt(session: ort.InferenceSession, input: string, planes: Uint8Array, dims: readonly number[], outputs: number, scratch: Scratch, buffer: ArrayBuffer): Promise<Int32Array[]> {
  let res: ort.InferenceSession.ReturnType;
  try {
    res = await session.run({ [input]: new ort.Tensor('uint8', planes, [...dims]) });
  } finally {
    scratch.give(buffer);
  }
  const ys: Int32Array[] = [];
  for (let i = 0; i < outputs; i++) {
    const y = res[`y${i}`]?.data;
    if (!(y instanceof Int32Array)) throw new TypeError('MatMulInteger returned an unexpected tensor');
    ys.push(y);
  }
  return ys;
}

/**
 * Worst-case check of u8×s8 MatMulInteger with `bits`-bit limbs on this CPU, through a dense-layer
 * session as the layers use (weights packed as an initializer): K = maxK(bits), rows of x at 2^b − 1,
 * alternating, and mixed; weight columns at −128, at 127, alternating (the pairs that saturate an
 * int16 pair sum) and mixed. True when every int32 output is exact (their largest magnitude is the
 * int32 bound itself, K·(2^b − 1)·128).
 */
export async function probeIntGemm(bits: LimbBits, options: ort.InferenceSession.SessionOptions): Promise<boolean> {
  const k = maxK(bits);
  const top = 2 ** bits - 1;
  // 32 × 32 outputs (tiles of the wide kernels, AMX's 16-row ones included) over 6 row and 16 column patterns
  const rows = 32;
  const cols = 32;
  const xPattern = (r: number, kk: number): number => [top, kk % 2 === 0 ? top : 0, (kk * 11) & top, top - (kk % 7), kk % 4 < 2 ? top : 0, (kk * 5 + 3) & top][r % 6]!;
  const wPattern = (j: number, kk: number): number => {
    const kind = j % 4;
    return kind === 0 ? -128 : kind === 1 ? 127 : kind === 2 ? (kk % 2 === 0 ? -128 : 127) : ((kk * 37 + j) % 256) - 128;
  };
  const x = new Uint8Array(rows * k);
  const w = new Int8Array(k * cols);
  for (let kk = 0; kk < k; kk++) {
    for (let r = 0; r < rows; r++) x[r * k + kk] = xPattern(r, kk);
    for (let j = 0; j < cols; j++) w[kk * cols + j] = wPattern(j % 16, kk);
  }
  const want = new Float64Array(6 * 16);
  for (let r = 0; r < 6; r++) for (let j = 0; j < 16; j++) for (let kk = 0; kk < k; kk++) want[r * 16 + j] += xPattern(r, kk) * wPattern(j, kk);
  let session: ort.InferenceSession | undefined;
  try {
    const { model } = gemmIntModel(k, { limbs: 1, data: w }, bits);
    session = await ort.InferenceSession.create(model, options);
    const res = await session.run({ a: new ort.Tensor('uint8', x, [rows, k]) });
    const y = res['y0']?.data;
    if (!(y instanceof Int32Array) || y.length !== rows * cols) return false;
    for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) if (y[r * cols + j] !== want[(r % 6) * 16 + (j % 16)]) return false;
    return true;
  } catch {
    return false;
  } finally {
    await session?.release();
  }
}
