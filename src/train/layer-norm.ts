/**
 * LayerNorm over the last dimension (torch's nn.LayerNorm, ε 1e-5), forward and backward in float64
 * in the trusted runtime: per row, x̂ = (x − mean)/√(var + ε) with the biased variance, y = γ·x̂ + β.
 */
import { InvalidArgumentError } from '../errors.js';
import { param, type Act, type Module, type Param, type StepContext } from './layers.js';
import { f64Of } from './scratch.js';

export class LayerNorm implements Module {
  static readonly EPSILON = 1e-5;
  readonly gamma: Param;
  readonly beta: Param;
  private saved?: { xhat: Float64Array; invStd: Float64Array };

  constructor(readonly name: string, readonly features: number, gamma?: Float64Array, beta?: Float64Array) {
    this.gamma = param(`${name}.weight`, [features], gamma ?? new Float64Array(features).fill(1));
    this.beta = param(`${name}.bias`, [features], beta);
  }

  params(): Param[] {
    return [this.gamma, this.beta];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const d = this.features;
    if (x.dims[x.dims.length - 1] !== d) throw new InvalidArgumentError(`${this.name}: ${x.dims[x.dims.length - 1]} features, expected ${d}`);
    const rows = x.data.length / d;
    const y = f64Of(ctx?.scratch, x.data.length);
    const xhat = f64Of(ctx?.scratch, x.data.length);
    const invStd = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      let sum = 0;
      for (let j = 0; j < d; j++) sum += x.data[o + j]!;
      const mean = sum / d;
      let sq = 0;
      for (let j = 0; j < d; j++) sq += (x.data[o + j]! - mean) ** 2;
      const inv = 1 / Math.sqrt(sq / d + LayerNorm.EPSILON);
      invStd[r] = inv;
      for (let j = 0; j < d; j++) {
        const v = (x.data[o + j]! - mean) * inv;
        xhat[o + j] = v;
        y[o + j] = this.gamma.value[j]! * v + this.beta.value[j]!;
      }
    }
    this.saved = { xhat, invStd };
    return { dims: x.dims, data: y };
  }

  /** dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) per row, with ĝ = γ·dy. */
  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const { xhat, invStd } = this.saved!;
    const d = this.features;
    const rows = dy.data.length / d;
    const dx = f64Of(ctx?.scratch, dy.data.length);
    const g = new Float64Array(d);
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      let sumG = 0;
      let sumGXhat = 0;
      for (let j = 0; j < d; j++) {
        const v = dy.data[o + j]!;
        this.gamma.grad[j] += v * xhat[o + j]!;
        this.beta.grad[j] += v;
        g[j] = v * this.gamma.value[j]!;
        sumG += g[j]!;
        sumGXhat += g[j]! * xhat[o + j]!;
      }
      const inv = invStd[r]!;
      for (let j = 0; j < d; j++) dx[o + j] = inv * (g[j]! - sumG / d - (xhat[o + j]! * sumGXhat) / d);
    }
    this.saved = undefined;
    return { dims: dy.dims, data: dx };
  }
}
