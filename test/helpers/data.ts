/**
 * Debian data some tests read. `npm test` must pass on a fresh machine with only Node, so a test
 * that needs a package which is absent skips, naming the package (node:test's `skip: reason`, which
 * the summary reports); CI installs the packages (.ci/run) and runs those tests. (libonnx-testdata's
 * guard sits with the conformance suite, test/conformance/onnx-node.test.ts.)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../src/io/idx.js';

const hasIdx = (dir: string, base: string): boolean => existsSync(join(dir, `${base}.gz`)) || existsSync(join(dir, base));

/**
 * False when Fashion-MNIST's test split is in FASHION_MNIST_DIR (Debian's dataset-fashion-mnist;
 * SLALOM_FASHION_MNIST_DIR overrides the folder), else why a test that reads it is skipped.
 */
export const SKIP_WITHOUT_FASHION_MNIST: string | false =
  hasIdx(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte') && hasIdx(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte')
    ? false
    : `needs Fashion-MNIST's test split in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`;

/**
 * The first 3 images and labels of Fashion-MNIST's test split (the images of examples/), committed,
 * for tests that need a few real images but not the dataset: `loadFashionMnist('test', { dir })`.
 */
export const FASHION_MNIST_SAMPLE_DIR = fileURLToPath(new URL('../vectors/fashion-mnist', import.meta.url));
