/**
 * Image inputs: PNG, JPEG and WebP decoded by sharp (libvips, with libjpeg-turbo's decoder: the
 * same pixels as PIL, which the reference tensors in test/vectors/io pin), then preprocessed by
 * preprocess.ts into a model input.
 *
 * Decoding ignores embedded ICC profiles and EXIF orientation, as PIL's `Image.open().convert('RGB')`
 * does (torchvision's loader): colour-managing a photo would move its values by up to ~55 grey
 * levels from what a PyTorch model was trained on. Alpha is dropped, not composited.
 *
 * {@link loadInputTensor} is the single-input entry point: it dispatches on the file's content
 * (`.npy` magic vs image magic), never on its extension; any problem is one line naming the file.
 */
import { readFile } from 'node:fs/promises';

import type sharpModule from 'sharp';

import { hasErrorCode, InvalidArgumentError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { isNpy, readNpy } from './npy.js';
import { imageToTensor, type DecodedImage, type Preprocess } from './preprocess.js';

export interface DecodeOptions {
  /** Refuse images with more pixels than this many million (default 100), before decoding them. */
  maxMegapixels?: number;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];
const FORMAT_NAMES: Readonly<Record<ImageFormat, string>> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP' };

function startsWith(bytes: Uint8Array, magic: readonly number[], at = 0): boolean {
  return bytes.length >= at + magic.length && magic.every((b, i) => bytes[at + i] === b);
}

/** The image format from the leading magic bytes, or null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, PNG_MAGIC)) return 'png';
  if (startsWith(bytes, JPEG_MAGIC)) return 'jpeg';
  // RIFF <size> WEBP
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  return null;
}

/** Decodes a PNG, JPEG or WebP (detected by magic bytes) to 8-bit RGBA. */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  const format = sniffImageFormat(bytes);
  if (format === null) throw new InvalidArgumentError('unrecognized image format: expected a PNG, JPEG or WebP file');
  const name = FORMAT_NAMES[format];
  const maxPixels = Math.floor((options.maxMegapixels ?? 100) * 1e6);
  // Loaded on first use: importing slalom must not load libvips.
  const { default: sharp } = await import('sharp');
  let meta: Awaited<ReturnType<ReturnType<typeof sharpModule>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata(); // header only: the limit is checked below
  } catch (e) {
    throw new InvalidArgumentError(`cannot decode this ${name} image: it is truncated or corrupt`, { cause: e });
  }
  const { width, height } = meta;
  if (width === undefined || height === undefined || width <= 0 || height <= 0) throw new InvalidArgumentError(`cannot decode this ${name} image: it has no valid size`);
  if (width * height > maxPixels) throw new InvalidArgumentError(`${name} is ${width}×${height}, above the ${maxPixels / 1e6} MP limit`);
  try {
    // failOn 'warning': libjpeg fills a truncated JPEG with grey and only warns; that is an error here.
    const { data, info } = await sharp(bytes, { failOn: 'warning', ignoreIcc: true, limitInputPixels: maxPixels, autoOrient: false })
      .toColourspace('srgb')
      .ensureAlpha(1)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 4 || data.length !== info.width * info.height * 4) throw new Error(`unexpected ${info.channels}-channel output`);
    return { width: info.width, height: info.height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new InvalidArgumentError(`cannot decode this ${name} image: it is truncated or corrupt`, { cause: e });
  }
}

// ---- single-input loading -----------------------------------------------------------------------------

export interface LoadInputOptions {
  preprocess: Preprocess;
  /** The model input's dims; a negative entry (a symbolic dim) matches any size. */
  expectDims?: readonly number[];
  decode?: DecodeOptions;
}

function dimsText(dims: readonly number[]): string {
  return `[${dims.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
}

/**
 * The dims an input of `dims` takes for a model expecting `expectDims`: unchanged, or with a batch
 * dimension of 1 prepended when only that is missing. A mismatch is an {@link InvalidArgumentError}
 * "input shape [..] does not match the model's [..]".
 */
export function fitInputDims(dims: readonly number[], expectDims: readonly number[] | undefined): readonly number[] {
  if (expectDims === undefined) return dims;
  let fitted = dims;
  if (dims.length === expectDims.length - 1 && (expectDims[0]! === 1 || expectDims[0]! < 0)) fitted = [1, ...dims];
  const ok = fitted.length === expectDims.length && fitted.every((d, i) => expectDims[i]! < 0 || d === expectDims[i]);
  if (!ok) throw new InvalidArgumentError(`input shape ${dimsText(dims)} does not match the model's ${dimsText(expectDims)}`);
  return fitted;
}

/** {@link fitInputDims} applied to a tensor (sharing its data). */
export function fitToInputDims(t: Tensor, expectDims: readonly number[] | undefined): Tensor {
  const dims = fitInputDims(t.dims, expectDims);
  return dims === t.dims ? t : { dims, data: t.data };
}

/**
 * Turns already-read input bytes into a tensor: `.npy` (by magic) as stored, anything else decoded as
 * an image and preprocessed. Then checked against `expectDims` (see {@link fitToInputDims}).
 */
export async function bytesToInputTensor(bytes: Uint8Array, opts: LoadInputOptions): Promise<Tensor> {
  if (isNpy(bytes)) return fitToInputDims(readNpy(bytes), opts.expectDims);
  if (sniffImageFormat(bytes) === null) throw new InvalidArgumentError('unrecognized input format: expected a .npy, PNG, JPEG or WebP file');
  return fitToInputDims(imageToTensor(await decodeImage(bytes, opts.decode), opts.preprocess), opts.expectDims);
}

/** Reads one input file (`.npy`, PNG, JPEG or WebP, told apart by content); errors name the path. */
export async function loadInputTensor(path: string, opts: LoadInputOptions): Promise<Tensor> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InvalidArgumentError(`cannot read input ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await bytesToInputTensor(bytes, opts);
  } catch (e) {
    if (hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG')) throw new InvalidArgumentError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}
