/**
 * The optimizers, in float64 in the trusted runtime (docs/design.md §8), as torch defines them: SGD with
 * momentum (buf = μ·buf + g + λ·w; w −= lr·buf) and Adam (bias-corrected moments, ε 1e-8). Their
 * state is named per parameter so a checkpoint can hold it.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Param } from './layers.js';

export const OPTIMIZERS = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export interface OptimizerConfig {
  readonly name: OptimizerName;
  readonly lr: number;
  /** SGD momentum μ. */
  readonly momentum: number;
  readonly weightDecay: number;
  /** Adam's β1, β2. */
  readonly betas?: readonly [number, number];
}

export class Optimizer {
  /** Per parameter: SGD's momentum buffer, or Adam's m then v. */
  readonly state: Map<string, Float64Array> = new Map();

  constructor(
    readonly config: OptimizerConfig,
    private readonly params: readonly Param[],
  ) {
    if (!(config.lr > 0) || !(config.momentum >= 0 && config.momentum < 1) || !(config.weightDecay >= 0)) throw new InvalidArgumentError('lr > 0, 0 ≤ momentum < 1 and weight decay ≥ 0 are required');
    for (const p of params) for (const key of this.keysOf(p)) this.state.set(key, new Float64Array(p.value.length));
  }

  private keysOf(p: Param): string[] {
    return this.config.name === 'sgd' ? [`${p.name}.momentum`] : [`${p.name}.adam_m`, `${p.name}.adam_v`];
  }

  /** One update with the gradients in the params; `step` counts from 1 (Adam's bias correction). */
  update(step: number): void {
    const { lr, momentum, weightDecay } = this.config;
    const [b1, b2] = this.config.betas ?? [0.9, 0.999];
    for (const p of this.params) {
      const [k1, k2] = this.keysOf(p);
      const a = this.state.get(k1!)!;
      for (let i = 0; i < p.value.length; i++) {
        const g = p.grad[i]! + weightDecay * p.value[i]!;
        if (this.config.name === 'sgd') {
          a[i] = momentum * a[i]! + g;
          p.value[i] -= lr * a[i]!;
        } else {
          const v = this.state.get(k2!)!;
          a[i] = b1 * a[i]! + (1 - b1) * g;
          v[i] = b2 * v[i]! + (1 - b2) * g * g;
          p.value[i] -= (lr * (a[i]! / (1 - b1 ** step))) / (Math.sqrt(v[i]! / (1 - b2 ** step)) + 1e-8);
        }
      }
    }
  }
}
