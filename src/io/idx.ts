/**
 * IDX files (the MNIST / Fashion-MNIST container) and a Fashion-MNIST loader.
 *
 * An IDX file is a big-endian header — two zero bytes, a type code (0x08 = unsigned byte, the only
 * one handled here), the number of dimensions n — then n uint32 sizes, then the data in row-major
 * order. Files may be gzipped (detected by the 1f 8b magic, not by the name).
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { InvalidArgumentError } from '../errors.js';
import { aInt, aOneOf } from '../util/assert.js';

/** An unsigned-byte IDX array: its dimensions and its row-major data. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Fashion-MNIST images (count × rows × cols bytes, 0..255) and labels (count bytes, 0..9). */
export interface FashionMnistSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export interface LoadFashionMnistOptions {
  /** Folder holding the four `*-ubyte.gz` files; default {@link FASHION_MNIST_DIR}. */
  dir?: string;
  /** Keep only the first `limit` examples. */
  limit?: number;
}

/** Where Debian's `dataset-fashion-mnist` package installs the data; SLALOM_FASHION_MNIST_DIR overrides it. */
export const FASHION_MNIST_DIR = process.env['SLALOM_FASHION_MNIST_DIR'] ?? '/usr/share/datasets/fashion-mnist';

const IDX_UBYTE = 0x08;

/** Parse IDX bytes (gzipped or not) into dims and a view of the data. */
export function parseIdx(bytes: Uint8Array): IdxArray {
  const unzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  // A plain Uint8Array view (no copy), so callers never receive a Buffer.
  const raw = new Uint8Array(unzipped.buffer, unzipped.byteOffset, unzipped.byteLength);
  if (raw.length < 4) throw new InvalidArgumentError(`IDX: ${raw.length} bytes is shorter than the 4-byte magic`);
  if (raw[0] !== 0 || raw[1] !== 0) throw new InvalidArgumentError('IDX: magic must start with two zero bytes');
  if (raw[2] !== IDX_UBYTE) {
    throw new InvalidArgumentError(`IDX: type code 0x${raw[2]!.toString(16)} is not supported (only 0x08, unsigned byte)`);
  }
  const ndim = raw[3]!;
  if (ndim === 0) throw new InvalidArgumentError('IDX: zero dimensions');
  const headerLength = 4 + 4 * ndim;
  if (raw.length < headerLength) throw new InvalidArgumentError(`IDX: header needs ${headerLength} bytes, file has ${raw.length}`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  if (raw.length - headerLength !== size) {
    throw new InvalidArgumentError(`IDX: dims [${dims.join(', ')}] need ${size} data bytes, file has ${raw.length - headerLength}`);
  }
  return { dims, data: raw.subarray(headerLength) };
}

/** Read an IDX file (gzipped or not) from disk. */
export function readIdx(path: string): IdxArray {
  return parseIdx(readFileSync(path));
}

/** Encode an unsigned-byte IDX array (uncompressed); the inverse of {@link parseIdx}. */
export function encodeIdx(array: IdxArray): Uint8Array {
  const { dims, data } = array;
  if (dims.length === 0 || dims.length > 255) throw new InvalidArgumentError(`IDX: ${dims.length} dimensions (need 1..255)`);
  let size = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new InvalidArgumentError(`IDX: dimension ${d} is not a uint32`);
    size *= d;
  }
  if (data.length !== size) throw new InvalidArgumentError(`IDX: dims [${dims.join(', ')}] need ${size} bytes, data has ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  const view = new DataView(out.buffer);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Load Fashion-MNIST's `train` (60 000) or `test` (10 000) split. */
export function loadFashionMnist(split: 'train' | 'test', opts: LoadFashionMnistOptions = {}): FashionMnistSplit {
  aOneOf(split, 'split', ['train', 'test'] as const);
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesPath = findIdx(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = findIdx(dir, `${prefix}-labels-idx1-ubyte`);

  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3) throw new InvalidArgumentError(`${imagesPath}: expected 3 dims, got [${images.dims.join(', ')}]`);
  if (labels.dims.length !== 1) throw new InvalidArgumentError(`${labelsPath}: expected 1 dim, got [${labels.dims.join(', ')}]`);
  const [total, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== total) {
    throw new InvalidArgumentError(`${split}: ${total} images but ${labels.dims[0]} labels`);
  }

  let count = total;
  if (opts.limit !== undefined) {
    count = Math.min(total, aInt(opts.limit, 'limit', { min: 0 }));
  }
  return {
    images: images.data.subarray(0, count * rows * cols),
    labels: labels.data.subarray(0, count),
    count,
    rows,
    cols,
  };
}

function findIdx(dir: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new InvalidArgumentError(
    `Fashion-MNIST file ${base}(.gz) not found in ${dir}; install it with \`apt-get install dataset-fashion-mnist\` ` +
      'or pass { dir } pointing at a folder with the four *-ubyte(.gz) files',
  );
}
