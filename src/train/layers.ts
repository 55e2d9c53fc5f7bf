/**
 * The layers of a trainable network (docs/design.md §8): forward and backward passes in float64 in the
 * trusted runtime, except the linear products, which go through train/products.ts — forward
 * Y = X·W, backward dX = dY·Wᵀ and dW = Xᵀ·dY (computed as its transpose dYᵀ·X), each on per-step
 * quantized operands. A convolution is a Gemm over im2col rows (its input gradient the convolution
 * of dY with the flipped kernel, im2col(dY)·W′, its weight gradient im2col(X)ᵀ·dY), so every product
 * has the one shape the check handles; a Dense layer over token rows ([n, tokens, features]) is one Gemm of n·tokens rows.
 * BatchNorm uses batch statistics (and keeps running ones for inference); ReLU, max and average
 * pooling, the residual sum and the loss never leave the trusted runtime. The transformer's layers
 * (LayerNorm, GELU, self-attention, the token plumbing, its residual) are in their own modules beside this one.
 */
import { InvalidArgumentError } from '../errors.js';
import { P } from '../field/prime.js';
import type { KnownOperand, ProductMultiplier, ProductSite } from './products.js';
import { quantizeNearest, quantizeStochastic, type QuantizedTensor } from './quantize.js';
import { f64Of, type StepScratch } from './scratch.js';
import type { SeededStream } from './stream.js';
import { Skip } from './skip.js';

