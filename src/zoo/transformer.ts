/**
 * Transformer encoders for the zoo, written node for node as `torch.onnx.export` writes Hugging Face
 * and timm models: every Linear is MatMul by a [in, out] weight plus an Add of its bias (a linear
 * layer over token rows), attention reshapes into heads and multiplies two activations (QKᵀ, then
 * softmax·V), GELU and LayerNorm are either the opset-17 fused nodes or their spelled-out forms.
 *
 * - `vit-tiny` (timm vit_tiny_patch16_224): 16×16 patches of a 224×224 image by a strided Conv, a
 *   class token, 197 tokens, d 192, 12 pre-norm blocks of 3 heads and an MLP of 768, the head on the
 *   class token; LayerNormalization and tanh-approximated GELU, opset 17. Input [1, 3, 224, 224].
 * - `bert-base` (bert-base-uncased's encoder): 128 tokens, d 768, 12 post-norm blocks of 12 heads and
 *   an FFN of 3072; LayerNorm spelled out (ReduceMean/Sub/Pow/Sqrt/Div) and erf GELU, opset 14; the
 *   pooler (Tanh on the first token) and a 2-way classifier. Its input is the embedding layer's sum
 *   [1, 128, 768] (word + position + type embeddings; a lookup the trusted runtime does in
 *   negligible time), so the model takes the zoo's standard-normal synthetic inputs.
 *
 * Weights are N(0, 1/fan_in) with small biases, LayerNorm γ ≈ 1, so activations stay near unit
 * scale for a standard-normal input, as for the CNNs (layers.ts).
 */
import type { OnnxAttrValue } from '../onnx/build.js';
import { SeededNet } from './seeded-net.js';

export interface EncoderConfig {
  readonly name: string;
  readonly layers: number;
  readonly d: number;
  readonly heads: number;
  readonly hidden: number;
  /** ViT: an image of `image`² pixels and `channels` channels cut into `patch`² patches, plus a class token. BERT: `tokens` embeddings. */
  readonly input: { readonly kind: 'patches'; readonly image: number; readonly patch: number; readonly channels: number } | { readonly kind: 'embeddings'; readonly tokens: number };
  readonly classes: number;
  /** Pre-norm (ViT) or post-norm (BERT) blocks. */
  readonly norm: 'pre' | 'post';
  /** Fused LayerNormalization and Gelu nodes (opset 17+; Gelu from 20) or spelled out (opset 14). */
  readonly style: 'vit' | 'bert';
}

export const VIT_TINY: EncoderConfig = {
  name: 'vit-tiny',
  layers: 12,
  d: 192,
  heads: 3,
  hidden: 768,
  input: { kind: 'patches', image: 224, patch: 16, channels: 3 },
  classes: 1000,
  norm: 'pre',
  style: 'vit',
};

export const BERT_BASE: EncoderConfig = {
  name: 'bert-base',
  layers: 12,
  d: 768,
  heads: 12,
  hidden: 3072,
  input: { kind: 'embeddings', tokens: 128 },
  classes: 2,
  norm: 'post',
  style: 'bert',
};

/** Tokens the encoder blocks see. */
export function tokensOf(c: EncoderConfig): number {
  return c.input.kind === 'patches' ? (c.input.image / c.input.patch) ** 2 + 1 : c.input.tokens;
}

class EncoderNet extends SeededNet {
  constructor(readonly c: EncoderConfig, seed: number) {
    super(c.name, c.style === 'vit' ? 17 : 14, seed);
  }

  private shape(dims: number[]): string {
    return this.constant(`shape.${dims.join('_')}`, [dims.length], BigInt64Array.from(dims.map(BigInt)));
  }

  private node(op: string, inputs: string[], out: string, attrs: Record<string, OnnxAttrValue> = {}): string {
    this.b.node(op, inputs, [out], attrs, out);
    return out;
  }

  /** torch.nn.Linear on token rows: MatMul by the transposed weight [in, out], then Add of the bias. */
  linear(name: string, x: string, fanIn: number, fanOut: number, gain = 1): string {
    this.b.initializer(`${name}.weight`, [fanIn, fanOut], this.normal(fanIn * fanOut, Math.sqrt(gain / fanIn)));
    this.b.initializer(`${name}.bias`, [fanOut], this.normal(fanOut, 0.02));
    const y = this.node('MatMul', [x, `${name}.weight`], `${name}/MatMul`);
    return this.node('Add', [y, `${name}.bias`], `${name}/Add`);
  }

