/**
 * The committed Fashion-MNIST CNN (scripts/train_fashion_mnist.py) as a trainable model:
 * [conv16-bn-relu, maxpool] → conv32-bn-relu → residual(conv32-bn-relu-conv32-bn, + x, relu) →
 * maxpool → avgpool 2 → flatten 288 → Gemm 10. Its parameters are named as torch exports them, so a
 * model from that script starts a run, and a run's result is written back as the same graph (Conv,
 * BatchNormalization with the running statistics, Relu, MaxPool, Add, AveragePool, Flatten, Gemm)
 * that `slalom infer` loads.
 */
import type { RawModel } from '../graph/ir.js';
import { OnnxBuilder } from '../onnx/build.js';
import { BatchNorm, Conv, Dense, Flatten, Pool2, Relu, Residual, Sequential } from './layers.js';
import type { Initial, TrainableModel } from './model.js';
import { stateTensors } from './model.js';
import type { SeededStream } from './stream.js';

export function fashionMnistCnn(init: Initial): TrainableModel {
  const v = (name: string): Float64Array | undefined => init.get(name);
  const bn = (name: string, ch: number): BatchNorm => {
    const g = v(`${name}.weight`), b = v(`${name}.bias`), m = v(`${name}.running_mean`), r = v(`${name}.running_var`);
    return new BatchNorm(name, ch, { ...(g ? { gamma: g } : {}), ...(b ? { beta: b } : {}), ...(m ? { mean: m } : {}), ...(r ? { var: r } : {}) });
  };
  const bns = [bn('bn1', 16), bn('bn2', 32), bn('res.bn1', 32), bn('res.bn2', 32)];
  const net = new Sequential([
    new Conv(0, 'conv1', 1, 16, 3, false, v('conv1.weight')),
    bns[0]!,
    new Relu(),
    new Pool2('max'),
    new Conv(1, 'conv2', 16, 32, 3, true, v('conv2.weight')),
    bns[1]!,
    new Relu(),
    new Residual(new Sequential([new Conv(2, 'res.conv1', 32, 32, 3, true, v('res.conv1.weight')), bns[2]!, new Relu(), new Conv(3, 'res.conv2', 32, 32, 3, true, v('res.conv2.weight')), bns[3]!])),
    new Pool2('max'),
    new Pool2('average'),
    new Flatten(),
    new Dense(4, 'fc', 288, 10, true, v('fc.weight'), v('fc.bias')),
  ]);
  return { arch: 'fashion-mnist-cnn', net, inputDims: [1, 28, 28], classes: 10, params: net.params(), batchNorms: bns, linearNames: ['conv1', 'conv2', 'res.conv1', 'res.conv2', 'fc'] };
}

/** Fan-in of a parameter for torch's default init: weights [out, in, …] → in·∏kernel; a bias takes its weight's. */
function fanIn(dims: readonly number[]): number {
  return dims.slice(1).reduce((a, b) => a * b, 1);
}

/** Weights uniform in ±1/√fan_in from stream (init, parameter index), as torch initialises them; BatchNorm γ = 1, β = 0. */
export function seedCnn(model: TrainableModel, stream: SeededStream): void {
  let weightFan = 1;
  model.params.forEach((p, i) => {
    if (p.name.includes('bn')) return;
    if (p.dims.length > 1) weightFan = fanIn(p.dims);
    const bound = 1 / Math.sqrt(weightFan);
    const u = stream.uniforms('init', i, 0, p.value.length);
    for (let j = 0; j < u.length; j++) p.value[j] = (2 * u[j]! - 1) * bound;
  });
}

/** Initial values from the ONNX graph scripts/train_fashion_mnist.py exports: its initializers by their torch names. */
export function cnnInitialFromOnnx(raw: RawModel): Initial {
  const init = new Map<string, Float64Array>();
  for (const [name, t] of raw.initializers) init.set(name, Float64Array.from(t.data));
  return init;
}

/** The model for inference, as ONNX (float32 weights, BatchNorm with the running statistics, symbolic batch). */
export function cnnToOnnx(model: TrainableModel): Uint8Array {
  const b = new OnnxBuilder('slalom_trained', { opset: 13, producer: 'slalom-train' });
  const value = (name: string): Float64Array => stateTensors(model).find((t) => t.name === name)!.value;
  const dimsOf = (name: string): number[] => [...model.params.find((p) => p.name === name)!.dims];
  const f32 = (name: string): Float32Array => Float32Array.from(value(name));
  for (const p of model.params) b.initializer(p.name, p.dims, Float32Array.from(p.value));
  for (const n of model.batchNorms) {
    b.initializer(`${n.name}.running_mean`, [n.channels], f32(`${n.name}.running_mean`));
    b.initializer(`${n.name}.running_var`, [n.channels], f32(`${n.name}.running_var`));
  }
  b.input('input', ['batch', ...model.inputDims]);
  const conv = (x: string, name: string): string => (b.node('Conv', [x, `${name}.weight`], [`${name}_out`], { kernel_shape: dimsOf(`${name}.weight`).slice(2), pads: [1, 1, 1, 1], strides: [1, 1] }, name), `${name}_out`);
  const norm = (x: string, name: string): string => (b.node('BatchNormalization', [x, `${name}.weight`, `${name}.bias`, `${name}.running_mean`, `${name}.running_var`], [`${name}_out`], { epsilon: { float: BatchNorm.EPSILON } }, name), `${name}_out`);
  const relu = (x: string, name: string): string => (b.node('Relu', [x], [name]), name);
  const pool = (op: 'MaxPool' | 'AveragePool', x: string, name: string): string => (b.node(op, [x], [name], { kernel_shape: [2, 2], strides: [2, 2] }), name);
  let x = pool('MaxPool', relu(norm(conv('input', 'conv1'), 'bn1'), 'relu1'), 'pool1');
  x = relu(norm(conv(x, 'conv2'), 'bn2'), 'relu2');
  const body = norm(conv(relu(norm(conv(x, 'res.conv1'), 'res.bn1'), 'res.relu1'), 'res.conv2'), 'res.bn2');
  b.node('Add', [body, x], ['res_sum']);
  x = pool('AveragePool', pool('MaxPool', relu('res_sum', 'res.relu2'), 'pool2'), 'pool3');
  b.node('Flatten', [x], ['flat'], { axis: 1 });
  b.node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }, 'fc');
  b.output('logits', ['batch', model.classes]);
  return b.toBytes();
}