/** An activation: dims (batch first) and row-major float64 values. */
export interface Act {
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

/** A trainable tensor: value and the gradient of the current step. */
export interface Param {
  readonly name: string;
  readonly dims: readonly number[];
  readonly value: Float64Array;
  grad: Float64Array;
}

export interface StepContext {
  readonly step: number;
  readonly products: ProductMultiplier;
  readonly stream: SeededStream;
  readonly bits: { readonly activation: number; readonly weight: number; readonly gradient: number };
  /** Memory for the step's large transient arrays (the trainer's, reset every step); absent: fresh arrays. */
  readonly scratch?: StepScratch;
}

export interface Module {
  forward(x: Act, ctx: StepContext): Promise<Act>;
  /** dL/dx from dL/dy; accumulates parameter gradients. Undefined where no input gradient is needed. */
  backward(dy: Act, ctx: StepContext): Promise<Act | undefined>;
  params(): Param[];
}

export const param = (name: string, dims: number[], value?: Float64Array): Param => {
  const size = dims.reduce((a, b) => a * b, 1);
  if (value !== undefined && value.length !== size) throw new InvalidArgumentError(`${name}: ${value.length} values for [${dims.join(', ')}]`);
  return { name, dims, value: value ?? new Float64Array(size), grad: new Float64Array(size) };
};

export function transpose(a: Float64Array, rows: number, cols: number, scratch?: StepScratch): Float64Array {
  const t = f64Of(scratch, a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

/** The gradient's stochastic rounding: stream (gradient, step, layer). */
function quantizeGradient(dy: Float64Array, ctx: StepContext, layer: number): QuantizedTensor {
  return quantizeStochastic(dy, ctx.bits.gradient, ctx.stream.words('gradient', ctx.step, layer, dy.length), f64Of(ctx.scratch, dy.length));
}

/** A linear layer's three products on quantized operands; `x` is rows×inner, w inner×cols. */
abstract class LinearModule implements Module {
  protected saved?: { x: QuantizedTensor; rows: number; wq: QuantizedTensor };

  constructor(
    readonly index: number,
    readonly name: string,
    protected readonly needInputGrad: boolean,
  ) {}

  abstract forward(x: Act, ctx: StepContext): Promise<Act>;
  abstract backward(dy: Act, ctx: StepContext): Promise<Act | undefined>;
  abstract params(): Param[];

  protected site(kind: ProductSite['kind']): ProductSite {
    return { layer: this.index, layerName: this.name, kind };
  }

  /** Y = X·W for x rows×inner (already quantized), w inner×cols in float: returns Y in float. */
  protected async forwardProduct(xq: QuantizedTensor, rows: number, inner: number, w: Float64Array, cols: number, ctx: StepContext): Promise<Float64Array> {
    const wq = quantizeNearest(w, ctx.bits.weight);
    this.saved = { x: xq, rows, wq };
    return this.product('forward', xq, wq.q, rows, inner, cols, wq, ctx);
  }

  /**
   * dX and the weight gradient for dY rows×cols, as dWᵀ = dYᵀ·X (cols×inner: the [out, in] layout of
   * the weight itself, and X, the larger operand, is read in its own row-major layout rather than
   * transposed). dX (or undefined where no input gradient is needed) is dY·Wᵀ (rows×inner), and the
   * weight gradient dYᵀ·X, unless the layer computes them otherwise (`custom`, from the quantized dY
   * and W).
   */
  protected async backwardProducts(
    dy: Float64Array,
    inner: number,
    cols: number,
    ctx: StepContext,
    custom: { readonly inputGradient?: (dq: QuantizedTensor, wq: QuantizedTensor) => Promise<Float64Array>; readonly weightGradient?: (dq: QuantizedTensor) => Promise<Float64Array> } = {},
  ): Promise<{ dx?: Float64Array; dwT: Float64Array }> {
    const { x, rows, wq } = this.saved!;
    const dq = quantizeGradient(dy, ctx, this.index);
    const dx = !this.needInputGrad ? undefined : custom.inputGradient !== undefined ? await custom.inputGradient(dq, wq) : await this.product('grad-input', dq, transpose(wq.q, inner, cols), rows, cols, inner, wq, ctx);
    const dwT = custom.weightGradient !== undefined ? await custom.weightGradient(dq) : await this.product('grad-weight', { ...dq, q: transpose(dq.q, rows, cols, ctx.scratch) }, x.q, cols, rows, inner, x, ctx);
    this.saved = undefined;
    return dx === undefined ? { dwT } : { dx, dwT };
  }

  /** a·b (quantized a rows×inner, b inner×cols with b's scale and bound from `bq`), scaled back to float. */
  protected async product(kind: ProductSite['kind'], a: QuantizedTensor, b: Float64Array, rows: number, inner: number, cols: number, bq: QuantizedTensor, ctx: StepContext): Promise<Float64Array> {
    const y = await ctx.products.multiply(this.site(kind), a.q, rows, inner, b, cols, a.maxAbs, bq.maxAbs, a.known);
    const s = a.scale * bq.scale;
    for (let i = 0; i < y.length; i++) y[i] *= s;
    return y;
  }
}

/** Conv, 'same' padding, stride 1, no bias; weight [M, C, k, k] as ONNX and torch lay it out. */
export class Conv extends LinearModule {
  readonly weight: Param;
  private shape?: { n: number; c: number; h: number; w: number };
  /** The step's quantized input, [n, c, h, w]: the weight gradient's operand. */
  private input?: QuantizedTensor;

  constructor(index: number, name: string, readonly cin: number, readonly cout: number, readonly k: number, needInputGrad: boolean, value?: Float64Array) {
    super(index, name, needInputGrad);
    if (k % 2 !== 1) throw new InvalidArgumentError(`${name}: kernel ${k} must be odd ('same' padding)`);
    this.weight = param(`${name}.weight`, [cout, cin, k, k], value);
  }

  params(): Param[] {
    return [this.weight];
  }

  async forward(x: Act, ctx: StepContext): Promise<Act> {
    const [n, c, h, w] = x.dims as [number, number, number, number];
    if (c !== this.cin) throw new InvalidArgumentError(`${this.name}: ${c} input channels, expected ${this.cin}`);
    this.shape = { n, c, h, w };
    const xq = quantizeNearest(x.data, ctx.bits.activation, f64Of(ctx.scratch, x.data.length));
    this.input = xq;
    const inner = c * this.k * this.k;
    const cols = { ...xq, ...this.im2col(xq.q, 'nchw', c, ctx.scratch) };
    // W as inner×M: the transpose of the [M, C·k·k] weight.
    const y = await this.forwardProduct(cols, n * h * w, inner, transpose(this.weight.value, this.cout, inner), this.cout, ctx);
    return { dims: [n, this.cout, h, w], data: rowsToNchw(y, n, this.cout, h * w, ctx.scratch) };
  }

  /**
   * dX is itself a 'same' convolution, of dY with the kernel transposed and flipped:
   * dX[b, c, y, x] = Σ_{m, ky, kx} dY[b, m, y + ky − pad, x + kx − pad]·W[m, c, k−1−ky, k−1−kx], so
   * its product is im2col(dY)·W′ with rows×C outputs — the size of X, where dY·Wᵀ followed by col2im
   * would bring back k² times as many values to accept, check and add up. The weight gradient is
   * dW = im2col(X)ᵀ·dY ((C·k·k)×M): the k²-times-larger operand goes as the request (residues,
   * gathered along image rows), dY is what the accelerator registers.
   */
  async backward(dy: Act, ctx: StepContext): Promise<Act | undefined> {
    const { n, c, h, w } = this.shape!;
    const k2 = this.k * this.k;
    const pos = h * w;
    const input = this.input!;
    const { dx, dwT } = await this.backwardProducts(nchwToRows(dy.data, n, this.cout, pos, ctx.scratch), c * k2, this.cout, ctx, {
      inputGradient: (dq, wq) => this.product('grad-input', { ...dq, ...this.im2col(dq.q, 'rows', this.cout, ctx.scratch) }, this.flippedWeight(wq.q), n * pos, this.cout * k2, c, wq, ctx),
      weightGradient: async (dq) => transpose(await this.product('grad-weight', { ...input, ...this.im2colTransposed(input.q, ctx.scratch) }, dq.q, c * k2, n * pos, this.cout, dq, ctx), c * k2, this.cout),
    });
    this.input = undefined;
    for (let i = 0; i < dwT.length; i++) this.weight.grad[i] += dwT[i]!;
    return dx === undefined ? undefined : { dims: [n, c, h, w], data: rowsToNchw(dx, n, c, pos, ctx.scratch) };
  }

  /** W′ as (M·k·k)×C from the forward's W as (C·k·k)×M: W′[(m, ky, kx), c] = W[(c, k−1−ky, k−1−kx), m]. */
  private flippedWeight(wq: Float64Array): Float64Array {
    const { cin: c, cout: m, k } = this;
    const k2 = k * k;
    const out = new Float64Array(wq.length);
    for (let o = 0; o < m; o++) for (let ch = 0; ch < c; ch++) for (let t = 0; t < k2; t++) out[(o * k2 + t) * c + ch] = wq[(ch * k2 + (k2 - 1 - t)) * m + o]!;
    return out;
  }

  /**
   * im2col(x)ᵀ for x [n, C, h, w]: rows (c, ky, kx) over the n·h·w positions, zero padding, each row
   * copied along image rows; with its residues and largest row sum of |value|, as im2col gives them.
   */
  private im2colTransposed(x: Float64Array, scratch: StepScratch | undefined): { q: Float64Array; known: KnownOperand } {
    const { n, c, h, w } = this.shape!;
    const k = this.k;
    const pad = (k - 1) / 2;
    const pos = h * w;
    const width = n * pos;
    const size = c * k * k * width;
    const out = f64Of(scratch, size);
    const residues = (scratch?.u32(size) ?? new Uint32Array(size)).fill(0);
    let maxRowSum = 0;
    for (let ch = 0; ch < c; ch++)
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) {
          const row = ((ch * k + ky) * k + kx) * width;
          const ox0 = Math.max(0, pad - kx), ox1 = Math.min(w, w + pad - kx);
          let rowSum = 0;
          for (let b = 0; b < n; b++)
            for (let oy = 0; oy < h; oy++) {
              const iy = oy + ky - pad;
              if (iy < 0 || iy >= h) continue;
              const from = ((b * c + ch) * h + iy) * w + kx - pad;
              for (let ox = ox0, t = row + b * pos + oy * w + ox0; ox < ox1; ox++, t++) {
                const v = x[from + ox]!;
                out[t] = v;
                residues[t] = v < 0 ? v + P : v;
                rowSum += Math.abs(v);
              }
            }
          if (rowSum > maxRowSum) maxRowSum = rowSum;
        }
    return { q: out, known: { residues, maxRowSum } };
  }

  /**
   * Rows (n, y, x) of `channels`·k·k taps (channel-major, then ky, kx: w's layout), zero padding,
   * from x laid out as [n, channels, h, w] ('nchw') or as rows [n·h·w, channels] ('rows'); in the same
   * walk their residues and the largest row sum of |tap| (what the product needs of them).
   */
  private im2col(x: Float64Array, layout: 'nchw' | 'rows', channels: number, scratch: StepScratch | undefined): { q: Float64Array; known: KnownOperand } {
    const { n, h, w } = this.shape!;
    const k = this.k;
    const pad = (k - 1) / 2;
    const pos = h * w;
    const channelStride = layout === 'nchw' ? pos : 1;
    const pixelStride = layout === 'nchw' ? 1 : channels;
    const size = n * pos * channels * k * k;
    const cols = f64Of(scratch, size);
    // Padding taps stay 0: fill the residues first (a reused array holds the last step's).
    const residues = (scratch?.u32(size) ?? new Uint32Array(size)).fill(0);
    let maxRowSum = 0;
    let o = 0;
    for (let b = 0; b < n; b++) {
      const image = b * pos * channels;
      for (let oy = 0; oy < h; oy++)
        for (let ox = 0; ox < w; ox++) {
          // The taps inside the image, the same for every channel: the channel loop has no bounds tests.
          const ky0 = Math.max(0, pad - oy), ky1 = Math.min(k, h + pad - oy);
          const kx0 = Math.max(0, pad - ox), kx1 = Math.min(k, w + pad - ox);
          let rowSum = 0;
          for (let ch = 0; ch < channels; ch++, o += k * k) {
            const base = image + ch * channelStride + ((oy - pad) * w + (ox - pad)) * pixelStride;
            for (let ky = ky0; ky < ky1; ky++) {
              const line = base + ky * w * pixelStride;
              for (let kx = kx0, t = o + ky * k + kx0; kx < kx1; kx++, t++) {
                const v = x[line + kx * pixelStride]!;
                cols[t] = v;
                residues[t] = v < 0 ? v + P : v;
                rowSum += Math.abs(v);
              }
            }
          }
          if (rowSum > maxRowSum) maxRowSum = rowSum;
        }
    }
    return { q: cols, known: { residues, maxRowSum } };
  }
}

/** [n·pos, m] rows → [n, m, pos]. */
function rowsToNchw(y: Float64Array, n: number, m: number, pos: number, scratch: StepScratch | undefined): Float64Array {
  const out = f64Of(scratch, y.length);
  for (let b = 0; b < n; b++) for (let p = 0; p < pos; p++) for (let j = 0; j < m; j++) out[(b * m + j) * pos + p] = y[(b * pos + p) * m + j]!;
  return out;
}

/** [n, m, pos] → [n·pos, m] rows. */
function nchwToRows(x: Float64Array, n: number, m: number, pos: number, scratch: StepScratch | undefined): Float64Array {
  const out = f64Of(scratch, x.length);
  for (let b = 0; b < n; b++) for (let j = 0; j < m; j++) for (let p = 0; p < pos; p++) out[(b * pos + p) * m + j] = x[(b * m + j) * pos + p]!;
  return out;
}

/** Gemm y = x·Wᵀ + b with weight [out, in] (torch's Linear, ONNX Gemm transB = 1) over the last dimension: [n, in] or token rows [n, tokens, in]. */
export class Dense extends LinearModule {
  readonly weight: Param;
  readonly bias: Param;

  constructor(index: number, name: string, readonly inFeatures: number, readonly outFeatures: number, needInputGrad: boolean, weight?: Float64Array, bias?: Float64Array) {
    super(index, name, needInputGrad);
    this.weight = param(`${name}.weight`, [outFeatures, inFeatures], weight);
    this.bias = param(`${name}.bias`, [outFeatures], bias);
  }

  params(): Param[] {
    return [this.weight, this.bias];
  }

  async forward(x: Act, ctx: StepContext): Promise<Act> {
    if (x.dims[x.dims.length - 1] !== this.inFeatures) throw new InvalidArgumentError(`${this.name}: ${x.dims[x.dims.length - 1]} input features, expected ${this.inFeatures}`);
    const rows = x.data.length / this.inFeatures;
    const xq = quantizeNearest(x.data, ctx.bits.activation, f64Of(ctx.scratch, x.data.length));
    const y = await this.forwardProduct(xq, rows, this.inFeatures, transpose(this.weight.value, this.outFeatures, this.inFeatures), this.outFeatures, ctx);
    for (let r = 0; r < rows; r++) for (let j = 0; j < this.outFeatures; j++) y[r * this.outFeatures + j] += this.bias.value[j]!;
    return { dims: [...x.dims.slice(0, -1), this.outFeatures], data: y };
  }

  async backward(dy: Act, ctx: StepContext): Promise<Act | undefined> {
    const rows = dy.data.length / this.outFeatures;
    for (let r = 0; r < rows; r++) for (let j = 0; j < this.outFeatures; j++) this.bias.grad[j] += dy.data[r * this.outFeatures + j]!;
    const { dx, dwT } = await this.backwardProducts(dy.data, this.inFeatures, this.outFeatures, ctx);
    for (let i = 0; i < dwT.length; i++) this.weight.grad[i] += dwT[i]!;
    return dx === undefined ? undefined : { dims: [...dy.dims.slice(0, -1), this.inFeatures], data: dx };
  }
}

/** BatchNormalization over channels of [N, C, H, W]: batch statistics in training, running ones for inference updated only when a step is accepted (torch's momentum 0.1, ε 1e-5). */
export class BatchNorm implements Module {
  static readonly EPSILON = 1e-5;
  static readonly MOMENTUM = 0.1;
  readonly gamma: Param;
  readonly beta: Param;
  readonly runningMean: Float64Array;
  readonly runningVar: Float64Array;
  private saved?: { xhat: Float64Array; invStd: Float64Array; dims: readonly number[] };
  /** This step's batch statistics, folded into the running ones only when the step is accepted. */
  private pending?: { mean: Float64Array; var: Float64Array };

  constructor(readonly name: string, readonly channels: number, init?: { gamma?: Float64Array; beta?: Float64Array; mean?: Float64Array; var?: Float64Array }) {
    this.gamma = param(`${name}.weight`, [channels], init?.gamma ?? new Float64Array(channels).fill(1));
    this.beta = param(`${name}.bias`, [channels], init?.beta);
    this.runningMean = init?.mean ?? new Float64Array(channels);
    this.runningVar = init?.var ?? new Float64Array(channels).fill(1);
  }

  params(): Param[] {
    return [this.gamma, this.beta];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const [n, c, h, w] = x.dims as [number, number, number, number];
    const pos = h * w;
    const count = n * pos;
    const y = f64Of(ctx?.scratch, x.data.length);
    const xhat = f64Of(ctx?.scratch, x.data.length);
    const invStd = new Float64Array(c);
    const batchMean = new Float64Array(c);
    const batchVar = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let b = 0; b < n; b++) for (let p = 0, o = (b * c + ch) * pos; p < pos; p++) sum += x.data[o + p]!;
      const mean = sum / count;
      let sq = 0;
      for (let b = 0; b < n; b++) for (let p = 0, o = (b * c + ch) * pos; p < pos; p++) sq += (x.data[o + p]! - mean) ** 2;
      const variance = sq / count;
      const inv = 1 / Math.sqrt(variance + BatchNorm.EPSILON);
      invStd[ch] = inv;
      const g = this.gamma.value[ch]!;
      const bt = this.beta.value[ch]!;
      for (let b = 0; b < n; b++)
        for (let p = 0, o = (b * c + ch) * pos; p < pos; p++) {
          const v = (x.data[o + p]! - mean) * inv;
          xhat[o + p] = v;
          y[o + p] = g * v + bt;
        }
      batchMean[ch] = mean;
      batchVar[ch] = count > 1 ? sq / (count - 1) : variance;
    }
    this.saved = { xhat, invStd, dims: x.dims };
    this.pending = { mean: batchMean, var: batchVar };
    return { dims: x.dims, data: y };
  }

