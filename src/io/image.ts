/**
 * Image inputs: PNG/JPEG decoding and torchvision-style preprocessing into an NCHW tensor.
 *
 * The pipeline mirrors the usual `Resize(s) → CenterCrop(h, w) → ToTensor() → Normalize(mean, std)`
 * over PIL images, so a model exported from PyTorch sees the values it was trained on:
 * - grayscale (channels 1) is converted first, with PIL's `convert('L')` fixed-point luma
 *   (0.299 R + 0.587 G + 0.114 B, rounded); alpha is dropped, not composited;
 * - the resize scales the shorter side to `resize` (the longer side is floored, as torchvision does)
 *   with PIL's bilinear filter — a triangle kernel widened by the scale factor when shrinking
 *   (antialiased), plain half-pixel bilinear when enlarging — horizontal pass then vertical pass,
 *   each rounded back to 8 bits like PIL;
 * - the center crop offsets are `round((in − out) / 2)` with Python's round-half-to-even, and an
 *   image smaller than the crop is zero-padded (torchvision's behaviour);
 * - with `crop: 'none'` the (optionally resized) image is instead stretched to exactly `size`;
 * - finally each value becomes `(pixel / scale − mean[c]) / std[c]`.
 *
 * {@link loadInputTensor} is the CLI's single-input entry point: it dispatches on the file's content
 * (`.npy` magic vs image magic), never on its extension.
 */
import { readFileSync } from 'node:fs';

import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

import { InvalidArgumentError, SlalomError } from '../errors.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { isNpy, readNpy } from './npy.js';

/** A decoded 8-bit image, RGBA interleaved, row-major. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** width × height × 4 bytes. */
  readonly rgba: Uint8Array;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this many million (default 100). */
  maxMegapixels?: number;
  /** jpeg-js working-memory ceiling in MB (default 512). */
  maxMemoryUsageInMB?: number;
}

export interface Preprocess {
  /** Output [height, width]. */
  size: [number, number];
  /** Resize the shorter side to this many pixels first, keeping the aspect ratio; 0 = no resize. */
  resize: number;
  /** 'center': center-crop (zero-pad if smaller) to `size`; 'none': stretch to `size`. */
  crop: 'center' | 'none';
  /** Per-channel mean and std, applied after dividing by `scale`; length = `channels`. */
  mean: number[];
  std: number[];
  /** Pixel values are divided by this first (255 maps to [0, 1]). */
  scale: number;
  /** 3 = RGB, 1 = grayscale by luma. */
  channels: 1 | 3;
  layout: 'NCHW';
}

/** torchvision's ImageNet evaluation transform: Resize(256), CenterCrop(224), ImageNet mean/std. */
export const IMAGENET_PREPROCESS: Preprocess = Object.freeze({
  size: [224, 224],
  resize: 256,
  crop: 'center',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  scale: 255,
  channels: 3,
  layout: 'NCHW',
}) as Preprocess;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** 'png', 'jpeg' or null, from the leading magic bytes. */
export function sniffImageFormat(bytes: Uint8Array): 'png' | 'jpeg' | null {
  if (startsWith(bytes, PNG_MAGIC)) return 'png';
  if (startsWith(bytes, JPEG_MAGIC)) return 'jpeg';
  return null;
}

function causeText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Decodes a PNG or JPEG (detected by magic bytes) to 8-bit RGBA. */
export function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): DecodedImage {
  const maxPixels = (options.maxMegapixels ?? 100) * 1e6;
  const format = sniffImageFormat(bytes);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    // IHDR must be the first chunk: length(4) 'IHDR'(4) width(4) height(4). Check the size before
    // pngjs inflates anything.
    if (bytes.length < 24 || buf.toString('latin1', 12, 16) !== 'IHDR') throw new InvalidArgumentError('malformed PNG: missing IHDR chunk');
    const w = buf.readUInt32BE(16);
    const h = buf.readUInt32BE(20);
    if (w * h > maxPixels) throw new InvalidArgumentError(`PNG is ${w}×${h}, above the ${maxPixels / 1e6} MP limit`);
    let png: { width: number; height: number; data: Buffer };
    try {
      png = pngjs.PNG.sync.read(buf);
    } catch (e) {
      throw new InvalidArgumentError(`malformed PNG: ${causeText(e)}`, { cause: e });
    }
    return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  }
  if (format === 'jpeg') {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(buf, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: options.maxMemoryUsageInMB ?? 512,
      });
    } catch (e) {
      throw new InvalidArgumentError(`malformed or oversized JPEG: ${causeText(e)}`, { cause: e });
    }
    return { width: img.width, height: img.height, rgba: img.data };
  }
  throw new InvalidArgumentError('unrecognized image format: expected a PNG or JPEG file');
}

