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
  load(): Promise<Tensor>;
}

export function resolveInputs(spec: string, opts: LoadInputOptions): LabeledInput[] {
  const m = /^fashion-mnist:(train|test)(?::(\d+))?$/.exec(spec);
  if (m === null) {
    if (spec.startsWith('fashion-mnist')) throw new InvalidArgumentError(`dataset spec '${spec}' must look like fashion-mnist:test or fashion-mnist:test:1000`);
    return listInputs(spec, opts);
  }
  const split = m[1] as 'train' | 'test';
  const data = loadFashionMnist(split, { limit: m[2] === undefined ? undefined : Number(m[2]) });
  const { mean, std, size, scale } = opts.preprocess;
  const dims = [1, 1, data.rows, data.cols];
  const expect = opts.expectDims ?? [1, 1, ...(size ?? [data.rows, data.cols])];
  if (expect.length !== 4 || !expect.every((d, i) => d < 0 || d === dims[i])) {
    throw new InvalidArgumentError(`the model expects inputs of [${expect.join(', ')}], Fashion-MNIST images are [${dims.join(', ')}]`);
  }
  const per = data.rows * data.cols;
  return Array.from({ length: data.count }, (_, i) => ({
    name: `fashion-mnist:${split}[${i}]`,
    label: data.labels[i]!,
    load: async () => tensor(dims, Float64Array.from(data.images.subarray(i * per, (i + 1) * per), (v) => (v / scale - mean[0]!) / std[0]!)),
  }));
}
