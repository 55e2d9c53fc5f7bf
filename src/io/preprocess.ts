/**
 * Preprocessing of decoded images into model inputs, torchvision-style, and the defaults slalom picks
 * from a model's declared input shape.
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
 * - without `size` (a model whose height and width are symbolic) the (optionally resized) image
 *   keeps its own size;
 * - finally each value becomes `(pixel / scale − mean[c]) / std[c]`, laid out NCHW or NHWC.
 */
import { InvalidArgumentError } from '../errors.js';
import { tensor, type Tensor } from '../tensor/tensor.js';

/** A decoded 8-bit image, RGBA interleaved, row-major. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** width × height × 4 bytes. */
  readonly rgba: Uint8Array;
}

export interface Preprocess {
  /** Output [height, width]; absent: the image's own size after `resize` (models with a symbolic size). */
  size?: [number, number];
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
  layout: 'NCHW' | 'NHWC';
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

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * The preprocessing a model's declared input shape suggests (symbolic sizes are strings or
 * negative numbers):
 * - layout NCHW when axis 1 is 1 or 3 channels, NHWC when the last axis is (NCHW otherwise);
 * - a 3-channel 224×224 model gets ImageNet's evaluation transform (Resize 256, CenterCrop 224);
 * - any other concrete size H×W: the shorter side resized to min(H, W), then a center crop to H×W
 *   (an image already of the model's size is left as it is);
 * - symbolic H or W: the image at its own size;
 * - normalization: ImageNet mean/std for 3 channels, none (pixels / 255) for 1 channel.
 */
export function defaultPreprocess(declared: readonly (number | string)[]): Preprocess {
  const known = (d: number | string | undefined): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);
  if (declared.length !== 4) return { ...IMAGENET_PREPROCESS, size: [...IMAGENET_PREPROCESS.size!] };
  const nhwc = !isChannelCount(declared[1]) && isChannelCount(declared[3]);
  const c = known(nhwc ? declared[3] : declared[1]);
  const channels: 1 | 3 = c === 1 ? 1 : 3;
  const h = known(nhwc ? declared[1] : declared[2]);
  const w = known(nhwc ? declared[2] : declared[3]);
  const layout = nhwc ? 'NHWC' : 'NCHW';
  const norm = channels === 3 ? { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] } : { mean: [0], std: [1] };
  if (h === undefined || w === undefined) return { resize: 0, crop: 'center', ...norm, scale: 255, channels, layout };
  if (channels === 3 && h === 224 && w === 224) return { ...IMAGENET_PREPROCESS, size: [224, 224], layout };
  return { size: [h, w], resize: Math.min(h, w), crop: 'center', ...norm, scale: 255, channels, layout };
}

function isChannelCount(d: number | string | undefined): boolean {
  return d === 1 || d === 3;
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

/** Checks a preprocessing description; errors say which field is wrong. */
export function validatePreprocess(pre: Preprocess): void {
  const bad = (msg: string): never => {
    throw new InvalidArgumentError(`invalid preprocessing: ${msg}`);
  };
  if (pre.size !== undefined && (!Array.isArray(pre.size) || pre.size.length !== 2 || !pre.size.every((d) => Number.isInteger(d) && d > 0))) {
    bad(`size must be [height, width] of positive integers, got ${JSON.stringify(pre.size)}`);
  }
  if (!Number.isInteger(pre.resize) || pre.resize < 0) bad(`resize must be a non-negative integer, got ${pre.resize}`);
  if (pre.crop !== 'center' && pre.crop !== 'none') bad(`crop must be 'center' or 'none', got ${JSON.stringify(pre.crop)}`);
  if (pre.channels !== 1 && pre.channels !== 3) bad(`channels must be 1 or 3, got ${pre.channels}`);
  if (pre.layout !== 'NCHW' && pre.layout !== 'NHWC') bad(`layout must be 'NCHW' or 'NHWC', got ${JSON.stringify(pre.layout)}`);
  if (!Array.isArray(pre.mean) || !Array.isArray(pre.std) || pre.mean.length !== pre.channels || pre.std.length !== pre.channels) {
    bad(`mean and std need ${pre.channels} value(s) for ${pre.channels} channel(s), got ${pre.mean?.length} and ${pre.std?.length}`);
  }
  if (!pre.mean.every(Number.isFinite)) bad('mean values must be finite');
  if (!pre.std.every((s) => Number.isFinite(s) && s !== 0)) bad('std values must be finite and non-zero');
  if (!Number.isFinite(pre.scale) || pre.scale <= 0) bad(`scale must be a positive number, got ${pre.scale}`);
}

/** Runs the preprocessing pipeline; the result has dims [1, channels, height, width] (NHWC: [1, height, width, channels]). */
export function imageToTensor(img: DecodedImage, pre: Preprocess): Tensor {
  validatePreprocess(pre);
  let p = toPlanar(img, pre.channels);
  if (pre.resize > 0) {
    const s = resizedSize(p.width, p.height, pre.resize);
    p = resize(p, s.width, s.height);
  }
  const [oh, ow] = pre.size ?? [p.height, p.width];
  if (pre.crop === 'none') p = resize(p, ow, oh);
  const top = pre.crop === 'none' ? 0 : centerCropOffset(p.height, oh);
  const left = pre.crop === 'none' ? 0 : centerCropOffset(p.width, ow);
  const C = pre.channels;
  const out = new Float64Array(C * oh * ow);
  // Element (c, y, x) lands at c·oh·ow + y·ow + x (NCHW) or (y·ow + x)·C + c (NHWC).
  const [cStride, pixelStride] = pre.layout === 'NCHW' ? [oh * ow, 1] : [1, C];
  for (let c = 0; c < C; c++) {
    const plane = p.planes[c]!;
    const m = pre.mean[c]!;
    const sd = pre.std[c]!;
    for (let y = 0; y < oh; y++) {
      const sy = y + top;
      for (let x = 0; x < ow; x++) {
        const sx = x + left;
        const px = sy >= 0 && sy < p.height && sx >= 0 && sx < p.width ? plane[sy * p.width + sx]! : 0;
        out[c * cStride + (y * ow + x) * pixelStride] = (px / pre.scale - m) / sd;
      }
    }
  }
  return tensor(pre.layout === 'NCHW' ? [1, C, oh, ow] : [1, oh, ow, C], out);
}
