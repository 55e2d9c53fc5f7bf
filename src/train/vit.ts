/**
 * The committed Vision Transformer (scripts/train_vit_fashion_mnist.py) as a trainable model: 7×7
 * patches of a 28×28 image (16 tokens) embedded by a Linear, a class token and learned position
 * embeddings (17 tokens, d 64), 2 pre-norm blocks — x + attn(ln1(x)) with 4 heads, then
 * x + fc2(gelu(fc1(ln2(x)))) with an MLP of 128 — and LayerNorm and a Linear head on the class token.
 * Parameters carry torch's names. Its ten linear layers (embed; per block qkv, proj, fc1, fc2; head)
 * are outsourced and checked, over token rows (batch × 17); everything else runs in the trusted runtime.
 */
import type { RawModel } from '../graph/ir.js';
import { SelfAttention } from './attention.js';
import { Gelu } from './gelu.js';
import { LayerNorm } from './layer-norm.js';
import { Dense, Sequential, transpose, type Param } from './layers.js';
import type { Initial, TrainableModel } from './model.js';
import { Skip } from './skip.js';
import type { SeededStream } from './stream.js';
import { ClassTokenPosition, ClassTokenRow, Patches } from './tokens.js';

export const VIT_SHAPE = { image: 28, patch: 7, dim: 64, depth: 2, heads: 4, hidden: 128, classes: 10 } as const;
const TOKENS = (VIT_SHAPE.image / VIT_SHAPE.patch) ** 2;

export function vitFashionMnist(init: Initial): TrainableModel {
  const { patch, dim, depth, heads, hidden, classes } = VIT_SHAPE;
  const v = (name: string): Float64Array | undefined => init.get(name);
  const dense = (index: number, name: string, inF: number, outF: number, needInputGrad = true): Dense => new Dense(index, name, inF, outF, needInputGrad, v(`${name}.weight`), v(`${name}.bias`));
  const norm = (name: string): LayerNorm => new LayerNorm(name, dim, v(`${name}.weight`), v(`${name}.bias`));
  const linearNames = ['embed'];
  const blocks = Array.from({ length: depth }, (_, k) => {
    const at = `blocks.${k}`;
    const first = 1 + 4 * k;
    linearNames.push(`${at}.attn.qkv`, `${at}.attn.proj`, `${at}.fc1`, `${at}.fc2`);
    const attn = new SelfAttention(`${at}.attn`, dim, heads, first, v);
    return [
      new Skip(new Sequential([norm(`${at}.ln1`), attn])),
      new Skip(new Sequential([norm(`${at}.ln2`), dense(first + 2, `${at}.fc1`, dim, hidden), new Gelu(), dense(first + 3, `${at}.fc2`, hidden, dim)])),
    ];
  }).flat();
  linearNames.push('head');
  const net = new Sequential([
    new Patches(patch),
    // The first layer needs no input gradient: only its weight gradient.
    dense(0, 'embed', patch * patch, dim, false),
    new ClassTokenPosition(TOKENS, dim, v('cls'), v('pos')),
    ...blocks,
    // LayerNorm is per token, so the class token's row normalised alone is torch's norm(x)[:, 0].
    new ClassTokenRow(),
    norm('norm'),
    dense(1 + 4 * depth, 'head', dim, classes),
  ]);
  return { arch: 'vit-fashion-mnist', net, inputDims: [1, VIT_SHAPE.image, VIT_SHAPE.image], classes, params: net.params(), batchNorms: [], linearNames };
}

/**
 * As torch initialises the script's ViT, from stream (init, parameter index): Linear weights and
 * biases uniform in ±1/√fan_in, LayerNorm γ = 1 and β = 0, the class token 0, the position
 * embedding 0.02·N(0, 1) (Box–Muller on the stream's uniforms).
 */
export function seedVit(model: TrainableModel, stream: SeededStream): void {
  const fanOf = new Map(model.params.filter((p) => p.dims.length === 2 && p.name.endsWith('.weight')).map((p) => [p.name.slice(0, -'.weight'.length), p.dims[1]!]));
  model.params.forEach((p: Param, i) => {
    if (p.name === 'pos') {
      const u = stream.uniforms('init', i, 0, 2 * p.value.length);
      for (let j = 0; j < p.value.length; j++) p.value[j] = 0.02 * Math.sqrt(-2 * Math.log(1 - u[2 * j]!)) * Math.cos(2 * Math.PI * u[2 * j + 1]!);
      return;
    }
    const fan = fanOf.get(p.name.replace(/\.(weight|bias)$/, ''));
    if (fan === undefined) return; // LayerNorm and the class token keep their defaults
    const bound = 1 / Math.sqrt(fan);
    const u = stream.uniforms('init', i, 0, p.value.length);
    for (let j = 0; j < u.length; j++) p.value[j] = (2 * u[j]! - 1) * bound;
  });
}

/**
 * Initial values from the ViT's ONNX graph: the initializers torch names (biases, LayerNorm, cls,
 * pos, head) and each Linear's weight, which torch exports transposed ([in, out]) and unnamed as
 * the second input of a MatMul node named `/<module path>/MatMul` — how vit-onnx.ts writes it too.
 */
export function vitInitialFromOnnx(raw: RawModel): Initial {
  const init = new Map<string, Float64Array>();
  for (const [name, t] of raw.initializers) init.set(name, Float64Array.from(t.data));
  for (const node of raw.nodes) {
    const layer = /^\/(.+)\/MatMul$/.exec(node.name)?.[1];
    const w = raw.initializers.get(node.inputs[1] ?? '');
    if (node.op !== 'MatMul' || layer === undefined || w === undefined || w.dims.length !== 2) continue;
    init.set(`${layer.replaceAll('/', '.')}.weight`, transpose(Float64Array.from(w.data), w.dims[0]!, w.dims[1]!));
  }
  return init;
}
