/**
 * Exact linear layers over Z_p on onnxruntime-node's CPU kernels (docs/design.md §2, §6, §7): the same
 * results as field.ts (`convField`, `gemmField`: canonical residues in [0, p)), faster. This file
 * picks a path per layer and owns the sessions; each path is its own file under ort/:
 *
 * - integer GEMM (ort/int-gemm.ts, 'int-gemm' with 8-bit limbs of x, 'int-gemm-7' with 7-bit ones):
 *   single-group convolutions and dense layers as one u8×s8 `MatMulInteger` over limb planes of x
 *   and int8 limbs of w (MLAS's VNNI/AMX kernels) — when the start-up probe finds it exact;
 * - byte planes (ort/byte-planes.ts): convolutions whose weights fit int8 and whose fan-in allows it,
 *   as one uint8 `ConvInteger` over three byte planes of x — when its start-up probe finds this CPU's
 *   integer kernel exact;
 * - float64 (ort/f64.ts): every other convolution (a JS im2col, ort/im2col.ts, then one batched
 *   `MatMul` in double) and dense layers (one `MatMul`), exact under `assertExact`'s bound;
 * - depthwise convolutions (C/group = 1, more than one group) are memory-bound with a few taps per
 *   output, so they run on the direct JS kernel of conv.ts. (A single-group conv of a 1-channel input,
 *   like an image model's first layer on grey images, is one ordinary MatMul and stays on its path.)
 *
 * 'auto' takes the first of int-gemm, int-gemm-7, byte planes whose probe passes (float64 where none
 * does or a layer does not fit it); an integer-GEMM path is timed against float64 on each layer's
 * first call and the faster kept (which wins depends on the CPU's integer units and the weights'
 * width: bench/EXACT-TAX.md). One path can be forced (option `path`, or the environment variable
 * SLALOM_ORT_KERNEL) to test or measure it; a forced integer path whose probe fails is an error, never
 * an inexact result.
 */
import * as ort from 'onnxruntime-node';
import { InvalidArgumentError } from '../errors.js';
import { reduceInPlace } from '../field/modp.js';
import { formatDims, type Tensor } from '../tensor/tensor.js';
import { conv2d, convGeometry, isPointwise, type ConvGeometry } from './conv.js';
import { gemmOutputDims } from './gemm.js';
import type { ConvAttrs } from './names.js';
import { convBytePlanes, convIntegerModel, fitsInt8, MAX_BYTE_PLANE_K, probeConvInteger } from './ort/byte-planes.js';
import { ortLogSeverity, ortSafe } from './ort/env.js';
import { convF64, matmulF64, matmulF64Model } from './ort/f64.js';
import {
  convIntModel,
  convWeightLimbs,
  gemmIntModel,
  limbPlanes,
  planesOf,
  probeIntGemm,
  recombine,
  runInt,
  weightLimbs,
  type LimbBits,
} from './ort/int-gemm.js';
import { Scratch } from './ort/scratch.js';
import { aInt, aOneOf } from '../util/assert.js';

export { MAX_BYTE_PLANE_K } from './ort/byte-planes.js';

/** The exact paths, fastest first where their probes pass. */
export const ORT_KERNEL_PATHS = ['int-gemm', 'int-gemm-7', 'byte-planes', 'f64'] as const;
export type OrtKernelPath = (typeof ORT_KERNEL_PATHS)[number];

export interface OrtExactOptions {
  /** ORT intra-op threads (default 1). */
  readonly threads?: number;
  /**
   * Which path computes what it can (the rest goes to float64, depthwise to the direct kernel):
   * 'auto' (default, or SLALOM_ORT_KERNEL where set) the fastest whose probe passes; a named one is
   * forced, and `create` fails if its probe does not pass. Under 'auto' byte planes skip 1×1 stride-1
   * unpadded convolutions (one float64 MatMul with no im2col is faster); forced, they take those too.
   */
  readonly path?: 'auto' | OrtKernelPath;
}

/** What each path is, for the user. */
const PATH_DEVICE: Record<OrtKernelPath, string> = {
  'int-gemm': 'u8×s8 MatMulInteger over 8-bit limbs',
  'int-gemm-7': 'u8×s8 MatMulInteger over 7-bit limbs',
  'byte-planes': 'u8×u8 ConvInteger over byte planes, float64 MatMul',
  f64: 'float64 MatMul',
};

