/**
 * The ViT's training layers: each backward pass is the gradient of its forward pass, against central
 * differences as test/train/layers.test.ts checks the CNN's layers. LayerNorm, GELU, the patch and
 * class-token plumbing and the residual connection (no products) against their own forward pass;
 * self-attention (its qkv and proj projections on 12-bit operands through the products, so
 * quantization error stays below 0.5 %) against a float64 attention written out here.
 */
import { describe, test } from 'node:test';
import { SelfAttention } from '../../src/train/attention.js';
import { Gelu } from '../../src/train/gelu.js';
import { LayerNorm } from '../../src/train/layer-norm.js';
import { Sequential, type Module } from '../../src/train/layers.js';
import { Skip } from '../../src/train/skip.js';
import { ClassTokenPosition, ClassTokenRow, Patches } from '../../src/train/tokens.js';
import { close, dot, layerContext, normalsFrom, numericGradient } from '../helpers/gradients.js';

const ctx = layerContext();
const normals = normalsFrom(5);

/** Float64 self-attention with weights [3d, d] and [d, d], torch's layout: the reference for SelfAttention. */
function floatAttention(x: Float64Array, n: number, t: number, d: number, heads: number, wqkv: Float64Array, bqkv: Float64Array, wp: Float64Array, bp: Float64Array): Float64Array {
  const linear = (v: Float64Array, w: Float64Array, b: Float64Array, inF: number, outF: number): Float64Array => {
    const rows = v.length / inF;
    const y = new Float64Array(rows * outF);
    for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) y[r * outF + o] = b[o]! + dot(v.subarray(r * inF, (r + 1) * inF), w.subarray(o * inF, (o + 1) * inF));
    return y;
  };
  const qkv = linear(x, wqkv, bqkv, d, 3 * d);
  const hd = d / heads;
  const out = new Float64Array(n * t * d);
  const at = (b: number, i: number, part: number, h: number, c: number): number => qkv[(b * t + i) * 3 * d + part * d + h * hd + c]!;
  for (let b = 0; b < n; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < t; i++) {
        const s = Array.from({ length: t }, (_, j) => Array.from({ length: hd }, (_, c) => at(b, i, 0, h, c) * at(b, j, 1, h, c)).reduce((p, q) => p + q, 0) / Math.sqrt(hd));
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((p, q) => p + q, 0);
        for (let c = 0; c < hd; c++) out[(b * t + i) * d + h * hd + c] = e.reduce((acc, v, j) => acc + (v / z) * at(b, j, 2, h, c), 0);
      }
  return linear(out, wp, bp, d, d);
}

describe('ViT training layers', () => {
  const floatModules: [string, () => Module, number[]][] = [
    ['LayerNorm', () => new LayerNorm('ln', 5, normals(5), normals(5)), [2, 3, 5]],
    ['GELU (erf)', () => new Gelu(), [2, 3, 4]],
    ['Patches 2×2', () => new Patches(2), [2, 1, 4, 6]],
    ['class token + position', () => new ClassTokenPosition(3, 4, normals(4), normals(16)), [2, 3, 4]],
    ['class token row', () => new ClassTokenRow(), [2, 3, 4]],
    ['residual x + GELU(LayerNorm(x))', () => new Skip(new Sequential([new LayerNorm('ln', 4, normals(4), normals(4)), new Gelu()])), [2, 3, 4]],
  ];
  for (const [name, make, dims] of floatModules) {
    test(`${name}: backward is the gradient of forward, for the input and every parameter`, async () => {
      const m = make();
      const x = normals(dims.reduce((a, b) => a * b, 1));
      const y = await m.forward({ dims, data: x }, ctx);
      const r = normals(y.data.length);
      for (const p of m.params()) p.grad.fill(0);
      const dx = (await m.backward({ dims: y.dims, data: r }, ctx))!;
      const grads = m.params().map((p) => Float64Array.from(p.grad));
      // The same module's forward again (its output depends on x and the parameters alone; only its saved state changes).
      close(dx.data, await numericGradient(async (xv) => (await m.forward({ dims, data: xv }, ctx)).data, x, r, 1e-6), 1e-5, 'dx');
      for (const [i, p] of m.params().entries()) {
        const value = Float64Array.from(p.value);
        const numeric = await numericGradient(async (pv) => {
          p.value.set(pv);
          return (await m.forward({ dims, data: x }, ctx)).data;
        }, value, r, 1e-6);
        p.value.set(value);
        close(grads[i]!, numeric, 1e-5, p.name);
      }
    });
  }

  test('self-attention: forward, input and projection gradients against float64 attention', async () => {
    const [n, t, d, heads] = [2, 3, 4, 2];
    const attn = new SelfAttention('attn', d, heads, 0, (name) => (name.endsWith('weight') ? normals(name.includes('qkv') ? 3 * d * d : d * d) : normals(name.includes('qkv') ? 3 * d : d)));
    const [wqkv, bqkv, wp, bp] = attn.params().map((p) => Float64Array.from(p.value)) as [Float64Array, Float64Array, Float64Array, Float64Array];
    const x = normals(n * t * d);
    const y = await attn.forward({ dims: [n, t, d], data: x }, ctx);
    close(y.data, floatAttention(x, n, t, d, heads, wqkv, bqkv, wp, bp), 5e-3, 'y');
    const r = normals(y.data.length);
    const dx = (await attn.backward({ dims: y.dims, data: r }, ctx))!;
    close(dx.data, await numericGradient((xv) => floatAttention(xv, n, t, d, heads, wqkv, bqkv, wp, bp), x, r, 1e-4), 5e-3, 'dx');
    close(attn.qkv.weight.grad, await numericGradient((w) => floatAttention(x, n, t, d, heads, w, bqkv, wp, bp), wqkv, r, 1e-4), 5e-3, 'dW_qkv');
    close(attn.qkv.bias.grad, await numericGradient((b) => floatAttention(x, n, t, d, heads, wqkv, b, wp, bp), bqkv, r, 1e-4), 5e-3, 'db_qkv');
    close(attn.proj.weight.grad, await numericGradient((w) => floatAttention(x, n, t, d, heads, wqkv, bqkv, w, bp), wp, r, 1e-4), 5e-3, 'dW_proj');
  });
});