// ---- pixel pipeline (planar 8-bit channels) ---------------------------------------------------------

/** Planar 8-bit image: `planes[c]` is height × width, row-major. */
interface Planar {
  width: number;
  height: number;
  planes: Uint8Array[];
}

function toPlanar(img: DecodedImage, channels: 1 | 3): Planar {
  const { width, height, rgba } = img;
  const n = width * height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidArgumentError(`invalid image size ${width}×${height}`);
  }
  if (rgba.length !== n * 4) throw new InvalidArgumentError(`image buffer has ${rgba.length} bytes, expected ${n * 4} for ${width}×${height} RGBA`);
  if (channels === 1) {
    const l = new Uint8Array(n);
    // PIL ImagingConvert RGB→L: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16.
    for (let k = 0; k < n; k++) l[k] = (rgba[4 * k]! * 19595 + rgba[4 * k + 1]! * 38470 + rgba[4 * k + 2]! * 7471 + 0x8000) >>> 16;
    return { width, height, planes: [l] };
  }
  const r = new Uint8Array(n);
  const g = new Uint8Array(n);
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    r[k] = rgba[4 * k]!;
    g[k] = rgba[4 * k + 1]!;
    b[k] = rgba[4 * k + 2]!;
  }
  return { width, height, planes: [r, g, b] };
}

/** PIL's precompute_coeffs for the bilinear (triangle) filter: per output pixel, first input index and weights. */
function resampleCoefficients(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; weights: Float64Array; stride: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      weights[xx * stride + x] = w;
      total += w;
    }
    if (total !== 0) for (let x = 0; x < xmax; x++) weights[xx * stride + x]! /= total;
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, stride };
}

function clampByte(x: number): number {
  const r = Math.round(x);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** PIL-style bilinear resample of one plane: horizontal pass, round to 8 bits, vertical pass, round. */
function resizePlane(src: Uint8Array, w: number, h: number, ow: number, oh: number): Uint8Array {
  let cur = src;
  let cw = w;
  if (ow !== w) {
    const { start, count, weights, stride } = resampleCoefficients(w, ow);
    const out = new Uint8Array(ow * h);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < ow; x++) {
        let s = 0;
        const b = start[x]!;
        for (let k = 0; k < count[x]!; k++) s += weights[x * stride + k]! * cur[row + b + k]!;
        out[y * ow + x] = clampByte(s);
      }
    }
    cur = out;
    cw = ow;
  }
  if (oh !== h) {
    const { start, count, weights, stride } = resampleCoefficients(h, oh);
    const out = new Uint8Array(cw * oh);
    for (let y = 0; y < oh; y++) {
      const b = start[y]!;
      for (let x = 0; x < cw; x++) {
        let s = 0;
        for (let k = 0; k < count[y]!; k++) s += weights[y * stride + k]! * cur[(b + k) * cw + x]!;
        out[y * cw + x] = clampByte(s);
      }
    }
    cur = out;
  }
  return cur;
}

function resize(img: Planar, ow: number, oh: number): Planar {
  if (ow === img.width && oh === img.height) return img;
  return { width: ow, height: oh, planes: img.planes.map((p) => resizePlane(p, img.width, img.height, ow, oh)) };
}

/** Python 3's round(): half to even. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Output dimensions of torchvision's Resize(size: int): shorter side → s, longer side floored. */
export function resizedSize(width: number, height: number, shorter: number): { width: number; height: number } {
  if (width <= height) return { width: shorter, height: Math.floor((shorter * height) / width) };
  return { width: Math.floor((shorter * width) / height), height: shorter };
}

/**
 * torchvision CenterCrop's top-left corner: `round((in − out) / 2)`, or, when the image is smaller,
 * minus the zero padding torchvision puts before it, `⌊(out − in) / 2⌋`.
 */