  /** Folds the accepted step's batch statistics into the running ones (a step that failed never gets here). */
  commitRunning(): void {
    if (this.pending === undefined) return;
    const m = BatchNorm.MOMENTUM;
    for (let ch = 0; ch < this.channels; ch++) {
      this.runningMean[ch] = (1 - m) * this.runningMean[ch]! + m * this.pending.mean[ch]!;
      this.runningVar[ch] = (1 - m) * this.runningVar[ch]! + m * this.pending.var[ch]!;
    }
    this.pending = undefined;
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const { xhat, invStd, dims } = this.saved!;
    const [n, c, h, w] = dims as [number, number, number, number];
    const pos = h * w;
    const count = n * pos;
    const dx = f64Of(ctx?.scratch, dy.data.length);
    for (let ch = 0; ch < c; ch++) {
      let sumDy = 0;
      let sumDyXhat = 0;
      for (let b = 0; b < n; b++)
        for (let p = 0, o = (b * c + ch) * pos; p < pos; p++) {
          sumDy += dy.data[o + p]!;
          sumDyXhat += dy.data[o + p]! * xhat[o + p]!;
        }
      this.gamma.grad[ch] += sumDyXhat;
      this.beta.grad[ch] += sumDy;
      const k = (this.gamma.value[ch]! * invStd[ch]!) / count;
      for (let b = 0; b < n; b++)
        for (let p = 0, o = (b * c + ch) * pos; p < pos; p++) dx[o + p] = k * (count * dy.data[o + p]! - sumDy - xhat[o + p]! * sumDyXhat);
    }
    this.saved = undefined;
    return { dims, data: dx };
  }
}

