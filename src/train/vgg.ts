/**
 * A VGG-style Fashion-MNIST network for measuring verified training where the linear layers dominate
 * (issue 25): five 3×3 convolutions of 32, 64, 128, 256 and 256 channels, each followed by
 * BatchNorm and ReLU, 2×2 max pools after the first, the second and the fifth (28 → 14 → 7 → 3),
 * flatten 2 304 → Gemm 10. A forward pass is 50 826 240 multiply-accumulates per image against
 * 100 314 values entering or leaving a linear layer: 507 per linear value (VGG_MACS_PER_IMAGE,
 * VGG_LINEAR_VALUES_PER_IMAGE). Built from the CNN's layers; parameters named conv1…conv5, bn1…bn5, fc
 * (scripts/train_reference.py builds the same net in torch), written back as the graph `slalom infer` loads.
 */
import { OnnxBuilder } from '../onnx/build.js';
import { BatchNorm, Conv, Dense, Flatten, Pool2, Relu, Sequential, type Module } from './layers.js';
import type { Initial, TrainableModel } from './model.js';
import { stateTensors } from './model.js';

/** Output channels of each conv, and whether a 2×2 max pool follows it. */
const STAGES: readonly { readonly channels: number; readonly pool: boolean }[] = [
  { channels: 32, pool: true },
  { channels: 64, pool: true },
  { channels: 128, pool: false },
  { channels: 256, pool: false },
  { channels: 256, pool: true },
];
const IMAGE = 28;
const CLASSES = 10;

/** Each linear layer's forward multiply-accumulates and the values entering or leaving it, per image. */
function linearCosts(): { macs: number; values: number } {
  let side = IMAGE;
  let cin = 1;
  let macs = 0;
  let values = 0;
  for (const s of STAGES) {
    const pos = side * side;
    macs += pos * s.channels * cin * 9;
    values += pos * cin + pos * s.channels;
    cin = s.channels;
    if (s.pool) side = Math.floor(side / 2);
  }
  const features = cin * side * side;
  return { macs: macs + features * CLASSES, values: values + features + CLASSES };
}
export const VGG_MACS_PER_IMAGE = linearCosts().macs;
export const VGG_LINEAR_VALUES_PER_IMAGE = linearCosts().values;

export function vggFashionMnist(init: Initial): TrainableModel {
  const v = (name: string): Float64Array | undefined => init.get(name);
  const modules: Module[] = [];
  const batchNorms: BatchNorm[] = [];
  const linearNames: string[] = [];
  let cin = 1;
  let side = IMAGE;
  STAGES.forEach((s, i) => {
    const conv = `conv${i + 1}`;
    const bn = `bn${i + 1}`;
    const g = v(`${bn}.weight`), b = v(`${bn}.bias`), m = v(`${bn}.running_mean`), r = v(`${bn}.running_var`);
    const norm = new BatchNorm(bn, s.channels, { ...(g ? { gamma: g } : {}), ...(b ? { beta: b } : {}), ...(m ? { mean: m } : {}), ...(r ? { var: r } : {}) });
    batchNorms.push(norm);
    linearNames.push(conv);
    modules.push(new Conv(i, conv, cin, s.channels, 3, i > 0, v(`${conv}.weight`)), norm, new Relu());
    if (s.pool) modules.push(new Pool2('max'));
    cin = s.channels;
    if (s.pool) side = Math.floor(side / 2);
  });
  linearNames.push('fc');
  modules.push(new Flatten(), new Dense(STAGES.length, 'fc', cin * side * side, CLASSES, true, v('fc.weight'), v('fc.bias')));
  const net = new Sequential(modules);
  return { arch: 'vgg-fashion-mnist', net, inputDims: [1, IMAGE, IMAGE], classes: CLASSES, params: net.params(), batchNorms, linearNames };
}

/** The model for inference, as ONNX (float32 weights, BatchNorm with the running statistics, symbolic batch). */
export function vggToOnnx(model: TrainableModel): Uint8Array {
  const b = new OnnxBuilder('slalom_trained_vgg', { opset: 13, producer: 'slalom-train' });
  for (const t of stateTensors(model)) b.initializer(t.name, [...(model.params.find((p) => p.name === t.name)?.dims ?? [t.value.length])], Float32Array.from(t.value));
  b.input('input', ['batch', ...model.inputDims]);
  let x = 'input';
  STAGES.forEach((s, i) => {
    const conv = `conv${i + 1}`;
    const bn = `bn${i + 1}`;
    b.node('Conv', [x, `${conv}.weight`], [`${conv}_out`], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }, conv);
    b.node('BatchNormalization', [`${conv}_out`, `${bn}.weight`, `${bn}.bias`, `${bn}.running_mean`, `${bn}.running_var`], [`${bn}_out`], { epsilon: { float: BatchNorm.EPSILON } }, bn);
    b.node('Relu', [`${bn}_out`], [`relu${i + 1}`]);
    x = `relu${i + 1}`;
    if (s.pool) {
      b.node('MaxPool', [x], [`pool${i + 1}`], { kernel_shape: [2, 2], strides: [2, 2] });
      x = `pool${i + 1}`;
    }
  });
  b.node('Flatten', [x], ['flat'], { axis: 1 });
  b.node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }, 'fc');
  b.output('logits', ['batch', model.classes]);
  return b.toBytes();
}
