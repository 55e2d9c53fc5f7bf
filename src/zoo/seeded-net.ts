/**
 * What the zoo's transformer builders (transformer.ts, decoder.ts) share: an ONNX builder, a seeded
 * stream of weights, and small constants written once and shared by name.
 */
import { OnnxBuilder } from '../onnx/build.js';
import { Rng } from '../util/seeded-rng.js';

export class SeededNet {
  readonly b: OnnxBuilder;
  private readonly rng: Rng;
  private readonly shared = new Set<string>();

  constructor(name: string, opset: number, seed: number) {
    this.b = new OnnxBuilder(name, { opset, producer: 'slalom-zoo' });
    this.rng = new Rng(seed);
  }

  protected normal(n: number, std: number, mean = 0): Float32Array {
    return this.rng.fillNormal(new Float32Array(n), std, mean);
  }

  /** A scalar or small int64/float constant shared by name. */
  protected constant(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    if (!this.shared.has(name)) {
      this.b.initializer(name, dims, data);
      this.shared.add(name);
    }
    return name;
  }

  protected scalar(v: number): string {
    return this.constant(`const.${v}`, [], new Float32Array([v]));
  }
}