export class Relu implements Module {
  private mask?: Uint8Array;

  params(): Param[] {
    return [];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const y = f64Of(ctx?.scratch, x.data.length);
    const mask = new Uint8Array(x.data.length);
    for (let i = 0; i < y.length; i++) if (x.data[i]! > 0) (y[i] = x.data[i]!), (mask[i] = 1);
    this.mask = mask;
    return { dims: x.dims, data: y };
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const dx = f64Of(ctx?.scratch, dy.data.length);
    for (let i = 0; i < dx.length; i++) if (this.mask![i]) dx[i] = dy.data[i]!;
    return { dims: dy.dims, data: dx };
  }
}

/** 2×2 pooling with stride 2 (floor): max (the first maximum gets the gradient) or average. */
export class Pool2 implements Module {
  private saved?: { dims: readonly number[]; argmax?: Int32Array };

  constructor(readonly kind: 'max' | 'average') {}

  params(): Param[] {
    return [];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const [n, c, h, w] = x.dims as [number, number, number, number];
    const oh = Math.floor(h / 2);
    const ow = Math.floor(w / 2);
    const y = f64Of(ctx?.scratch, n * c * oh * ow);
    const argmax = this.kind === 'max' ? new Int32Array(y.length) : undefined;
    let o = 0;
    for (let pl = 0; pl < n * c; pl++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++, o++) {
          const base = pl * h * w + 2 * i * w + 2 * j;
          const taps = [base, base + 1, base + w, base + w + 1];
          if (argmax !== undefined) {
            let best = taps[0]!;
            for (const t of taps) if (x.data[t]! > x.data[best]!) best = t;
            argmax[o] = best;
            y[o] = x.data[best]!;
          } else y[o] = (x.data[taps[0]!]! + x.data[taps[1]!]! + x.data[taps[2]!]! + x.data[taps[3]!]!) / 4;
        }
    this.saved = argmax === undefined ? { dims: x.dims } : { dims: x.dims, argmax };
    return { dims: [n, c, oh, ow], data: y };
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const { dims, argmax } = this.saved!;
    const [n, c, h, w] = dims as [number, number, number, number];
    const dx = f64Of(ctx?.scratch, n * c * h * w);
    const oh = Math.floor(h / 2);
    const ow = Math.floor(w / 2);
    let o = 0;
    for (let pl = 0; pl < n * c; pl++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++, o++) {
          if (argmax !== undefined) dx[argmax[o]!] += dy.data[o]!;
          else {
            const base = pl * h * w + 2 * i * w + 2 * j;
            const g = dy.data[o]! / 4;
            dx[base] += g;
            dx[base + 1] += g;
            dx[base + w] += g;
            dx[base + w + 1] += g;
          }
        }
    return { dims, data: dx };
  }
}