export function centerCropOffset(inSize: number, outSize: number): number {
  if (inSize < outSize) return 0 - Math.floor((outSize - inSize) / 2);
  return pyRound((inSize - outSize) / 2);
}

function validatePreprocess(pre: Preprocess): void {
  const bad = (msg: string): never => {
    throw new InvalidArgumentError(`invalid preprocessing: ${msg}`);
  };
  if (!Array.isArray(pre.size) || pre.size.length !== 2 || !pre.size.every((d) => Number.isInteger(d) && d > 0)) {
    bad(`size must be [height, width] of positive integers, got ${JSON.stringify(pre.size)}`);
  }
  if (!Number.isInteger(pre.resize) || pre.resize < 0) bad(`resize must be a non-negative integer, got ${pre.resize}`);
  if (pre.crop !== 'center' && pre.crop !== 'none') bad(`crop must be 'center' or 'none', got ${JSON.stringify(pre.crop)}`);
  if (pre.channels !== 1 && pre.channels !== 3) bad(`channels must be 1 or 3, got ${pre.channels}`);
  if (pre.layout !== 'NCHW') bad(`layout must be 'NCHW', got ${JSON.stringify(pre.layout)}`);
  if (pre.mean.length !== pre.channels || pre.std.length !== pre.channels) {
    bad(`mean and std need ${pre.channels} value(s) for ${pre.channels} channel(s), got ${pre.mean.length} and ${pre.std.length}`);
  }
  if (!pre.mean.every(Number.isFinite)) bad('mean values must be finite');
  if (!pre.std.every((s) => Number.isFinite(s) && s !== 0)) bad('std values must be finite and non-zero');
  if (!Number.isFinite(pre.scale) || pre.scale <= 0) bad(`scale must be a positive number, got ${pre.scale}`);
}

/** Runs the preprocessing pipeline; the result has dims [1, channels, size[0], size[1]]. */
export function imageToTensor(img: DecodedImage, pre: Preprocess): Tensor {
  validatePreprocess(pre);
  const [oh, ow] = pre.size;
  let p = toPlanar(img, pre.channels);
  if (pre.resize > 0) {
    const s = resizedSize(p.width, p.height, pre.resize);
    p = resize(p, s.width, s.height);
  }
  const C = pre.channels;
  const out = new Float64Array(C * oh * ow);
  if (pre.crop === 'none') {
    p = resize(p, ow, oh);
    for (let c = 0; c < C; c++) {
      const plane = p.planes[c]!;
      const m = pre.mean[c]!;
      const sd = pre.std[c]!;
      for (let k = 0; k < oh * ow; k++) out[c * oh * ow + k] = (plane[k]! / pre.scale - m) / sd;
    }
  } else {
    const top = centerCropOffset(p.height, oh);
    const left = centerCropOffset(p.width, ow);
    for (let c = 0; c < C; c++) {
      const plane = p.planes[c]!;
      const m = pre.mean[c]!;
      const sd = pre.std[c]!;
      for (let y = 0; y < oh; y++) {
        const sy = y + top;
        for (let x = 0; x < ow; x++) {
          const sx = x + left;
          const px = sy >= 0 && sy < p.height && sx >= 0 && sx < p.width ? plane[sy * p.width + sx]! : 0;
          out[(c * oh + y) * ow + x] = (px / pre.scale - m) / sd;
        }
      }
    }
  }
  return tensor([1, C, oh, ow], out);
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
export function bytesToInputTensor(bytes: Uint8Array, opts: LoadInputOptions): Tensor {
  if (isNpy(bytes)) return fitToInputDims(readNpy(bytes), opts.expectDims);
  if (sniffImageFormat(bytes) === null) throw new InvalidArgumentError('unrecognized input format: expected a .npy, PNG or JPEG file');
  return fitToInputDims(imageToTensor(decodeImage(bytes, opts.decode), opts.preprocess), opts.expectDims);
}

/** Reads one input file (`.npy`, PNG or JPEG, told apart by content); errors name the path. */
export function loadInputTensor(path: string, opts: LoadInputOptions): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new InvalidArgumentError(`cannot read input ${path}: ${causeText(e)}`, { cause: e });
  }
  try {
    return bytesToInputTensor(bytes, opts);
  } catch (e) {
    if (e instanceof SlalomError && e.code === 'SLALOM_ERR_INVALID_ARG') throw new InvalidArgumentError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}
