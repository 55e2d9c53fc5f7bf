/**
 * Layer helpers shared by the zoo architectures: each adds the ONNX nodes and seeded random weights of
 * one torchvision module (Conv2d, BatchNorm2d, ReLU, ReLU6, pools, Linear) and returns its output name.
 *
 * Initializers are named as torchvision's `state_dict` (`layer1.0.conv1.weight`, `bn1.running_var`).
 * Weights keep activations near unit scale for a standard-normal input, as slalom's fixed-point
 * quantization needs: a layer whose weights are N(0, gain / fan_in) maps E[x²] to gain·E[x²], so
 * gain 2 (Kaiming) before a ReLU and gain 1 before a linear output preserve the second moment; random
 * BatchNorm statistics stay close to the identity (γ ≈ 1 ± 0.1, var ≈ 1 ± 0.1, small β and mean).
 */

import { OnnxBuilder } from '../onnx/build.js';
import { Rng } from '../util/seeded-rng.js';

/** Every zoo model's input and output names and shapes. */
export const ZOO_INPUT = 'input';
export const ZOO_OUTPUT = 'logits';
export const ZOO_INPUT_DIMS = [1, 3, 224, 224];
export const ZOO_CLASSES = 1000;

export interface ConvSpec {
  cin: number;
  cout: number;
  k: number;
  stride?: number;
  /** Symmetric padding; default ⌊k/2⌋. */
  pad?: number;
  group?: number;
  bias?: boolean;
  /** Weight variance is gain / fan_in (default 2: Kaiming normal, for a conv followed by ReLU). */
  gain?: number;
}

/** One network under construction: an `OnnxBuilder` plus the seeded stream its weights come from. */
export class ZooNet {
  readonly b: OnnxBuilder;
  readonly rng: Rng;
  private relu6Bounds = false;

  constructor(graphName: string, seed: number) {
    this.b = new OnnxBuilder(graphName, { opset: 13, producer: 'slalom-zoo' });
    this.rng = new Rng(seed);
    this.b.input(ZOO_INPUT, ZOO_INPUT_DIMS);
  }

  /** `torch.nn.Conv2d` named `name`: weight [cout, cin/group, k, k], optional bias. */
  conv(name: string, x: string, spec: ConvSpec): string {
    const { cin, cout, k, stride = 1, pad = Math.floor(k / 2), group = 1, bias = false, gain = 2 } = spec;
    const fanIn = (cin / group) * k * k;
    const w = this.rng.fillNormal(new Float32Array(cout * fanIn), Math.sqrt(gain / fanIn));
    this.b.initializer(`${name}.weight`, [cout, cin / group, k, k], w);
    const inputs = [x, `${name}.weight`];
    if (bias) {
      this.b.initializer(`${name}.bias`, [cout], this.rng.fillNormal(new Float32Array(cout), 0.01));
      inputs.push(`${name}.bias`);
    }
    this.b.node(
      'Conv',
      inputs,
      [name],
      { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1], group },
      name,
    );
    return name;
  }

  /** `torch.nn.BatchNorm2d` named `name` over `c` channels; γ is scaled by `gammaScale`. */
  bn(name: string, x: string, c: number, gammaScale = 1): string {
    const gamma = this.rng.fillUniform(new Float32Array(c), 0.9, 1.1);
    for (let i = 0; i < c; i++) gamma[i]! *= gammaScale;
    this.b.initializer(`${name}.weight`, [c], gamma);
    this.b.initializer(`${name}.bias`, [c], this.rng.fillNormal(new Float32Array(c), 0.02));
    this.b.initializer(`${name}.running_mean`, [c], this.rng.fillNormal(new Float32Array(c), 0.05));
    this.b.initializer(`${name}.running_var`, [c], this.rng.fillUniform(new Float32Array(c), 0.9, 1.1));
    const inputs = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => `${name}.${p}`);
    this.b.node('BatchNormalization', [x, ...inputs], [name], { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } }, name);
    return name;
  }

  relu(name: string, x: string): string {
    this.b.node('Relu', [x], [name], {}, name);
    return name;
  }

  /** ReLU6 as opset-13 `Clip(x, 0, 6)`, the bounds shared scalar initializers. */
  relu6(name: string, x: string): string {
    if (!this.relu6Bounds) {
      this.b.initializer('relu6.min', [], new Float32Array([0]));
      this.b.initializer('relu6.max', [], new Float32Array([6]));
      this.relu6Bounds = true;
    }
    this.b.node('Clip', [x, 'relu6.min', 'relu6.max'], [name], {}, name);
    return name;
  }

  /**
   * Conv2d (no bias) + BatchNorm2d + optional activation, as torchvision's `Conv2dNormActivation`;
   * the modules are named `conv`, `bn` and `act.name`, and BatchNorm's γ is scaled by `gammaScale`.
   */
  convBnAct(
    x: string,
    spec: ConvSpec,
    conv: string,
    bn: string,
    act?: { kind: 'relu' | 'relu6'; name: string },
    gammaScale = 1,
  ): string {
    const y = this.bn(bn, this.conv(conv, x, spec), spec.cout, gammaScale);
    if (!act) return y;
    return act.kind === 'relu' ? this.relu(act.name, y) : this.relu6(act.name, y);
  }

  maxPool(name: string, x: string, k: number, stride: number, pad: number): string {
    this.b.node('MaxPool', [x], [name], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] }, name);
    return name;
  }

  add(name: string, a: string, c: string): string {
    this.b.node('Add', [a, c], [name], {}, name);
    return name;
  }

  globalAvgPool(name: string, x: string): string {
    this.b.node('GlobalAveragePool', [x], [name], {}, name);
    return name;
  }

  flatten(name: string, x: string): string {
    this.b.node('Flatten', [x], [name], { axis: 1 }, name);
    return name;
  }

  /** `torch.nn.Linear` as Gemm(transB=1): weight [out, in], bias [out]; weight variance gain / in. */
  linear(name: string, x: string, inFeatures: number, outFeatures: number, gain: number, output = name): string {
    const w = this.rng.fillNormal(new Float32Array(outFeatures * inFeatures), Math.sqrt(gain / inFeatures));
    this.b.initializer(`${name}.weight`, [outFeatures, inFeatures], w);
    this.b.initializer(`${name}.bias`, [outFeatures], this.rng.fillNormal(new Float32Array(outFeatures), 0.01));
    this.b.node('Gemm', [x, `${name}.weight`, `${name}.bias`], [output], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }, name);
    return output;
  }

  /** The classifier head: Linear(inFeatures, 1000) writing the `logits` output; returns the model bytes. */
  finish(x: string, inFeatures: number, fcName = 'fc'): Uint8Array {
    this.linear(fcName, x, inFeatures, ZOO_CLASSES, 1, ZOO_OUTPUT);
    this.b.output(ZOO_OUTPUT, [1, ZOO_CLASSES]);
    return this.b.toBytes();
  }
}
