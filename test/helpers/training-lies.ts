/**
 * One lie of the cheating suite in one product of one step of a training run (test/train): the run
 * under 'abort' is refused with the lie's error and leaves the weights of the steps before it; under
 * 'recompute' it ends at the honest run's weights with incidents at that step only.
 */
import assert from 'node:assert/strict';
import { LocalBackend } from '../../src/accel/local.js';
import type { TrainableModel } from '../../src/train/model.js';
import { productLayerId, type ProductKind } from '../../src/train/products.js';
import { stateHash, train, type Hyperparameters, type TrainingData } from '../../src/train/trainer.js';
import { CheatingBackend, type Strategy } from '../accel/cheating.js';

export interface TrainingLie {
  readonly layer: number;
  readonly kind: ProductKind;
  readonly step: number;
  readonly strategy: Strategy;
}

/** `honestHash(n)`: the state hash after n honest steps of the same run. */
export async function assertLieCaught(hyperparameters: Hyperparameters, data: TrainingData, lie: TrainingLie, honestHash: (steps: number) => Promise<string>): Promise<void> {
  const { layer, kind, step, strategy } = lie;
  const target = [productLayerId(layer, kind)];
  const cheater = new CheatingBackend(new LocalBackend(), strategy, { layers: target });
  let model: TrainableModel | undefined;
  const beforeStep = (s: number, m: TrainableModel): void => {
    cheater.enabled = s === step;
    model = m;
  };
  await assert.rejects(train({ hyperparameters, data, backend: cheater, beforeStep }), { code: strategy === 'plus-p' ? 'SLALOM_ERR_MALFORMED' : 'SLALOM_ERR_INTEGRITY' });
  assert.ok(cheater.tampered.length >= 1);
  assert.equal(stateHash(model!), await honestHash(step), 'the weights after the caught lie are those of the steps before it');

  const again = new CheatingBackend(new LocalBackend(), strategy, { layers: target });
  const recomputed = await train({ hyperparameters, data, backend: again, onFailure: 'recompute', beforeStep: (s) => (again.enabled = s === step) });
  assert.equal(recomputed.finalStateHash, await honestHash(hyperparameters.steps!));
  assert.ok(recomputed.counters.incidents.length >= 1 && recomputed.counters.incidents.every((i) => i.startsWith(`step ${step}:`)), recomputed.counters.incidents.join('; '));
}
