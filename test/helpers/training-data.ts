/**
 * A tiny labelled image set for training tests: 28×28 bytes drawn from a seeded PRNG, with the
 * label a simple function of the image (which quadrant is brightest, plus a stripe pattern), so a
 * few steps of training move the loss without the Fashion-MNIST package. Also writes it as IDX
 * files, as `slalom train --data fashion-mnist --data-dir` reads them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeIdx } from '../../src/io/idx.js';
import type { TrainingData } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/seeded-rng.js';

export function tinyImages(count: number, seed = 7): TrainingData {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const label = (rng.nextI32() >>> 0) % 10;
    labels[n] = label;
    for (let i = 0; i < 784; i++) {
      const y = Math.floor(i / 28);
      const x = i % 28;
      const signal = (x + y * label) % 10 < 5 ? 160 : 40;
      images[n * 784 + i] = Math.min(255, signal + ((rng.nextI32() >>> 0) % 64));
    }
  }
  return { images, labels, count, rows: 28, cols: 28, normalize: { mean: 0.286, std: 0.353 } };
}

/** Writes `data` as Fashion-MNIST's four IDX files into `dir` (the test split is the same images). */
export function writeIdxDataset(dir: string, data: TrainingData): void {
  mkdirSync(dir, { recursive: true });
  for (const prefix of ['train', 't10k']) {
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdx({ dims: [data.count, 28, 28], data: data.images }));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx({ dims: [data.count], data: data.labels }));
  }
}
