/**
 * Exact linear layers over Z_p on onnxruntime-node's CPU kernels (docs/design.md §2, §6, §7): the same
 * results as field.ts (`convField`, `gemmField`: canonical residues in [0, p)), faster. This file
 * picks a path per layer and owns the sessions; each path is its own file under ort/:
 *
 * - byte planes (ort/byte-planes.ts): convolutions whose weights fit int8 and whose fan-in allows it,
 *   as one uint8 `ConvInteger` over three byte planes of x — when the start-up probe finds this CPU's
 *   integer kernel exact;
 * - float64 (ort/f64.ts): every other convolution (a JS im2col, ort/im2col.ts, then one batched
 *   `MatMul` in double) and dense layers (one `MatMul`), exact under `assertExact`'s bound;
 * - depthwise convolutions (C/group = 1, more than one group) are memory-bound with a few taps per
 *   output, so they run on the direct JS kernel of conv.ts. (A single-group conv of a 1-channel input,
 *   like an image model's first layer on grey images, is one ordinary MatMul and stays on float64.)
 */
import * as ort from 'onnxruntime-node';
import { InvalidArgumentError } from '../errors.js';
import { reduceInPlace } from '../field/modp.js';
import { formatDims, type Tensor } from '../tensor/tensor.js';
import { conv2d, convGeometry, isPointwise } from './conv.js';
import { gemmOutputDims } from './gemm.js';
import type { ConvAttrs } from './names.js';
import { convBytePlanes, convIntegerModel, fitsInt8, MAX_BYTE_PLANE_K, probeConvInteger } from './ort/byte-planes.js';
import { ortLogSeverity, ortSafe } from './ort/env.js';
import { convF64, matmulF64, matmulF64Model } from './ort/f64.js';
import { Scratch } from './ort/scratch.js';
import { aInt, aOneOf } from '../util/assert.js';

export { MAX_BYTE_PLANE_K } from './ort/byte-planes.js';

export interface OrtExactOptions {
  /** ORT intra-op threads (default 1). */
  readonly threads?: number;
  /**
   * Byte-plane ConvInteger for convolutions, whenever the weights allow and the startup probe was
   * exact: 'auto' (default) for convolutions that need an im2col (1×1 stride-1 unpadded ones are
   * faster as one float64 MatMul with no im2col), 'always' for those too, 'never' not at all.
   */
  readonly bytePlanes?: 'auto' | 'always' | 'never';
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

/** Exact linear kernels on onnxruntime-node; results equal field.ts's. Not for use after `close()`. */
export class OrtExactKernels {
  readonly threads: number;
  /** Whether convolutions may take the byte-plane ConvInteger path (decided at create by the probe). */
  readonly bytePlanes: boolean;
  readonly #options: ort.InferenceSession.SessionOptions;
  readonly #pointwiseBytes: boolean;
  readonly #f64: ort.InferenceSession;
  /** ConvInteger sessions by attributes (attributes are fixed in the graph; shapes are symbolic). */
  readonly #convInt = new Map<string, Promise<ort.InferenceSession>>();
  readonly #scratch = new Scratch();
  #closed = false;

  private constructor(threads: number, options: ort.InferenceSession.SessionOptions, f64: ort.InferenceSession, bytePlanes: boolean, pointwiseBytes: boolean) {
    this.threads = threads;
    this.#pointwiseBytes = pointwiseBytes;
    this.#options = options;
    this.#f64 = f64;
    this.bytePlanes = bytePlanes;
  }

  static async create(opts: OrtExactOptions = {}): Promise<OrtExactKernels> {
    const threads = aInt(opts.threads ?? 1, 'threads', { min: 1 });
    const mode = aOneOf(opts.bytePlanes ?? 'auto', 'bytePlanes', ['auto', 'always', 'never'] as const);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: ortLogSeverity(),
    };
    const f64 = await ort.InferenceSession.create(matmulF64Model(), options);
    let probe: ort.InferenceSession | undefined;
    if (mode !== 'never') {
      probe = await ort.InferenceSession.create(convIntegerModel(POINTWISE), options);
      if (!(await probeConvInteger(probe))) {
        await probe.release();
        probe = undefined;
      }
    }
    const kernels = new OrtExactKernels(threads, options, f64, probe !== undefined, mode === 'always');
    if (probe !== undefined) kernels.#convInt.set(attrsKey(POINTWISE), Promise.resolve(probe));
    return kernels;
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
    const bytes = this.bytePlanes && g.k <= MAX_BYTE_PLANE_K && (this.#pointwiseBytes || !isPointwise(g)) && fitsInt8(w.data);
    if (bytes) return { dims, data: await convBytePlanes(await this.#convIntSession(attrs), this.#scratch, g, x.data, w.data, bias) };
    return { dims, data: await convF64(this.#f64, this.#scratch, g, x.data, w.data, bias) };
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
    const y = k === 0 ? new Float64Array(b * n) : await matmulF64(this.#f64, ortSafe(x.data), [1, b, k], ortSafe(w.data), [1, k, n]);
    if (bias !== undefined) {
      for (let r = 0; r < b; r++) for (let j = 0, o = r * n; j < n; j++) y[o + j] += bias[j]!;
    }
    return { dims: [b, n], data: reduceInPlace(y) };
  }

  /** Releases every ORT session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sessions = await Promise.all([Promise.resolve(this.#f64), ...this.#convInt.values()]);
    this.#convInt.clear();
    this.#scratch.close();
    await Promise.all(sessions.map((s) => s.release()));
  }

  #open(): void {
    if (this.#closed) throw new InvalidArgumentError('OrtExactKernels used after close()');
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
