/**
 * Exact linear layers over Z_p on onnxruntime-node's CPU kernels (DESIGN.md §2, §6, §7): the same
 * results as field.ts (`convField`, `gemmField`: canonical residues in [0, p)), faster.
 *
 * Float64 path (always available). A convolution becomes a JS im2col (column form, col [K, R]) and one
 * batched ORT `MatMul` in double: w [group, M/group, K] · col [group, K, R] → [group, M/group, R], which
 * for R = OH·OW is already the NCHW output of one image; a 1×1 stride-1 unpadded convolution needs no
 * im2col at all. A dense layer is one `MatMul` x [B, K] · w [K, N]. Exactness: the integers involved
 * satisfy the bound of field.ts ((p − 1)·Σ|w_row| + |b| < 2^53, checked by `assertExact`), so every
 * partial sum ORT may form, in any order or blocking, is an integer below 2^53 and exact; a fused
 * multiply-add rounds once and is exact as well.
 *
 * Byte-plane path (convolutions, when every weight lies in [−128, 127] and K ≤ 33 025). x is reduced
 * to canonical residues r < 2^24 and split into three byte planes r = r0 + 2^8·r1 + 2^16·r2; one
 * `MatMulInteger` (uint8 × uint8 → int32, weights stored as w + 128 with a_zero_point 128) computes the
 * three plane products. Every int32 accumulator is bounded by 255·255·K < 2^31, so the products are
 * exact; y0 + 2^8·y1 + 2^16·y2 + b < 2^48 is recombined exactly in doubles and reduced. (uint8 × int8
 * is not used: on AVX2 without VNNI, MLAS's u8s8 kernel saturates pairwise int16 sums.) Because the
 * exactness of an integer kernel depends on the CPU's MLAS code path, `create` runs a worst-case
 * probe and disables the byte-plane path if the probe is not exact.
 *
 * Depthwise convolutions (C/group = 1) are memory-bound with a few taps per output, so they run on the
 * direct JS kernel of conv.ts.
 */
import { create as createMessage, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { InvalidArgumentError } from '../errors.js';
import { P } from '../field/prime.js';
import { reduceInPlace } from '../field/modp.js';
import { formatDims, type Tensor } from '../tensor/tensor.js';
import { conv2d, convGeometry, isPointwise, type ConvGeometry } from './conv.js';
import { gemmOutputDims } from './gemm.js';
import type { ConvAttrs } from './names.js';

/** Upper bound on the elements of one im2col chunk (16 MiB of doubles). */
const CHUNK_ELEMS = 1 << 21;
/** Largest K for the byte-plane path: 255·255·K < 2^31. */
export const MAX_BYTE_PLANE_K = Math.floor((2 ** 31 - 1) / (255 * 255));

/** One graph input or output: name, ONNX element type, dims (strings are symbolic dim_params). */
export interface ValueSpec {
  readonly name: string;
  readonly elemType: TensorProto_DataType;
  readonly dims: readonly (number | string)[];
}

/**
 * Serialises a one-node ONNX model (ir_version 8, default-domain opset 13 unless given) with INT and
 * INTS attributes; symbolic dims let one session serve every shape.
 */
export function singleNodeModel(
  opType: string,
  inputs: readonly ValueSpec[],
  outputs: readonly ValueSpec[],
  attributes: Readonly<Record<string, number | readonly number[]>> = {},
  opset = 13,
): Uint8Array {
  const valueInfo = (v: ValueSpec) =>
    createMessage(ValueInfoProtoSchema, {
      name: v.name,
      type: createMessage(TypeProtoSchema, {
        value: {
          case: 'tensorType',
          value: createMessage(TypeProto_TensorSchema, {
            elemType: v.elemType,
            shape: createMessage(TensorShapeProtoSchema, {
              dim: v.dims.map((d) =>
                createMessage(TensorShapeProto_DimensionSchema, {
                  value: typeof d === 'string' ? { case: 'dimParam', value: d } : { case: 'dimValue', value: BigInt(d) },
                }),
              ),
            }),
          }),
        },
      }),
    });
  const attribute = Object.entries(attributes).map(([name, v]) =>
    typeof v === 'number'
      ? createMessage(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) })
      : createMessage(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: v.map((e) => BigInt(e)) }),
  );
  const node = createMessage(NodeProtoSchema, { opType, input: inputs.map((v) => v.name), output: outputs.map((v) => v.name), attribute });
  const graph = createMessage(GraphProtoSchema, {
    name: opType,
    node: [node],
    input: inputs.map(valueInfo),
    output: outputs.map(valueInfo),
  });
  const model = createMessage(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'slalom',
    opsetImport: [createMessage(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    graph,
  });
  return toBinary(ModelProtoSchema, model);
}

