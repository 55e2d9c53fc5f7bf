/** A pre-norm transformer's residual connection: y = x + body(x), so dx = dy + body's input gradient. */
import type { Act, Module, Param, Sequential, StepContext } from './layers.js';
import { f64Of } from './scratch.js';

export class Skip implements Module {
  constructor(readonly body: Sequential) {}

  params(): Param[] {
    return this.body.params();
  }

  async forward(x: Act, ctx: StepContext): Promise<Act> {
    const y = await this.body.forward(x, ctx);
    const sum = f64Of(ctx.scratch, y.data.length);
    for (let i = 0; i < sum.length; i++) sum[i] = y.data[i]! + x.data[i]!;
    return { dims: x.dims, data: sum };
  }

  async backward(dy: Act, ctx: StepContext): Promise<Act> {
    const dBody = await this.body.backward(dy, ctx);
    const dx = f64Of(ctx.scratch, dy.data.length);
    dx.set(dy.data);
    if (dBody !== undefined) for (let i = 0; i < dx.length; i++) dx[i] += dBody.data[i]!;
    return { dims: dy.dims, data: dx };
  }
}
