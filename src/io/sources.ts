/**
 * Where a batch of inputs comes from: files (see inputs.ts) or a named dataset,
 * `fashion-mnist:<train|test>[:<count>]`, whose items also carry their true label.
 */
import { InvalidArgumentError } from '../errors.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { loadFashionMnist } from './idx.js';
import type { LoadInputOptions } from './image.js';
import { listInputs } from './inputs.js';

export interface LabeledInput {
  readonly name: string;
  readonly label?: number;
  load(): Tensor;
}

export function resolveInputs(spec: string, opts: LoadInputOptions): LabeledInput[] {
  const m = /^fashion-mnist:(train|test)(?::(\d+))?$/.exec(spec);
  if (m === null) {
    if (spec.startsWith('fashion-mnist')) throw new InvalidArgumentError(`dataset spec '${spec}' must look like fashion-mnist:test or fashion-mnist:test:1000`);
    return listInputs(spec, opts);
  }
  const split = m[1] as 'train' | 'test';
  const data = loadFashionMnist(split, { limit: m[2] === undefined ? undefined : Number(m[2]) });
  const { mean, std, size } = opts.preprocess;
  if (size[0] !== data.rows || size[1] !== data.cols) {
    throw new InvalidArgumentError(`the model expects ${size[0]}×${size[1]} inputs, Fashion-MNIST images are ${data.rows}×${data.cols}`);
  }
  const per = data.rows * data.cols;
  const dims = [1, 1, data.rows, data.cols];
  return Array.from({ length: data.count }, (_, i) => ({
    name: `fashion-mnist:${split}[${i}]`,
    label: data.labels[i]!,
    load: () => tensor(dims, Float64Array.from(data.images.subarray(i * per, (i + 1) * per), (v) => (v / 255 - mean[0]!) / std[0]!)),
  }));
}