export interface OrtExactOptions {
  /** ORT intra-op threads (default 1). */
  readonly threads?: number;
  /**
   * Byte-plane MatMulInteger for convolutions: 'auto' (default) uses it when the weights allow and
   * the startup probe was exact; 'never' always uses float64.
   */
  readonly bytePlanes?: 'auto' | 'never';
}

const DOUBLE = TensorProto_DataType.DOUBLE;
const UINT8 = TensorProto_DataType.UINT8;
const INT32 = TensorProto_DataType.INT32;

function matmulF64Model(): Uint8Array {
  return singleNodeModel(
    'MatMul',
    [
      { name: 'A', elemType: DOUBLE, dims: ['g', 'm', 'k'] },
      { name: 'B', elemType: DOUBLE, dims: ['g', 'k', 'n'] },
    ],
    [{ name: 'Y', elemType: DOUBLE, dims: ['g', 'm', 'n'] }],
  );
}

function matmulU8Model(): Uint8Array {
  return singleNodeModel(
    'MatMulInteger',
    [
      { name: 'A', elemType: UINT8, dims: ['g', 'm', 'k'] },
      { name: 'B', elemType: UINT8, dims: ['g', 'k', 'n'] },
      { name: 'a_zero_point', elemType: UINT8, dims: [] },
    ],
    [{ name: 'Y', elemType: INT32, dims: ['g', 'm', 'n'] }],
  );
}

/** ORT refuses typed arrays on a SharedArrayBuffer: copy those. */
function ortSafe<T extends Float64Array | Uint8Array>(a: T): T {
  return a.buffer instanceof ArrayBuffer ? a : (a.slice() as T);
}

function checkLength(t: Tensor, what: string, op: string): void {
  let n = 1;
  for (const d of t.dims) n *= d;
  if (t.data.length !== n) throw new InvalidArgumentError(`${op}: ${what} has ${t.data.length} values for shape ${formatDims(t.dims)}`);
}

/**
 * Column-form im2col for output rows [oy0, oy1) of image n, group grp: col[k, r] at
 * dst[dstOff + k·ld + r], k over (c, ky, kx) in w's layout, r = (oy − oy0)·OW + ox; padding taps are 0.
 */
function im2colCols<A extends Float64Array | Uint8Array>(
  g: ConvGeometry,
  src: A,
  n: number,
  grp: number,
  oy0: number,
  oy1: number,
  dst: A,
  dstOff: number,
  ld: number,
): void {
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
        const oxLo = Math.min(ow, Math.max(0, Math.ceil(-dx / sW)));
        const oxHi = Math.max(oxLo, Math.min(ow, Math.floor((w - 1 - dx) / sW) + 1));
        let d = row;
        for (let oy = oy0; oy < oy1; oy++) {
          const iy = oy * sH + dy;
          if (iy < 0 || iy >= h) {
            dst.fill(0, d, d + ow);
            d += ow;
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
          d += ow;
        }
      }
    }
  }
}

/** True when every weight is an integer in [−128, 127]. */
function fitsInt8(w: Float64Array): boolean {
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    if (!(v >= -128 && v <= 127) || Math.trunc(v) !== v) return false;
  }
  return true;
}

/** Exact linear kernels on onnxruntime-node; results equal field.ts's. */
export class OrtExactKernels {
  readonly threads: number;
  /** Whether convolutions may use the byte-plane MatMulInteger path (set at create from the probe). */
  readonly bytePlanes: boolean;
  readonly #f64: ort.InferenceSession;
  readonly #u8: ort.InferenceSession | undefined;
  readonly #zp128 = new ort.Tensor('uint8', Uint8Array.of(128), []);
  #closed = false;

  private constructor(threads: number, f64: ort.InferenceSession, u8: ort.InferenceSession | undefined) {
    this.threads = threads;
    this.#f64 = f64;
    this.#u8 = u8;
    this.bytePlanes = u8 !== undefined;
  }

  static async create(opts: OrtExactOptions = {}): Promise<OrtExactKernels> {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
    const f64 = await ort.InferenceSession.create(matmulF64Model(), sessionOptions);
    let u8: ort.InferenceSession | undefined;
    if ((opts.bytePlanes ?? 'auto') === 'auto') {
      u8 = await ort.InferenceSession.create(matmulU8Model(), sessionOptions);
      if (!(await probeBytePlanes(u8))) {
        await u8.release();
        u8 = undefined;
      }
    }
    return new OrtExactKernels(threads, f64, u8);
  }