/** [N, …] → [N, features]. */
export class Flatten implements Module {
  private dims?: readonly number[];

  params(): Param[] {
    return [];
  }

  async forward(x: Act): Promise<Act> {
    this.dims = x.dims;
    return { dims: [x.dims[0]!, x.data.length / x.dims[0]!], data: x.data };
  }

  async backward(dy: Act): Promise<Act> {
    return { dims: this.dims!, data: dy.data };
  }
}

/** Modules in order. */
export class Sequential implements Module {
  constructor(readonly modules: readonly Module[]) {}

  params(): Param[] {
    return this.modules.flatMap((m) => m.params());
  }

  async forward(x: Act, ctx: StepContext): Promise<Act> {
    for (const m of this.modules) x = await m.forward(x, ctx);
    return x;
  }

  async backward(dy: Act, ctx: StepContext): Promise<Act | undefined> {
    let d: Act | undefined = dy;
    for (let i = this.modules.length - 1; i >= 0 && d !== undefined; i--) d = await this.modules[i]!.backward(d, ctx);
    return d;
  }
}

/** y = relu(body(x) + x): the CNN's residual block, a Skip (skip.ts) followed by ReLU. */
export class Residual implements Module {
  private readonly skip: Skip;
  private readonly relu = new Relu();

  constructor(readonly body: Sequential) {
    this.skip = new Skip(body);
  }

  params(): Param[] {
    return this.skip.params();
  }

  async forward(x: Act, ctx: StepContext): Promise<Act> {
    return this.relu.forward(await this.skip.forward(x, ctx), ctx);
  }

  async backward(dy: Act, ctx: StepContext): Promise<Act> {
    return this.skip.backward(await this.relu.backward(dy, ctx), ctx);
  }
}

/** Mean softmax cross-entropy over the batch and its gradient with respect to the logits. */
export function softmaxCrossEntropy(logits: Act, labels: ArrayLike<number>): { loss: number; correct: number; grad: Act } {
  const [n, k] = logits.dims as [number, number];
  const grad = new Float64Array(n * k);
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < k; j++) if (logits.data[r * k + j]! > max) (max = logits.data[r * k + j]!), (arg = j);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits.data[r * k + j]! - max);
    const label = labels[r]!;
    loss += Math.log(sum) - (logits.data[r * k + label]! - max);
    if (arg === label) correct++;
    for (let j = 0; j < k; j++) grad[r * k + j] = (Math.exp(logits.data[r * k + j]! - max) / sum - (j === label ? 1 : 0)) / n;
  }
  return { loss: loss / n, correct, grad: { dims: [n, k], data: grad } };
}
