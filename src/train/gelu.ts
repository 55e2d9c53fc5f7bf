/**
 * GELU in its exact erf form, as torch's F.gelu (and the committed ViT's Erf nodes) computes it:
 * y = x·Φ(x) = ½x(1 + erf(x/√2)), dy/dx = Φ(x) + x·φ(x). Float64, in the trusted runtime.
 */
import { erf } from '../kernels/float/erf.js';
import type { Act, Module, Param, StepContext } from './layers.js';
import { f64Of } from './scratch.js';

const INV_SQRT2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export class Gelu implements Module {
  private x?: Float64Array;

  params(): Param[] {
    return [];
  }

  async forward(x: Act, ctx?: StepContext): Promise<Act> {
    const y = f64Of(ctx?.scratch, x.data.length);
    for (let i = 0; i < y.length; i++) {
      const v = x.data[i]!;
      y[i] = 0.5 * v * (1 + erf(v * INV_SQRT2));
    }
    this.x = x.data;
    return { dims: x.dims, data: y };
  }

  async backward(dy: Act, ctx?: StepContext): Promise<Act> {
    const x = this.x!;
    const dx = f64Of(ctx?.scratch, dy.data.length);
    for (let i = 0; i < dx.length; i++) {
      const v = x[i]!;
      dx[i] = dy.data[i]! * (0.5 * (1 + erf(v * INV_SQRT2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
    }
    this.x = undefined;
    return { dims: dy.dims, data: dx };
  }
}
