/**
 * GELU in its exact erf form, as torch's F.gelu (and the committed ViT's Erf nodes) computes it:
 * y = x·Φ(x) = ½x(1 + erf(x/√2)), dy/dx = Φ(x) + x·φ(x). Float64, in the trusted runtime.
 */
import { erf } from '../kernels/float/erf.js';
import type { Act, Module, Param } from './layers.js';

const INV_SQRT2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export class Gelu implements Module {
  private x?: Float64Array;

  params(): Param[] {
    return [];
  }

  async forward(x: Act): Promise<Act> {
    const y = new Float64Array(x.data.length);
    for (let i = 0; i < y.length; i++) {
      const v = x.data[i]!;
      y[i] = 0.5 * v * (1 + erf(v * INV_SQRT2));
    }
    this.x = x.data;
    return { dims: x.dims, data: y };
  }

  async backward(dy: Act): Promise<Act> {
    const x = this.x!;
    const dx = new Float64Array(dy.data.length);
    for (let i = 0; i < dx.length; i++) {
      const v = x[i]!;
      dx[i] = dy.data[i]! * (0.5 * (1 + erf(v * INV_SQRT2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
    }
    this.x = undefined;
    return { dims: dy.dims, data: dx };
  }
}