  /** (x ∗ w + b) mod p in [0, p): integer x with |x| < p, integer w and b within `assertExact`'s bound. */
  async convField(x: Tensor, w: Tensor, attrs: ConvAttrs, bias?: Float64Array): Promise<Tensor> {
    this.#open();
    const g = convGeometry(x.dims, w.dims, attrs);
    checkLength(x, 'x', 'Conv');
    checkLength(w, 'w', 'Conv');
    if (bias !== undefined && bias.length !== g.m) throw new InvalidArgumentError(`Conv: bias has ${bias.length} values, expected ${g.m}`);
    const dims = [g.n, g.m, g.oh, g.ow];
    if (g.n * g.m * g.oh * g.ow === 0) return { dims, data: new Float64Array(0) };
    if (g.cg === 1) {
      const z = conv2d(x, w, attrs, bias);
      reduceInPlace(z.data);
      return z;
    }
    const out = new Float64Array(g.n * g.m * g.oh * g.ow);
    if (this.#u8 !== undefined && g.k <= MAX_BYTE_PLANE_K && fitsInt8(w.data)) await this.#convBytes(g, x.data, w.data, bias, out);
    else await this.#convF64(g, x.data, w.data, bias, out);
    return { dims, data: out };
  }

  /** (x·w + b) mod p in [0, p) for x [B, K], w [K, N], b [N]: integers within `assertExact`'s bound. */
  async gemmField(x: Tensor, w: Tensor, bias?: Float64Array): Promise<Tensor> {
    this.#open();
    const [b, n] = gemmOutputDims(x.dims, w.dims);
    const k = w.dims[0]!;
    checkLength(x, 'x', 'Gemm');
    checkLength(w, 'w', 'Gemm');
    if (bias !== undefined && bias.length !== n) throw new InvalidArgumentError(`Gemm: bias has ${bias.length} values, expected ${n}`);
    if (b * n === 0) return { dims: [b, n], data: new Float64Array(0) };
    if (k === 0) {
      const z = new Float64Array(b * n);
      if (bias !== undefined) for (let r = 0; r < b; r++) z.set(bias, r * n);
      return { dims: [b, n], data: reduceInPlace(z) };
    }
    const y = await this.#matmulF64(ortSafe(x.data), [1, b, k], ortSafe(w.data), [1, k, n]);
    if (bias !== undefined) {
      for (let r = 0; r < b; r++) for (let j = 0, o = r * n; j < n; j++) y[o + j] += bias[j]!;
    }
    return { dims: [b, n], data: reduceInPlace(y) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#f64.release();
    if (this.#u8 !== undefined) await this.#u8.release();
  }

  #open(): void {
    if (this.#closed) throw new InvalidArgumentError('OrtExactKernels used after close()');
  }

  async #matmulF64(a: Float64Array, aDims: readonly number[], b: Float64Array, bDims: readonly number[]): Promise<Float64Array> {
    const r = await this.#f64.run({ A: new ort.Tensor('float64', a, aDims), B: new ort.Tensor('float64', b, bDims) });
    const y = r.Y!.data;
    if (!(y instanceof Float64Array)) throw new TypeError('MatMul returned a non-float64 tensor');
    return y;
  }

  /** Output rows per chunk so that one chunk's im2col holds at most CHUNK_ELEMS elements. */
  #chunkRows(g: ConvGeometry): number {
    return Math.max(1, Math.min(g.oh, Math.floor(CHUNK_ELEMS / (g.group * g.k * g.ow))));
  }

  async #convF64(g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined, out: Float64Array): Promise<void> {
    const t = g.oh * g.ow;
    const wa = ortSafe(w);
    const aDims = [g.group, g.mg, g.k];
    if (isPointwise(g)) {
      const xs = ortSafe(x);
      for (let n = 0; n < g.n; n++) {
        const xn = xs.subarray(n * g.c * t, (n + 1) * g.c * t);
        const y = await this.#matmulF64(wa, aDims, xn, [g.group, g.k, t]);
        storeChunk(g, y, n, 0, t, bias, out);
      }
      return;
    }
    const rows = this.#chunkRows(g);
    const col = new Float64Array(g.group * g.k * rows * g.ow);
    for (let n = 0; n < g.n; n++) {
      for (let oy0 = 0; oy0 < g.oh; oy0 += rows) {
        const oy1 = Math.min(g.oh, oy0 + rows);
        const r = (oy1 - oy0) * g.ow;
        for (let grp = 0; grp < g.group; grp++) im2colCols(g, x, n, grp, oy0, oy1, col, grp * g.k * r, r);
        const y = await this.#matmulF64(wa, aDims, col.subarray(0, g.group * g.k * r), [g.group, g.k, r]);
        storeChunk(g, y, n, oy0 * g.ow, r, bias, out);
      }
    }
  }