/** The path asked for: the option, else SLALOM_ORT_KERNEL, else 'auto'. */
function askedPath(opt: OrtExactOptions['path']): 'auto' | OrtKernelPath {
  const env = process.env['SLALOM_ORT_KERNEL'];
  const asked = opt ?? (env === undefined || env === '' ? 'auto' : env);
  return aOneOf(asked as 'auto' | OrtKernelPath, opt === undefined ? 'SLALOM_ORT_KERNEL' : 'path', ['auto', ...ORT_KERNEL_PATHS] as const);
}

/** One layer's integer-GEMM session (weights packed in it) and what reading its outputs needs. */
interface IntLayer {
  readonly session: ort.InferenceSession;
  readonly outputs: number;
  readonly limbs: number;
}

function checkLength(t: Tensor, what: string, op: string): void {
  let n = 1;
  for (const d of t.dims) n *= d;
  if (t.data.length !== n) throw new InvalidArgumentError(`${op}: ${what} has ${t.data.length} values for shape ${formatDims(t.dims)}`);
}

function attrsKey(a: ConvAttrs): string {
  return `${a.strides.join(',')}|${a.pads.join(',')}|${a.dilations.join(',')}|${a.group}`;
}

const POINTWISE: ConvAttrs = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 };

/**
 * Exact linear kernels on onnxruntime-node; results equal field.ts's. Not for use after `close()`.
 * The integer paths pack a weight array into its layer's session on first use and key it by the
 * array: a layer's weights never change; whoever changes an array's contents calls `release(w)` first.
 */
export class OrtExactKernels {
  readonly threads: number;
  /** The path that computes what it can (decided at create by the option and the probes). */
  readonly path: OrtKernelPath;
  /** What computes, for reports: "CPU, ort kernels (<path>: …)". */
  readonly device: string;
  readonly #options: ort.InferenceSession.SessionOptions;
  readonly #pointwiseBytes: boolean;
  readonly #f64: ort.InferenceSession;
  /** ConvInteger sessions by attributes (attributes are fixed in the graph; shapes are symbolic). */
  readonly #convInt = new Map<string, Promise<ort.InferenceSession>>();
  /** Integer-GEMM sessions by weight array, then by attributes and input size (fixed in the graph). */
  readonly #intLayers = new Map<Float64Array, Map<string, Promise<IntLayer>>>();
  /** Under 'auto': per weight array and layer key, whether the integer GEMM or float64 was faster. */
  readonly #tuned = new Map<Float64Array, Map<string, 'int' | 'f64'>>();
  /** Per weight array, the path of its last call. */
  readonly #chosen = new Map<Float64Array, 'int' | 'f64'>();
  readonly #tune: boolean;
  readonly #scratch = new Scratch();
  #closed = false;

  private constructor(threads: number, options: ort.InferenceSession.SessionOptions, f64: ort.InferenceSession, path: OrtKernelPath, asked: 'auto' | OrtKernelPath) {
    this.threads = threads;
    this.#tune = asked === 'auto';
    const pointwiseBytes = asked === 'byte-planes';
    this.#pointwiseBytes = pointwiseBytes;
    this.#options = options;
    this.#f64 = f64;
    this.path = path;
    const perLayer = this.#tune && (path === 'int-gemm' || path === 'int-gemm-7') ? ', or float64 MatMul where timed faster per layer' : '';
    this.device = `CPU, ort kernels (${path}: ${PATH_DEVICE[path]}${perLayer})`;
  }

  /** Whether convolutions may take the byte-plane ConvInteger path. */
  get bytePlanes(): boolean {
    return this.path === 'byte-planes';
  }

