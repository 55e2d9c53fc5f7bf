/**
 * The trainable architectures and their ONNX form:
 * - `fashion-mnist-cnn`: the committed Fashion-MNIST CNN (scripts/train_fashion_mnist.py; train/cnn.ts);
 * - `vit-fashion-mnist`: the committed Vision Transformer (scripts/train_vit_fashion_mnist.py; train/vit.ts);
 * - `vgg-fashion-mnist`: a VGG-style net of five 3×3 convolutions (train/vgg.ts; its torch twin in scripts/train_reference.py).
 * Each model's parameters are named as torch exports them, so a model from its script starts a run
 * (`modelFromOnnx`), and a run's result is written back as an ONNX graph `slalom infer` loads
 * (`modelToOnnx`). From scratch, weights are drawn as torch initialises them from the run's seeded
 * stream, so a seed names the initial model.
 */
import { InvalidArgumentError, UnsupportedModelError } from '../errors.js';
import type { RawModel } from '../graph/ir.js';
import { parseOnnx } from '../graph/onnx/parse.js';
import { cnnInitialFromOnnx, cnnToOnnx, fashionMnistCnn, seedCnn } from './cnn.js';
import type { BatchNorm, Param, Sequential } from './layers.js';
import type { SeededStream } from './stream.js';
import { vggFashionMnist, vggToOnnx } from './vgg.js';
import { seedVit, vitFashionMnist, vitInitialFromOnnx } from './vit.js';
import { vitToOnnx } from './vit-onnx.js';

export const ARCHITECTURES = ['fashion-mnist-cnn', 'vit-fashion-mnist', 'vgg-fashion-mnist'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export interface TrainableModel {
  readonly arch: Architecture;
  readonly net: Sequential;
  /** Input of one item [C, H, W] and the number of classes. */
  readonly inputDims: readonly number[];
  readonly classes: number;
  readonly params: readonly Param[];
  readonly batchNorms: readonly BatchNorm[];
  /** The outsourced layers, in the order of their product ids (train/products.ts). */
  readonly linearNames: readonly string[];
}

/** Initial values by torch name (weights, BatchNorm running statistics); a missing name is drawn or defaulted. */
export type Initial = ReadonlyMap<string, Float64Array>;

interface ArchitectureSpec {
  readonly build: (init: Initial) => TrainableModel;
  /** Draws a fresh model's parameters from stream (init, parameter index). */
  readonly seed: (model: TrainableModel, stream: SeededStream) => void;
  /** Initial values by torch name from the ONNX graph the architecture's script exports (or modelToOnnx writes). */
  readonly initialFromOnnx: (raw: RawModel) => Initial;
  readonly toOnnx: (model: TrainableModel) => Uint8Array;
  readonly script: string;
}

const SPECS: Record<Architecture, ArchitectureSpec> = {
  'fashion-mnist-cnn': { build: fashionMnistCnn, seed: seedCnn, initialFromOnnx: cnnInitialFromOnnx, toOnnx: cnnToOnnx, script: 'scripts/train_fashion_mnist.py' },
  'vit-fashion-mnist': { build: vitFashionMnist, seed: seedVit, initialFromOnnx: vitInitialFromOnnx, toOnnx: vitToOnnx, script: 'scripts/train_vit_fashion_mnist.py' },
  'vgg-fashion-mnist': { build: vggFashionMnist, seed: seedCnn, initialFromOnnx: cnnInitialFromOnnx, toOnnx: vggToOnnx, script: 'scripts/train_reference.py (VggNet)' },
};

/** A fresh model of architecture `arch`, drawn from the run's seeded stream. */
export function seededModel(arch: Architecture, stream: SeededStream): TrainableModel {
  const model = SPECS[arch].build(new Map());
  SPECS[arch].seed(model, stream);
  return model;
}

/** A model of architecture `arch` with every parameter and running statistic from an ONNX file (as the architecture's script exports it). */
export function modelFromOnnx(bytes: Uint8Array, arch: Architecture = 'fashion-mnist-cnn'): TrainableModel {
  const spec = SPECS[arch];
  const init = spec.initialFromOnnx(parseOnnx(bytes));
  for (const t of stateTensors(spec.build(new Map()))) {
    const given = init.get(t.name);
    if (given === undefined || given.length !== t.value.length) {
      throw new UnsupportedModelError(`the model is not a ${arch}: tensor '${t.name}' ${given === undefined ? 'is missing' : `has ${given.length} values, expected ${t.value.length}`} (train takes models as ${spec.script} exports them)`);
    }
  }
  return spec.build(init);
}

/** The model for inference, as ONNX (float32 weights, symbolic batch). */
export function modelToOnnx(model: TrainableModel): Uint8Array {
  return SPECS[model.arch].toOnnx(model);
}

/** Every tensor of the model's state (parameters, then running statistics), by name, in a fixed order. */
export function stateTensors(model: TrainableModel): { readonly name: string; readonly value: Float64Array }[] {
  return [...model.params.map((p) => ({ name: p.name, value: p.value })), ...model.batchNorms.flatMap((b) => [{ name: `${b.name}.running_mean`, value: b.runningMean }, { name: `${b.name}.running_var`, value: b.runningVar }])];
}

export function isArchitecture(name: string): name is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(name);
}

export function checkArchitecture(name: string): Architecture {
  if (!isArchitecture(name)) throw new InvalidArgumentError(`unknown architecture '${name}' (one of ${ARCHITECTURES.join(', ')})`);
  return name;
}
