/**
 * A trained ViT as ONNX, node for node the graph torch.onnx.export writes for
 * scripts/train_vit_fashion_mnist.py (opset 14): patches by Reshape/Transpose/Reshape, each Linear a
 * MatMul by its transposed weight (named `/<module path>/MatMul`, so train/vit.ts reads it back) plus
 * an Add of its bias, the class token expanded over the batch and concatenated, LayerNorm spelled out
 * (ReduceMean/Sub/Pow/Sqrt/Div), attention reshaped into heads with two activation MatMuls and a
 * Softmax, GELU through Erf, and LayerNorm and a Gemm head on the class token. Shapes are constants
 * with −1 for the batch, except the class token's Expand, which takes the batch from Shape(input).
 */
import { OnnxBuilder } from '../onnx/build.js';
import { LayerNorm } from './layer-norm.js';
import { transpose } from './layers.js';
import type { TrainableModel } from './model.js';
import { VIT_SHAPE } from './vit.js';

export function vitToOnnx(model: TrainableModel): Uint8Array {
  const { image, patch, dim, depth, heads, hidden, classes } = VIT_SHAPE;
  const grid = image / patch;
  const tokens = grid * grid + 1;
  const b = new OnnxBuilder('slalom_trained_vit', { opset: 14, producer: 'slalom-train' });
  const param = (name: string) => model.params.find((p) => p.name === name)!;
  // Every parameter under its torch name, except the MatMul weights, which linear() writes transposed; the head is a Gemm of [out, in].
  for (const p of model.params) if (p.dims.length !== 2 || p.name === 'head.weight') b.initializer(p.name, p.dims, Float32Array.from(p.value));
  const ints = (name: string, values: number[]): string => (b.initializer(name, [values.length], BigInt64Array.from(values.map(BigInt))), name);
  const scalar = (name: string, value: number): string => (b.initializer(name, [], Float32Array.of(value)), name);
  const two = scalar('two', 2);
  const one = scalar('one', 1);
  const half = scalar('half', 0.5);
  const eps = scalar('layer_norm_epsilon', LayerNorm.EPSILON);
  const sqrt2 = scalar('sqrt_two', Math.SQRT2);
  const sqrtHead = scalar('sqrt_head_dim', Math.sqrt(dim / heads));

  /** torch's node path of a module: `blocks.0.attn.qkv` → `/blocks.0/attn/qkv` (a ModuleList index stays with its list). */
  const pathOf = (layer: string): string => `/${layer.replace(/\.(?=[a-z])/g, '/')}`;
  const linear = (x: string, layer: string, inF: number, outF: number): string => {
    const path = pathOf(layer);
    const weight = `${layer}.weight_transposed`;
    b.initializer(weight, [inF, outF], Float32Array.from(transpose(param(`${layer}.weight`).value, outF, inF)));
    b.node('MatMul', [x, weight], [`${path}/MatMul_output_0`], {}, `${path}/MatMul`);
    b.node('Add', [`${layer}.bias`, `${path}/MatMul_output_0`], [`${path}/Add_output_0`], {}, `${path}/Add`);
    return `${path}/Add_output_0`;
  };
  const layerNorm = (x: string, layer: string): string => {
    const path = pathOf(layer);
    const out = (op: string): string => `${path}/${op}_output_0`;
    const node = (op: string, inputs: string[], attrs = {}, tag = op): string => (b.node(op, inputs, [out(tag)], attrs, `${path}/${tag}`), out(tag));
    const mean = node('ReduceMean', [x], { axes: [-1] });
    const centred = node('Sub', [x, mean]);
    const variance = node('ReduceMean', [node('Pow', [centred, two])], { axes: [-1] }, 'ReduceMean_1');
    const std = node('Sqrt', [node('Add', [variance, eps])]);
    return node('Add', [node('Mul', [node('Div', [centred, std]), `${layer}.weight`]), `${layer}.bias`], {}, 'Add_1');
  };
  const reshape = (x: string, name: string, shape: number[]): string => (b.node('Reshape', [x, ints(`${name}_shape`, shape)], [name], {}, name), name);
  const transposed = (x: string, name: string, perm: number[]): string => (b.node('Transpose', [x], [name], { perm }, name), name);

  b.input('input', ['batch', 1, image, image]);
  const patches = reshape(transposed(reshape('input', 'grid', [-1, grid, patch, grid, patch]), 'grid_transposed', [0, 1, 3, 2, 4]), 'patches', [-1, grid * grid, patch * patch]);
  const embedded = linear(patches, 'embed', patch * patch, dim);
  b.node('Shape', ['input'], ['input_shape']);
  b.node('Gather', ['input_shape', ints('batch_axis', [0])], ['batch_size'], { axis: 0 });
  b.node('Concat', ['batch_size', ints('class_token_tail', [1, dim])], ['class_token_shape'], { axis: 0 });
  b.node('Expand', ['cls', 'class_token_shape'], ['class_tokens']);
  b.node('Concat', ['class_tokens', embedded], ['tokens'], { axis: 1 });
  b.node('Add', ['tokens', 'pos'], ['/Add_output_0'], {}, '/Add');
  let x = '/Add_output_0';
  for (let k = 0; k < depth; k++) {
    const at = `blocks.${k}`;
    const path = `/blocks.${k}`;
    const qkv = linear(layerNorm(x, `${at}.ln1`), `${at}.attn.qkv`, dim, 3 * dim);
    const parts = [0, 1, 2].map((i) => `${path}/attn/Split_output_${i}`);
    b.node('Split', [qkv, ints(`${path}/attn/split`, [dim, dim, dim])], parts, { axis: 2 }, `${path}/attn/Split`);
    const headsOf = (i: number, perm: number[]): string => transposed(reshape(parts[i]!, `${path}/attn/heads_${i}`, [-1, tokens, heads, dim / heads]), `${path}/attn/heads_${i}_transposed`, perm);
    const [q, kT, v] = [headsOf(0, [0, 2, 1, 3]), headsOf(1, [0, 2, 3, 1]), headsOf(2, [0, 2, 1, 3])];
    b.node('MatMul', [q!, kT!], [`${path}/attn/scores`], {}, `${path}/attn/MatMul`);
    b.node('Div', [`${path}/attn/scores`, sqrtHead], [`${path}/attn/scaled`], {}, `${path}/attn/Div`);
    b.node('Softmax', [`${path}/attn/scaled`], [`${path}/attn/weights`], { axis: -1 }, `${path}/attn/Softmax`);
    b.node('MatMul', [`${path}/attn/weights`, v!], [`${path}/attn/mixed`], {}, `${path}/attn/MatMul_1`);
    const merged = reshape(transposed(`${path}/attn/mixed`, `${path}/attn/mixed_transposed`, [0, 2, 1, 3]), `${path}/attn/merged`, [-1, tokens, dim]);
    b.node('Add', [x, linear(merged, `${at}.attn.proj`, dim, dim)], [`${path}/Add_output_0`], {}, `${path}/Add`);
    const h = linear(layerNorm(`${path}/Add_output_0`, `${at}.ln2`), `${at}.fc1`, dim, hidden);
    b.node('Div', [h, sqrt2], [`${path}/Div_output_0`], {}, `${path}/Div`);
    b.node('Erf', [`${path}/Div_output_0`], [`${path}/Erf_output_0`], {}, `${path}/Erf`);
    b.node('Add', [`${path}/Erf_output_0`, one], [`${path}/Add_1_output_0`], {}, `${path}/Add_1`);
    b.node('Mul', [h, `${path}/Add_1_output_0`], [`${path}/Mul_output_0`], {}, `${path}/Mul`);
    b.node('Mul', [`${path}/Mul_output_0`, half], [`${path}/Mul_1_output_0`], {}, `${path}/Mul_1`);
    b.node('Add', [`${path}/Add_output_0`, linear(`${path}/Mul_1_output_0`, `${at}.fc2`, hidden, dim)], [`${path}/Add_2_output_0`], {}, `${path}/Add_2`);
    x = `${path}/Add_2_output_0`;
  }
  b.initializer('class_token_index', [], BigInt64Array.of(0n));
  b.node('Gather', [layerNorm(x, 'norm'), 'class_token_index'], ['class_token_rows'], { axis: 1 });
  b.node('Gemm', ['class_token_rows', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, '/head/Gemm');
  b.output('logits', ['batch', classes]);
  return b.toBytes();
}