  layerNorm(name: string, x: string): string {
    const d = this.c.d;
    this.b.initializer(`${name}.weight`, [d], this.normal(d, 0.05, 1));
    this.b.initializer(`${name}.bias`, [d], this.normal(d, 0.02));
    if (this.c.style === 'vit') {
      return this.node('LayerNormalization', [x, `${name}.weight`, `${name}.bias`], `${name}/LayerNorm`, { axis: -1, epsilon: { float: 1e-6 } });
    }
    const mean = this.node('ReduceMean', [x], `${name}/ReduceMean`, { axes: [-1], keepdims: 1 });
    const centered = this.node('Sub', [x, mean], `${name}/Sub`);
    const sq = this.node('Pow', [centered, this.scalar(2)], `${name}/Pow`);
    const variance = this.node('ReduceMean', [sq], `${name}/ReduceMean_1`, { axes: [-1], keepdims: 1 });
    const std = this.node('Sqrt', [this.node('Add', [variance, this.scalar(1e-12)], `${name}/Add`)], `${name}/Sqrt`);
    const normed = this.node('Div', [centered, std], `${name}/Div`);
    return this.node('Add', [this.node('Mul', [normed, `${name}.weight`], `${name}/Mul`), `${name}.bias`], `${name}/Add_1`);
  }

  gelu(name: string, x: string): string {
    if (this.c.style === 'vit') {
      // ½x(1 + tanh(√(2/π)(x + 0.044715x³))), as timm's nn.GELU(approximate='tanh') exports below opset 20.
      const cube = this.node('Pow', [x, this.scalar(3)], `${name}/Pow`);
      const inner = this.node('Add', [x, this.node('Mul', [cube, this.scalar(0.044715)], `${name}/Mul`)], `${name}/Add`);
      const t = this.node('Tanh', [this.node('Mul', [inner, this.scalar(Math.sqrt(2 / Math.PI))], `${name}/Mul_1`)], `${name}/Tanh`);
      const onePlus = this.node('Add', [t, this.scalar(1)], `${name}/Add_1`);
      return this.node('Mul', [this.node('Mul', [x, this.scalar(0.5)], `${name}/Mul_2`), onePlus], `${name}/Mul_3`);
    }
    // ½x(1 + erf(x/√2)), as torch exports F.gelu below opset 20.
    const e = this.node('Erf', [this.node('Div', [x, this.scalar(Math.SQRT2)], `${name}/Div`)], `${name}/Erf`);
    const onePlus = this.node('Add', [e, this.scalar(1)], `${name}/Add`);
    return this.node('Mul', [this.node('Mul', [x, onePlus], `${name}/Mul`), this.scalar(0.5)], `${name}/Mul_1`);
  }

  /** Multi-head self-attention over x [B, T, d]: Q, K, V linear layers, per-head softmax(QKᵀ/√hd)·V, the output projection. */
  attention(name: string, x: string): string {
    const { d, heads } = this.c;
    const t = tokensOf(this.c);
    const hd = d / heads;
    const split = (proj: string, perm: number[]): string => {
      const r = this.node('Reshape', [this.linear(`${name}.${proj}`, x, d, d), this.shape([0, t, heads, hd])], `${name}/${proj}/Reshape`);
      return this.node('Transpose', [r], `${name}/${proj}/Transpose`, { perm });
    };
    const q = split('query', [0, 2, 1, 3]);
    const k = split('key', [0, 2, 3, 1]);
    const v = split('value', [0, 2, 1, 3]);
    const scores = this.node('Div', [this.node('MatMul', [q, k], `${name}/MatMul`), this.scalar(Math.sqrt(hd))], `${name}/Div`);
    const probs = this.node('Softmax', [scores], `${name}/Softmax`, { axis: -1 });
    const ctx = this.node('Transpose', [this.node('MatMul', [probs, v], `${name}/MatMul_1`)], `${name}/Transpose`, { perm: [0, 2, 1, 3] });
    const merged = this.node('Reshape', [ctx, this.shape([0, t, d])], `${name}/Reshape`);
    return this.linear(`${name}.output`, merged, d, d);
  }

  block(i: number, x: string): string {
    const { d, hidden } = this.c;
    const p = `encoder.layer.${i}`;
    const mlp = (y: string): string => this.linear(`${p}.output`, this.gelu(`${p}.gelu`, this.linear(`${p}.intermediate`, y, d, hidden)), hidden, d);
    if (this.c.norm === 'pre') {
      const a = this.node('Add', [x, this.attention(`${p}.attention`, this.layerNorm(`${p}.layernorm_before`, x))], `${p}/Add`);
      return this.node('Add', [a, mlp(this.layerNorm(`${p}.layernorm_after`, a))], `${p}/Add_1`);
    }
    const a = this.layerNorm(`${p}.attention.LayerNorm`, this.node('Add', [this.attention(`${p}.attention`, x), x], `${p}/Add`));
    return this.layerNorm(`${p}.output.LayerNorm`, this.node('Add', [mlp(a), a], `${p}/Add_1`));
  }

