/**
 * Multi-head self-attention as torch's ViT block computes it (scripts/train_vit_fashion_mnist.py):
 * qkv = x·W_qkvᵀ + b split into Q, K, V of `heads` heads, A = softmax(Q·Kᵀ/√d_h) per head, O = A·V
 * merged back, y = O·W_projᵀ + b. The two projections are outsourced Dense layers (every product
 * checked, train/products.ts); the products of two activations (Q·Kᵀ, A·V), the softmax and their
 * backward stay here in float64, as inference keeps attention in the trusted runtime by default.
 */
import { InvalidArgumentError } from '../errors.js';
import { Dense, type Act, type Module, type Param, type StepContext } from './layers.js';
import { f64Of } from './scratch.js';

export class SelfAttention implements Module {
  readonly qkv: Dense;
  readonly proj: Dense;
  private saved?: { qkv: Float64Array; attn: Float64Array; n: number; t: number };

  /** Its projections are linear layers `firstIndex` (qkv) and `firstIndex + 1` (proj); `initial` gives a parameter's value by name (`<name>.qkv.weight`, …) or leaves it zero. */
  constructor(
    readonly name: string,
    readonly features: number,
    readonly heads: number,
    firstIndex: number,
    initial: (param: string) => Float64Array | undefined = () => undefined,
  ) {
    if (features % heads !== 0) throw new InvalidArgumentError(`${name}: ${features} features do not split into ${heads} heads`);
    const dense = (index: number, layer: string, outF: number): Dense => new Dense(index, layer, features, outF, true, initial(`${layer}.weight`), initial(`${layer}.bias`));
    this.qkv = dense(firstIndex, `${name}.qkv`, 3 * features);
    this.proj = dense(firstIndex + 1, `${name}.proj`, features);
  }

  params(): Param[] {
    return [...this.qkv.params(), ...this.proj.params()];
  }

  async forward(x: Act, ctx: StepContext): Promise<Act> {
    const [n, t, d] = x.dims as [number, number, number];
    const qkv = (await this.qkv.forward(x, ctx)).data;
    const hd = d / this.heads;
    const scale = 1 / Math.sqrt(hd);
    const attn = f64Of(ctx.scratch, n * this.heads * t * t);
    const out = f64Of(ctx.scratch, n * t * d);
    const row = new Float64Array(t);
    for (let b = 0; b < n; b++)
      for (let h = 0; h < this.heads; h++) {
        // Q of token i, channel c: qkv[(b·t + i)·3d + h·hd + c]; K at + d, V at + 2d.
        const base = b * t * 3 * d + h * hd;
        const a0 = (b * this.heads + h) * t * t;
        for (let i = 0; i < t; i++) {
          let max = -Infinity;
          for (let j = 0; j < t; j++) {
            let s = 0;
            for (let c = 0; c < hd; c++) s += qkv[base + i * 3 * d + c]! * qkv[base + j * 3 * d + d + c]!;
            row[j] = s * scale;
            if (row[j]! > max) max = row[j]!;
          }
          let sum = 0;
          for (let j = 0; j < t; j++) sum += row[j] = Math.exp(row[j]! - max);
          for (let j = 0; j < t; j++) attn[a0 + i * t + j] = row[j]! / sum;
          for (let c = 0; c < hd; c++) {
            let o = 0;
            for (let j = 0; j < t; j++) o += attn[a0 + i * t + j]! * qkv[base + j * 3 * d + 2 * d + c]!;
            out[(b * t + i) * d + h * hd + c] = o;
          }
        }
      }
    this.saved = { qkv, attn, n, t };
    return this.proj.forward({ dims: [n, t, d], data: out }, ctx);
  }

  async backward(dy: Act, ctx: StepContext): Promise<Act | undefined> {
    const { qkv, attn, n, t } = this.saved!;
    const d = this.features;
    const hd = d / this.heads;
    const scale = 1 / Math.sqrt(hd);
    const dOut = (await this.proj.backward(dy, ctx))!.data;
    const dqkv = f64Of(ctx.scratch, qkv.length);
    const dA = new Float64Array(t);
    for (let b = 0; b < n; b++)
      for (let h = 0; h < this.heads; h++) {
        const base = b * t * 3 * d + h * hd;
        const a0 = (b * this.heads + h) * t * t;
        for (let i = 0; i < t; i++) {
          const dO = (b * t + i) * d + h * hd;
          // dA = dO·Vᵀ; dV += Aᵀ·dO.
          let dot = 0;
          for (let j = 0; j < t; j++) {
            let s = 0;
            const a = attn[a0 + i * t + j]!;
            for (let c = 0; c < hd; c++) {
              s += dOut[dO + c]! * qkv[base + j * 3 * d + 2 * d + c]!;
              dqkv[base + j * 3 * d + 2 * d + c] += a * dOut[dO + c]!;
            }
            dA[j] = s;
            dot += a * s;
          }
          // Softmax backward dS = A ⊙ (dA − Σ A·dA), then dQ = dS·K/√d_h and dK += dSᵀ·Q/√d_h.
          for (let j = 0; j < t; j++) {
            const dS = attn[a0 + i * t + j]! * (dA[j]! - dot) * scale;
            if (dS === 0) continue;
            for (let c = 0; c < hd; c++) {
              dqkv[base + i * 3 * d + c] += dS * qkv[base + j * 3 * d + d + c]!;
              dqkv[base + j * 3 * d + d + c] += dS * qkv[base + i * 3 * d + c]!;
            }
          }
        }
      }
    this.saved = undefined;
    return this.qkv.backward({ dims: [n, t, 3 * d], data: dqkv }, ctx);
  }
}