  async #convBytes(g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | undefined, out: Float64Array): Promise<void> {
    const u8 = this.#u8!;
    // Byte planes of the canonical residues of x.
    const planes = [new Uint8Array(x.length), new Uint8Array(x.length), new Uint8Array(x.length)] as const;
    for (let i = 0; i < x.length; i++) {
      let r = x[i]! % P;
      if (r < 0) r += P;
      planes[0][i] = r & 255;
      planes[1][i] = (r >>> 8) & 255;
      planes[2][i] = r >>> 16;
    }
    const wu = new Uint8Array(w.length);
    for (let i = 0; i < w.length; i++) wu[i] = w[i]! + 128;
    const aTensor = new ort.Tensor('uint8', wu, [g.group, g.mg, g.k]);
    const rows = this.#chunkRows(g);
    const col = new Uint8Array(g.group * g.k * 3 * rows * g.ow);
    for (let n = 0; n < g.n; n++) {
      for (let oy0 = 0; oy0 < g.oh; oy0 += rows) {
        const oy1 = Math.min(g.oh, oy0 + rows);
        const r = (oy1 - oy0) * g.ow;
        for (let grp = 0; grp < g.group; grp++) {
          for (let q = 0; q < 3; q++) im2colCols(g, planes[q], n, grp, oy0, oy1, col, grp * g.k * 3 * r + q * r, 3 * r);
        }
        const res = await u8.run({
          A: aTensor,
          B: new ort.Tensor('uint8', col.subarray(0, g.group * g.k * 3 * r), [g.group, g.k, 3 * r]),
          a_zero_point: this.#zp128,
        });
        const y = res.Y!.data;
        if (!(y instanceof Int32Array)) throw new TypeError('MatMulInteger returned a non-int32 tensor');
        storePlanes(g, y, n, oy0 * g.ow, r, bias, out);
      }
    }
  }
}

/** out[n, grp·mg + m, j0 + r] = (y[grp, m, r] + b) mod p for a float64 chunk y [group, mg, rows]. */
function storeChunk(g: ConvGeometry, y: Float64Array, n: number, j0: number, rows: number, bias: Float64Array | undefined, out: Float64Array): void {
  const t = g.oh * g.ow;
  for (let ch = 0; ch < g.m; ch++) {
    const src = ch * rows;
    const dst = (n * g.m + ch) * t + j0;
    const b = bias === undefined ? 0 : bias[ch]!;
    for (let r = 0; r < rows; r++) {
      const v = (y[src + r]! + b) % P;
      out[dst + r] = v < 0 ? v + P : v;
    }
  }
}

/** Like storeChunk for a byte-plane chunk y [group, mg, 3·rows]: z = y0 + 2^8·y1 + 2^16·y2 + b. */
function storePlanes(g: ConvGeometry, y: Int32Array, n: number, j0: number, rows: number, bias: Float64Array | undefined, out: Float64Array): void {
  const t = g.oh * g.ow;
  for (let ch = 0; ch < g.m; ch++) {
    const src = ch * 3 * rows;
    const dst = (n * g.m + ch) * t + j0;
    const b = bias === undefined ? 0 : bias[ch]!;
    for (let r = 0; r < rows; r++) {
      const z = y[src + r]! + 256 * y[src + rows + r]! + 65536 * y[src + 2 * rows + r]! + b;
      const v = z % P;
      out[dst + r] = v < 0 ? v + P : v;
    }
  }
}

/**
 * Worst-case check of the uint8 MatMulInteger kernel on this CPU: B all 255, A mixing 0 and 255 (w at
 * −128 and 127) over K = MAX_BYTE_PLANE_K and alternating patterns; true when every output is exact.
 */
async function probeBytePlanes(session: ort.InferenceSession): Promise<boolean> {
  const k = MAX_BYTE_PLANE_K;
  const m = 4;
  const n = 8;
  const a = new Uint8Array(m * k);
  const b = new Uint8Array(k * n);
  for (let i = 0; i < k; i++) {
    a[i] = 0; // w = −128 everywhere
    a[k + i] = 255; // w = 127 everywhere
    a[2 * k + i] = i % 2 === 0 ? 0 : 255;
    a[3 * k + i] = (i * 37) % 256;
    for (let j = 0; j < n; j++) b[i * n + j] = j === 0 ? 255 : j === 1 ? (i % 2 === 0 ? 255 : 0) : (i * 11 + j * 101) % 256;
  }
  try {
    const res = await session.run({
      A: new ort.Tensor('uint8', a, [1, m, k]),
      B: new ort.Tensor('uint8', b, [1, k, n]),
      a_zero_point: new ort.Tensor('uint8', Uint8Array.of(128), []),
    });
    const y = res.Y!.data;
    if (!(y instanceof Int32Array) || y.length !== m * n) return false;
    for (let r = 0; r < m; r++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += (a[r * k + i]! - 128) * b[i * n + j]!;
        if (y[r * n + j] !== s) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}
