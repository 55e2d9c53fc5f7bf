/**
 * The ViT's token plumbing, in the trusted runtime (no products): an image cut into non-overlapping
 * patches (the rows a stride-p p×p Conv, or torch's Linear over patches, multiplies), the class token
 * and the learned position embedding, and the class token's row picked for the head.
 */
import { InvalidArgumentError } from '../errors.js';
import { param, type Act, type Module, type Param, type StepContext } from './layers.js';
import { f64Of } from './scratch.js';

/**
 * [n, 1, H, W] → [n, (H/p)·(W/p), p·p]: patches in row-major order, each patch's pixels row-major
 * (torch: x.reshape(n, g, p, g, p).transpose(2, 3).reshape(n, g·g, p·p)). Backward is the inverse permutation.
 */
export class Patches implements Module {
  private dims?: readonly number[];

  constructor(readonly patch: number) {}

  params(): Param[] {
    return [];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const [n, c, h, w] = x.dims as [number, number, number, number];
    if (c !== 1 || h % this.patch !== 0 || w % this.patch !== 0) throw new InvalidArgumentError(`patches of ${this.patch}: the input [${x.dims.join(', ')}] must be one channel of a multiple of ${this.patch} pixels`);
    this.dims = x.dims;
    const y = f64Of(ctx?.scratch, x.data.length);
    this.walk((src, dst) => (y[dst] = x.data[src]!));
    return { dims: [n, (h / this.patch) * (w / this.patch), this.patch * this.patch], data: y };
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const dx = f64Of(ctx?.scratch, dy.data.length);
    this.walk((src, dst) => (dx[src] = dy.data[dst]!));
    return { dims: this.dims!, data: dx };
  }

  /** Every pixel's (image offset, patch-row offset). */
  private walk(visit: (src: number, dst: number) => void): void {
    const [n, , h, w] = this.dims as [number, number, number, number];
    const p = this.patch;
    let dst = 0;
    for (let b = 0; b < n; b++)
      for (let gy = 0; gy < h / p; gy++)
        for (let gx = 0; gx < w / p; gx++)
          for (let py = 0; py < p; py++) for (let px = 0; px < p; px++, dst++) visit(b * h * w + (gy * p + py) * w + gx * p + px, dst);
  }
}

/** [n, t, d] → [n, t + 1, d]: the class token `cls` [1, 1, d] first, then the position embedding `pos` [1, t + 1, d] added. */
export class ClassTokenPosition implements Module {
  readonly cls: Param;
  readonly pos: Param;

  constructor(readonly tokens: number, readonly features: number, cls?: Float64Array, pos?: Float64Array) {
    this.cls = param('cls', [1, 1, features], cls);
    this.pos = param('pos', [1, tokens + 1, features], pos);
  }

  params(): Param[] {
    return [this.cls, this.pos];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const [n, t, d] = x.dims as [number, number, number];
    if (t !== this.tokens || d !== this.features) throw new InvalidArgumentError(`class token: input [${x.dims.join(', ')}], expected [n, ${this.tokens}, ${this.features}]`);
    const per = (t + 1) * d;
    const y = f64Of(ctx?.scratch, n * per);
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < d; j++) y[b * per + j] = this.cls.value[j]!;
      y.set(x.data.subarray(b * t * d, (b + 1) * t * d), b * per + d);
      for (let i = 0; i < per; i++) y[b * per + i] += this.pos.value[i]!;
    }
    return { dims: [n, t + 1, d], data: y };
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const [n, t1, d] = dy.dims as [number, number, number];
    const per = t1 * d;
    const dx = f64Of(ctx?.scratch, n * (t1 - 1) * d);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < per; i++) this.pos.grad[i] += dy.data[b * per + i]!;
      for (let j = 0; j < d; j++) this.cls.grad[j] += dy.data[b * per + j]!;
      dx.set(dy.data.subarray(b * per + d, (b + 1) * per), b * (t1 - 1) * d);
    }
    return { dims: [n, t1 - 1, d], data: dx };
  }
}

/** [n, t, d] → [n, d]: the class token's row (token 0); backward puts the gradient back on that row. */
export class ClassTokenRow implements Module {
  private dims?: readonly number[];

  params(): Param[] {
    return [];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const [n, t, d] = x.dims as [number, number, number];
    this.dims = x.dims;
    const y = f64Of(ctx?.scratch, n * d);
    for (let b = 0; b < n; b++) y.set(x.data.subarray(b * t * d, b * t * d + d), b * d);
    return { dims: [n, d], data: y };
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const [n, t, d] = this.dims as [number, number, number];
    const dx = f64Of(ctx?.scratch, n * t * d);
    for (let b = 0; b < n; b++) dx.set(dy.data.subarray(b * d, (b + 1) * d), b * t * d);
    return { dims: this.dims!, data: dx };
  }
}
