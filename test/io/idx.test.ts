/**
 * IDX parsing: a hand-made buffer (plain and gzipped), malformed headers, and — where Debian's
 * dataset-fashion-mnist is installed — the real Fashion-MNIST test split's header and labels, and the
 * committed sample (test/vectors/fashion-mnist) against it.
 */

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';

import { InvalidArgumentError } from '../../src/errors.js';
import { encodeIdx, loadFashionMnist, parseIdx, readIdx } from '../../src/io/idx.js';
import { FASHION_MNIST_SAMPLE_DIR, SKIP_WITHOUT_FASHION_MNIST } from '../helpers/data.js';

// dims [2, 2, 3], data 1..12, written out byte by byte.
const HAND_MADE = Uint8Array.from([
  0x00, 0x00, 0x08, 0x03, // magic: ubyte, 3 dims
  0x00, 0x00, 0x00, 0x02, // 2
  0x00, 0x00, 0x00, 0x02, // 2
  0x00, 0x00, 0x00, 0x03, // 3
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
]);

describe('parseIdx', () => {
  it('reads a hand-made header and data', () => {
    const { dims, data } = parseIdx(HAND_MADE);
    assert.deepEqual(dims, [2, 2, 3]);
    assert.deepEqual([...data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('reads the same buffer gzipped', () => {
    const { dims, data } = parseIdx(gzipSync(HAND_MADE));
    assert.deepEqual(dims, [2, 2, 3]);
    assert.deepEqual([...data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('round-trips through encodeIdx', () => {
    assert.deepEqual(encodeIdx(parseIdx(HAND_MADE)), HAND_MADE);
    const array = { dims: [5], data: Uint8Array.from([0, 9, 255, 7, 3]) };
    assert.deepEqual(parseIdx(encodeIdx(array)), array);
  });

  it('reads a file from disk, gzipped or not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-idx-'));
    try {
      writeFileSync(join(dir, 'a.idx'), HAND_MADE);
      writeFileSync(join(dir, 'a.idx.gz'), gzipSync(HAND_MADE));
      assert.deepEqual(readIdx(join(dir, 'a.idx')).dims, [2, 2, 3]);
      assert.deepEqual(readIdx(join(dir, 'a.idx.gz')), readIdx(join(dir, 'a.idx')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad magic, unsupported types and wrong lengths', () => {
    const bad = (patch: (b: Uint8Array) => Uint8Array) => () => parseIdx(patch(HAND_MADE.slice()));
    assert.throws(bad((b) => b.subarray(0, 3)), InvalidArgumentError);
    assert.throws(bad((b) => ((b[0] = 1), b)), /two zero bytes/);
    assert.throws(bad((b) => ((b[2] = 0x0d), b)), /type code 0xd/);
    assert.throws(bad((b) => ((b[3] = 0), b)), /zero dimensions/);
    assert.throws(bad((b) => b.subarray(0, 10)), /header needs 16 bytes/);
    assert.throws(bad((b) => b.subarray(0, b.length - 1)), /need 12 data bytes, file has 11/);
    assert.throws(() => encodeIdx({ dims: [2, 2], data: new Uint8Array(3) }), InvalidArgumentError);
  });
});

describe('loadFashionMnist', () => {
  it('explains how to install the data when the files are missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-idx-'));
    try {
      assert.throws(() => loadFashionMnist('test', { dir }), /apt-get install dataset-fashion-mnist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads a split from a folder of hand-made files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slalom-idx-'));
    try {
      const images = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 20);
      writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(encodeIdx({ dims: [3, 2, 2], data: images })));
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx({ dims: [3], data: Uint8Array.from([4, 0, 9]) }));
      const split = loadFashionMnist('test', { dir });
      assert.equal(split.count, 3);
      assert.equal(split.rows, 2);
      assert.equal(split.cols, 2);
      assert.deepEqual(split.images, images);
      assert.deepEqual([...split.labels], [4, 0, 9]);
      const two = loadFashionMnist('test', { dir, limit: 2 });
      assert.equal(two.count, 2);
      assert.deepEqual([...two.labels], [4, 0]);
      assert.equal(two.images.length, 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the real test split: 10 000 images of 28×28, labels 0..9', { skip: SKIP_WITHOUT_FASHION_MNIST }, () => {
    const test = loadFashionMnist('test');
    assert.equal(test.count, 10000);
    assert.equal(test.rows, 28);
    assert.equal(test.cols, 28);
    assert.equal(test.images.length, 10000 * 28 * 28);
    assert.equal(test.labels.length, 10000);
    const perClass = new Array<number>(10).fill(0);
    for (const label of test.labels) {
      assert.ok(label < 10, `label ${label}`);
      perClass[label]!++;
    }
    assert.deepEqual(perClass, new Array(10).fill(1000)); // the test split is balanced
    assert.equal(loadFashionMnist('test', { limit: 5 }).count, 5);
  });

  it('the committed sample is the real test split\'s first 3 images and labels', { skip: SKIP_WITHOUT_FASHION_MNIST }, () => {
    const sample = loadFashionMnist('test', { dir: FASHION_MNIST_SAMPLE_DIR });
    const real = loadFashionMnist('test', { limit: sample.count });
    assert.equal(sample.count, 3);
    assert.deepEqual([sample.rows, sample.cols], [28, 28]);
    assert.deepEqual(sample.images, real.images);
    assert.deepEqual(sample.labels, real.labels);
  });
});