  static async create(opts: OrtExactOptions = {}): Promise<OrtExactKernels> {
    const threads = aInt(opts.threads ?? 1, 'threads', { min: 1 });
    const asked = askedPath(opts.path);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: ortLogSeverity(),
    };
    const f64 = await ort.InferenceSession.create(matmulF64Model(), options);
    let path: OrtKernelPath = 'f64';
    let probe: ort.InferenceSession | undefined;
    for (const candidate of asked === 'auto' ? ORT_KERNEL_PATHS : [asked]) {
      if (candidate === 'int-gemm' || candidate === 'int-gemm-7') {
        if (await probeIntGemm(candidate === 'int-gemm' ? 8 : 7, options)) path = candidate;
      } else if (candidate === 'byte-planes') {
        probe = await ort.InferenceSession.create(convIntegerModel(POINTWISE), options);
        if (await probeConvInteger(probe)) path = candidate;
        else await probe.release();
      } else path = candidate;
      if (path === candidate) break;
    }
    if (asked !== 'auto' && path !== asked) {
      await f64.release();
      throw new InvalidArgumentError(`the ${asked} kernel path is not exact on this CPU (its start-up probe failed); use another (one of ${ORT_KERNEL_PATHS.join(', ')})`);
    }
    const kernels = new OrtExactKernels(threads, options, f64, path, asked);
    if (path === 'byte-planes') kernels.#convInt.set(attrsKey(POINTWISE), Promise.resolve(probe!));
    return kernels;
  }

  /** Bits per limb of x on the integer-GEMM paths, undefined on the others. */
  get #limbBits(): LimbBits | undefined {
    return this.path === 'int-gemm' ? 8 : this.path === 'int-gemm-7' ? 7 : undefined;
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
    if (g.cg === 1 && g.group > 1) {
      const z = conv2d(x, w, attrs, bias);
      return { dims, data: reduceInPlace(z.data) };
    }
    const bits = this.#limbBits;
    const viaF64 = (): Promise<Float64Array> => convF64(this.#f64, this.#scratch, g, x.data, w.data, bias);
    if (bits !== undefined && g.group === 1) {
      const key = `${attrsKey(attrs)}|${g.c}x${g.h}x${g.w}|${g.m}`;
      return { dims, data: await this.#faster(w.data, key, () => this.#convInt8(g, key, x.data, w.data, bits, bias), viaF64) };
    }
    const bytes = this.bytePlanes && g.k <= MAX_BYTE_PLANE_K && (this.#pointwiseBytes || !isPointwise(g)) && fitsInt8(w.data);
    if (bytes) return { dims, data: await convBytePlanes(await this.#convIntSession(attrs), this.#scratch, g, x.data, w.data, bias) };
    return { dims, data: await viaF64() };
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
    const viaF64 = async (): Promise<Float64Array> => {
      const y = k === 0 ? new Float64Array(b * n) : await matmulF64(this.#f64, ortSafe(x.data), [1, b, k], ortSafe(w.data), [1, k, n]);
      if (bias !== undefined) {
        for (let r = 0; r < b; r++) for (let j = 0, o = r * n; j < n; j++) y[o + j] += bias[j]!;
      }
      return reduceInPlace(y);
    };
    const bits = this.#limbBits;
    if (bits !== undefined && k > 0) {
      const key = `gemm|${k}x${n}`;
      return { dims: [b, n], data: await this.#faster(w.data, key, () => this.#gemmInt8(key, b, k, n, x.data, w.data, bits, bias), viaF64) };
    }
    return { dims: [b, n], data: await viaF64() };
  }

  /** The path that computed the last call with weights `w` (after 'auto' timed both on its first call). */
  chosen(w: Float64Array): OrtKernelPath | undefined {
    const c = this.#chosen.get(w);
    return c === undefined ? undefined : c === 'int' ? this.path : 'f64';
  }

  /**
   * The integer GEMM, or under 'auto' whichever of it and float64 was faster on this layer's first
   * call (both exact; which wins depends on the CPU's integer units and the weights' limb count:
   * timed once per layer and input size, as cuDNN's benchmark mode picks its algorithms).
   */
  async #faster(w: Float64Array, key: string, int: () => Promise<Float64Array>, f64: () => Promise<Float64Array>): Promise<Float64Array> {
    if (!this.#tune) {
      this.#chosen.set(w, 'int');
      return int();
    }
    let choices = this.#tuned.get(w);
    if (choices === undefined) this.#tuned.set(w, (choices = new Map()));
    let choice = choices.get(key);
    let out: Float64Array | undefined;
    if (choice === undefined) {
      // a first run warms each path up (session creation, weight packing); the best of two more is timed
      const best = async (f: () => Promise<Float64Array>): Promise<number> => {
        out = await f();
        let ms = Infinity;
        for (let i = 0; i < 2; i++) {
          const t0 = performance.now();
          out = await f();
          ms = Math.min(ms, performance.now() - t0);
        }
        return ms;
      };
      const f64Ms = await best(f64);
      const intMs = await best(int);
      choice = f64Ms < intMs ? 'f64' : 'int';
      choices.set(key, choice);
    }
    this.#chosen.set(w, choice);
    return out ?? (choice === 'int' ? int() : f64());
  }

  /** Releases the sessions that hold the weights `w` (a layer that is gone). */
  release(w: Float64Array): void {
    this.#tuned.delete(w);
    this.#chosen.delete(w);
    const layers = this.#intLayers.get(w);
    if (layers === undefined) return;
    this.#intLayers.delete(w);
    for (const l of layers.values()) l.then((s) => s.session.release()).catch(() => {});
  }

  /** Releases every ORT session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const intLayers = [...this.#intLayers.values()].flatMap((m) => [...m.values()].map((l) => l.then((s) => s.session, () => undefined)));
    this.#intLayers.clear();
    this.#tuned.clear();
    this.#chosen.clear();
    const sessions = (await Promise.all([Promise.resolve(this.#f64), ...this.#convInt.values(), ...intLayers])).filter((s) => s !== undefined);
    this.#convInt.clear();
    this.#scratch.close();
    await Promise.all(sessions.map((s) => s.release()));
  }

  #open(): void {
    if (this.#closed) throw new InvalidArgumentError('OrtExactKernels used after close()');
  }

  async #convInt8(g: ConvGeometry, key: string, x: Float64Array, w: Float64Array, bits: LimbBits, bias: Float64Array | undefined): Promise<Float64Array> {
    const layer = await this.#intLayer(w, key, () => {
      const limbs = convWeightLimbs(g, w);
      return { ...convIntModel(g, limbs, bits), limbs: limbs.limbs };
    });
    const length = planesOf(bits) * x.length;
    const buffer = this.#scratch.take(length);
    const planes = new Uint8Array(buffer, 0, length);
    limbPlanes(x, bits, planes);
    const ys = await runInt(layer.session, 'planes', planes, [planesOf(bits) * g.n, g.c, g.h, g.w], layer.outputs, this.#scratch, buffer);
    const out = new Float64Array(g.n * g.m * g.oh * g.ow);
    recombine(ys, g.n, g.oh * g.ow, g.m, layer.limbs, bits, bias, out);
    return out;
  }

  async #gemmInt8(key: string, b: number, k: number, n: number, x: Float64Array, w: Float64Array, bits: LimbBits, bias: Float64Array | undefined): Promise<Float64Array> {
    const layer = await this.#intLayer(w, key, () => {
      const limbs = weightLimbs(k, n, (kk, j) => w[kk * n + j]!);
      return { ...gemmIntModel(k, limbs, bits), limbs: limbs.limbs };
    });
    const length = planesOf(bits) * b * k;
    const buffer = this.#scratch.take(length);
    const planes = new Uint8Array(buffer, 0, length);
    limbPlanes(x, bits, planes);
    const ys = await runInt(layer.session, 'a', planes, [planesOf(bits) * b, k], layer.outputs, this.#scratch, buffer);
    const out = new Float64Array(b * n);
    recombine(ys, b, 1, n, layer.limbs, bits, bias, out);
    return out;
  }

  /** The integer-GEMM session of weights `w` for `key`, built once by `build`. */
  #intLayer(w: Float64Array, key: string, build: () => { model: Uint8Array; outputs: number; limbs: number }): Promise<IntLayer> {
    let layers = this.#intLayers.get(w);
    if (layers === undefined) this.#intLayers.set(w, (layers = new Map()));
    let l = layers.get(key);
    if (l === undefined) {
      const { model, outputs, limbs } = build();
      l = ort.InferenceSession.create(model, this.#options).then((session) => ({ session, outputs, limbs }));
      layers.set(key, l);
      const forget = layers;
      l.catch(() => forget.delete(key));
    }
    return l;
  }

  #convIntSession(attrs: ConvAttrs): Promise<ort.InferenceSession> {
    const key = attrsKey(attrs);
    let s = this.#convInt.get(key);
    if (s === undefined) {
      s = ort.InferenceSession.create(convIntegerModel(attrs), this.#options);
      this.#convInt.set(key, s);
      s.catch(() => this.#convInt.delete(key));
    }
    return s;
  }
}