  /** The token sequence [B, T, d] the blocks read. */
  embed(): string {
    const { d } = this.c;
    const t = tokensOf(this.c);
    const inp = this.c.input;
    if (inp.kind === 'embeddings') {
      this.b.input('input', ['batch', inp.tokens, d]);
      return this.layerNorm('embeddings.LayerNorm', 'input');
    }
    const { image, patch, channels } = inp;
    this.b.input('input', ['batch', channels, image, image]);
    const fanIn = channels * patch * patch;
    this.b.initializer('patch_embed.proj.weight', [d, channels, patch, patch], this.normal(d * fanIn, Math.sqrt(1 / fanIn)));
    this.b.initializer('patch_embed.proj.bias', [d], this.normal(d, 0.02));
    this.b.node('Conv', ['input', 'patch_embed.proj.weight', 'patch_embed.proj.bias'], ['patch_embed/Conv'], { kernel_shape: [patch, patch], strides: [patch, patch] }, 'patch_embed.proj');
    const flat = this.node('Reshape', ['patch_embed/Conv', this.shape([0, d, t - 1])], 'patch_embed/Reshape');
    const tokens = this.node('Transpose', [flat], 'patch_embed/Transpose', { perm: [0, 2, 1] });
    this.b.initializer('cls_token', [1, 1, d], this.normal(d, 0.5));
    this.b.initializer('pos_embed', [1, t, d], this.normal(t * d, 0.5));
    // cls_token.expand(B, -1, -1): the batch comes from the input's shape (a folded Shape/Gather/Concat chain).
    this.b.node('Shape', ['input'], ['embed/Shape'], {}, 'embed/Shape');
    this.b.initializer('embed.zero', [], BigInt64Array.from([0n]));
    this.b.node('Gather', ['embed/Shape', 'embed.zero'], ['embed/batch'], { axis: 0 }, 'embed/Gather');
    this.b.initializer('embed.axes0', [1], BigInt64Array.from([0n]));
    this.b.node('Unsqueeze', ['embed/batch', 'embed.axes0'], ['embed/batch1'], {}, 'embed/Unsqueeze');
    this.b.initializer('embed.rest', [2], BigInt64Array.from([1n, BigInt(d)]));
    this.b.node('Concat', ['embed/batch1', 'embed.rest'], ['embed/cls_shape'], { axis: 0 }, 'embed/Concat');
    const cls = this.node('Expand', ['cls_token', 'embed/cls_shape'], 'embed/Expand');
    const seq = this.node('Concat', [cls, tokens], 'embed/Concat_1', { axis: 1 });
    return this.node('Add', [seq, 'pos_embed'], 'embed/Add');
  }

  head(x: string): Uint8Array {
    const { d, classes } = this.c;
    const final = this.c.norm === 'pre' ? this.layerNorm('norm', x) : x;
    this.b.initializer('first_token', [], BigInt64Array.from([0n]));
    const first = this.node('Gather', [final, 'first_token'], 'pool/Gather', { axis: 1 });
    const pooled = this.c.style === 'bert' ? this.node('Tanh', [this.gemm('pooler.dense', first, d, d)], 'pooler/Tanh') : first;
    this.gemm('classifier', pooled, d, classes, 'logits');
    this.b.output('logits', ['batch', classes]);
    return this.b.toBytes();
  }

  /** torch.nn.Linear on [B, in] as torch exports it on a 2-D input: Gemm(transB = 1). */
  gemm(name: string, x: string, fanIn: number, fanOut: number, out = `${name}/Gemm`): string {
    this.b.initializer(`${name}.weight`, [fanOut, fanIn], this.normal(fanIn * fanOut, Math.sqrt(1 / fanIn)));
    this.b.initializer(`${name}.bias`, [fanOut], this.normal(fanOut, 0.02));
    this.b.node('Gemm', [x, `${name}.weight`, `${name}.bias`], [out], { transB: 1 }, name);
    return out;
  }
}

/** The ONNX bytes of an encoder of configuration `c` with weights drawn from `seed`. */
export function buildEncoder(c: EncoderConfig, seed: number): Uint8Array {
  const net = new EncoderNet(c, seed);
  let x = net.embed();
  for (let i = 0; i < c.layers; i++) x = net.block(i, x);
  return net.head(x);
}
