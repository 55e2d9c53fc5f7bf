/**
 * Image inputs: decoding (sharp: PNG, JPEG, WebP; corrupt files), the PIL/torchvision pipeline
 * pinned against PIL results, the defaults picked from a model's input shape, and loading files and
 * directories. JPEG/WebP/PNG parity with PIL on a photo is in pil-parity.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import sharp from 'sharp';

import { InvalidArgumentError } from '../../src/errors.js';
import { decodeImage, fitToInputDims, loadInputTensor } from '../../src/io/image.js';
import { listInputs } from '../../src/io/inputs.js';
import { writeNpy } from '../../src/io/npy.js';
import {
  IMAGENET_PREPROCESS,
  centerCropOffset,
  defaultPreprocess,
  imageToTensor,
  resizedSize,
  type DecodedImage,
  type Preprocess,
} from '../../src/io/preprocess.js';
import { tensor } from '../../src/tensor/tensor.js';

function throwsInvalid(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

async function rejectsInvalid(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** An RGBA image from a per-pixel [r, g, b] function (alpha 255). */
function makeImage(width: number, height: number, px: (x: number, y: number) => [number, number, number]): DecodedImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = px(x, y);
      rgba.set([r, g, b, 255], (y * width + x) * 4);
    }
  }
  return { width, height, rgba };
}

function raster(img: DecodedImage): ReturnType<typeof sharp> {
  return sharp(Buffer.from(img.rgba), { raw: { width: img.width, height: img.height, channels: 4 } });
}

const encodePng = (img: DecodedImage): Promise<Buffer> => raster(img).png().toBuffer();
const encodeJpeg = (img: DecodedImage, quality = 100): Promise<Buffer> => raster(img).jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer();
const encodeWebp = (img: DecodedImage): Promise<Buffer> => raster(img).webp({ lossless: true }).toBuffer();

/** CRC-32 (PNG's, ISO 3309). */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Identity preprocessing: no resize, crop to the image's own size, raw 0..255 values. */
function raw(h: number, w: number, channels: 1 | 3 = 3): Preprocess {
  const zeros = new Array<number>(channels).fill(0);
  const ones = new Array<number>(channels).fill(1);
  return { size: [h, w], resize: 0, crop: 'center', mean: zeros, std: ones, scale: 1, channels, layout: 'NCHW' };
}

/** The 7×5 test pattern whose PIL results are pinned below. */
const PATTERN = makeImage(7, 5, (x, y) => [(x * 37 + y * 11) % 256, (x * 5 + y * 71) % 256, (x * x * 13 + y * 3) % 256]);

describe('decodeImage', () => {
  const img = makeImage(3, 2, (x, y) => [x * 100, y * 200, 7 + x + y]);

  it('decodes a PNG and a lossless WebP to the exact RGB pixels, alpha opaque', async () => {
    for (const bytes of [await encodePng(img), await encodeWebp(img)]) {
      const d = await decodeImage(bytes);
      assert.equal(d.width, 3);
      assert.equal(d.height, 2);
      assert.deepEqual([...d.rgba], [...img.rgba]);
    }
  });

  it('drops alpha rather than compositing it (as PIL convert("RGB"))', async () => {
    const translucent = { ...img, rgba: Uint8Array.from(img.rgba, (v, i) => (i % 4 === 3 ? 40 : v)) };
    const d = await decodeImage(await encodePng(translucent));
    for (let k = 0; k < 6; k++) for (let c = 0; c < 3; c++) assert.equal(d.rgba[4 * k + c], img.rgba[4 * k + c]);
  });

  it('decodes a grayscale PNG to equal R, G and B', async () => {
    const grey = await sharp(Buffer.from([0, 50, 100, 200]), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
    const d = await decodeImage(grey);
    assert.deepEqual([...d.rgba], [0, 0, 0, 255, 50, 50, 50, 255, 100, 100, 100, 255, 200, 200, 200, 255]);
  });

  it('decodes a JPEG to the expected pixels (within JPEG error)', async () => {
    const colors: [number, number, number][] = [[200, 30, 40], [20, 180, 60], [40, 50, 220], [128, 128, 128]];
    const src = makeImage(16, 16, (x, y) => colors[(y >= 8 ? 2 : 0) + (x >= 8 ? 1 : 0)]!);
    const d = await decodeImage(await encodeJpeg(src));
    assert.equal(d.width, 16);
    assert.equal(d.height, 16);
    for (let k = 0; k < 16 * 16; k++) {
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(d.rgba[4 * k + c]! - src.rgba[4 * k + c]!) <= 4, `pixel ${k} channel ${c}`);
      assert.equal(d.rgba[4 * k + 3], 255);
    }
  });

  it('rejects unknown formats, garbage and truncated or corrupt files with its own words', async () => {
    await rejectsInvalid(decodeImage(new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61])), /unrecognized image format/);
    await rejectsInvalid(decodeImage(new Uint8Array(0)), /unrecognized image format/);
    const photo = makeImage(64, 48, (x, y) => [(x * 7) % 256, (y * 11) % 256, (x * y) % 256]);
    const cases: [string, Buffer][] = [['PNG', await encodePng(photo)], ['JPEG', await encodeJpeg(photo, 90)], ['WebP', await encodeWebp(photo)]];
    for (const [name, bytes] of cases) {
      for (const broken of [bytes.subarray(0, Math.floor(bytes.length / 2)), bytes.subarray(0, 40)]) {
        await rejectsInvalid(decodeImage(broken), new RegExp(`^cannot decode this ${name} image: it is truncated or corrupt$`));
      }
      const corrupt = Buffer.from(bytes);
      corrupt.fill(0xff, 20, Math.min(corrupt.length, 400));
      await rejectsInvalid(decodeImage(corrupt), new RegExp(`^cannot decode this ${name} image: it is truncated or corrupt$`));
    }
  });

  it('enforces the pixel limit before decoding', async () => {
    const png = Buffer.from(await encodePng(img));
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29); // IHDR's CRC over its type and data
    await rejectsInvalid(decodeImage(png), /100000×100000, above the 100 MP limit/);
    await rejectsInvalid(decodeImage(await encodePng(img), { maxMegapixels: 1e-6 }), /above/);
    await rejectsInvalid(decodeImage(await encodeJpeg(img), { maxMegapixels: 1e-6 }), /JPEG is 3×2, above/);
  });
});

describe('imageToTensor geometry', () => {
  it('computes torchvision Resize sizes (shorter side, longer floored)', () => {
    assert.deepEqual(resizedSize(500, 375, 256), { width: 341, height: 256 });
    assert.deepEqual(resizedSize(375, 500, 256), { width: 256, height: 341 });
    assert.deepEqual(resizedSize(7, 5, 4), { width: 5, height: 4 });
    assert.deepEqual(resizedSize(10, 10, 3), { width: 3, height: 3 });
  });

  it('computes CenterCrop offsets with round-half-to-even', () => {
    assert.equal(centerCropOffset(341, 224), 58); // 58.5 → 58
    assert.equal(centerCropOffset(256, 224), 16);
    assert.equal(centerCropOffset(7, 4), 2); // 1.5 → 2
    assert.equal(centerCropOffset(5, 4), 0); // 0.5 → 0
    assert.equal(centerCropOffset(4, 4), 0);
    // smaller than the crop: torchvision pads ⌊(out − in) / 2⌋ on the left/top
    assert.equal(centerCropOffset(2, 4), -1);
    assert.equal(centerCropOffset(1, 4), -1);
    assert.equal(centerCropOffset(1, 2), 0);
    assert.equal(centerCropOffset(0, 4), -2);
  });

  it('matches PIL bilinear when enlarging and (antialiased) when shrinking', () => {
    const row = (values: number[]): DecodedImage => makeImage(values.length, 1, (x) => [values[x]!, values[x]!, values[x]!]);
    const stretch = (img: DecodedImage, w: number): number[] => [...imageToTensor(img, { ...raw(1, w, 1), crop: 'none' }).data];
    // PIL: Image.fromarray([[0, 255]]).resize((4, 1), BILINEAR) → [0, 64, 191, 255]
    assert.deepEqual(stretch(row([0, 255]), 4), [0, 64, 191, 255]);
    // PIL: [[0, 100, 200, 255]] → (2, 1) → [71, 209]  (plain bilinear would give [50, 228])
    assert.deepEqual(stretch(row([0, 100, 200, 255]), 2), [71, 209]);
  });

  it('Resize(4) + CenterCrop(3) matches PIL on a 7×5 pattern', () => {
    // PIL: im.resize((5, 4), BILINEAR)[0:3, 1:4], channels first.
    const expected = [
      61, 114, 167, 74, 127, 180, 86, 139, 192, 26, 33, 40, 109, 116, 123, 191, 198, 205, 36, 123, 147, 39, 126, 150, 43, 130, 154,
    ];
    const t = imageToTensor(PATTERN, { ...raw(3, 3), resize: 4 });
    assert.deepEqual(t.dims, [1, 3, 3, 3]);
    assert.deepEqual([...t.data], expected);
  });

  it('resizing in two dimensions at once matches PIL (7×5 → 10×8)', () => {
    // np.array(im.resize((10, 8), BILINEAR)).transpose(2, 0, 1)
    const expected = [
      [[0, 20, 46, 72, 98, 124, 150, 176, 202, 222], [5, 25, 51, 77, 103, 129, 155, 181, 207, 227], [12, 32, 58, 84, 110, 136, 162, 188, 214, 234], [19, 39, 65, 91, 117, 143, 169, 195, 221, 241],
       [25, 45, 71, 97, 123, 149, 175, 201, 227, 247], [32, 52, 78, 104, 130, 156, 182, 208, 234, 254], [39, 59, 85, 111, 137, 163, 189, 215, 176, 117], [44, 64, 90, 116, 142, 168, 194, 220, 130, 10]],
      [[0, 3, 6, 10, 13, 17, 20, 24, 27, 30], [31, 34, 37, 41, 44, 48, 51, 55, 58, 61], [75, 78, 81, 85, 88, 92, 95, 99, 102, 105], [120, 123, 126, 130, 133, 137, 140, 144, 147, 150],
       [164, 167, 170, 174, 177, 181, 184, 188, 191, 194], [209, 212, 215, 219, 222, 226, 229, 233, 236, 239], [109, 112, 115, 119, 122, 126, 129, 133, 136, 139], [28, 31, 34, 38, 41, 45, 48, 52, 55, 58]],
      [[0, 7, 23, 50, 94, 149, 201, 104, 133, 212], [1, 8, 24, 51, 95, 150, 202, 105, 134, 213], [3, 10, 26, 53, 97, 152, 204, 107, 136, 215], [5, 12, 28, 55, 99, 154, 206, 109, 138, 217],
       [7, 14, 30, 57, 101, 156, 208, 111, 140, 219], [9, 16, 32, 59, 103, 158, 210, 113, 142, 221], [11, 18, 34, 61, 105, 160, 212, 115, 144, 223], [12, 19, 35, 62, 106, 161, 213, 116, 145, 224]],
    ].flat(2);
    const t = imageToTensor(PATTERN, { ...raw(8, 10), crop: 'none' });
    assert.deepEqual(t.dims, [1, 3, 8, 10]);
    assert.deepEqual([...t.data], expected);
  });

  it('keeps a constant image constant under any resize', () => {
    const img = makeImage(13, 9, () => [10, 20, 30]);
    const t = imageToTensor(img, { ...raw(4, 6), resize: 5 });
    assert.deepEqual(t.dims, [1, 3, 4, 6]);
    for (let c = 0; c < 3; c++) for (let k = 0; k < 24; k++) assert.equal(t.data[c * 24 + k], [10, 20, 30][c]);
  });

  it('crops the center without resizing', () => {
    const img = makeImage(5, 4, (x, y) => [x, y, x * 10 + y]);
    const t = imageToTensor(img, raw(2, 3));
    // top = round(1) = 1, left = round(1) = 1
    assert.deepEqual([...t.data], [1, 2, 3, 1, 2, 3, 1, 1, 1, 2, 2, 2, 11, 21, 31, 12, 22, 32]);
  });

  it('zero-pads an image smaller than the crop', () => {
    const img = makeImage(1, 1, () => [9, 9, 9]);
    const t = imageToTensor(img, raw(2, 3, 1));
    // torchvision pads top ⌊1/2⌋ = 0, left ⌊2/2⌋ = 1: the pixel lands at (0, 1)
    assert.deepEqual([...t.data], [0, 9, 0, 0, 0, 0]);
    const u = imageToTensor(makeImage(1, 1, () => [9, 9, 9]), raw(1, 4, 1));
    assert.deepEqual([...u.data], [0, 9, 0, 0]); // left pad ⌊3/2⌋ = 1 (not round(1.5) = 2)
  });

  it('normalizes as (pixel / scale - mean) / std per channel', () => {
    const img = makeImage(2, 1, (x) => (x === 0 ? [0, 128, 255] : [51, 102, 204]));
    const pre: Preprocess = { ...IMAGENET_PREPROCESS, size: [1, 2], resize: 0 };
    const t = imageToTensor(img, pre);
    assert.deepEqual(t.dims, [1, 3, 1, 2]);
    const px = [[0, 51], [128, 102], [255, 204]];
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < 2; x++) {
        const want = (px[c]![x]! / 255 - IMAGENET_PREPROCESS.mean[c]!) / IMAGENET_PREPROCESS.std[c]!;
        assert.ok(Math.abs(t.data[c * 2 + x]! - want) < 1e-12, `c=${c} x=${x}`);
      }
    }
  });

  it('IMAGENET_PREPROCESS yields [1, 3, 224, 224]', () => {
    const t = imageToTensor(makeImage(300, 250, (x, y) => [x % 256, y % 256, 0]), IMAGENET_PREPROCESS);
    assert.deepEqual(t.dims, [1, 3, 224, 224]);
    assert.deepEqual(IMAGENET_PREPROCESS.size, [224, 224]);
    assert.equal(IMAGENET_PREPROCESS.resize, 256);
  });

  it('grayscale uses PIL luma (0.299, 0.587, 0.114) and one channel', () => {
    const colors: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 200, 30]];
    const img = makeImage(5, 1, (x) => colors[x]!);
    const t = imageToTensor(img, raw(1, 5, 1));
    assert.deepEqual(t.dims, [1, 1, 1, 5]);
    // PIL convert('L'): 76, 150, 29, 255, round(0.299·10 + 0.587·200 + 0.114·30) = 124
    assert.deepEqual([...t.data], [76, 150, 29, 255, 124]);
    // the whole 7×5 pattern, against PIL's convert('L')
    const l = imageToTensor(PATTERN, raw(5, 7, 1));
    assert.deepEqual([...l.data].slice(0, 14), [0, 15, 34, 55, 80, 78, 108, 45, 61, 79, 101, 125, 123, 153]);
    // normalization with one mean/std
    const n = imageToTensor(img, { ...raw(1, 5, 1), mean: [0.5], std: [0.25], scale: 255 });
    assert.ok(Math.abs(n.data[3]! - 2) < 1e-12);
  });

  it('rejects inconsistent preprocessing', () => {
    const img = makeImage(2, 2, () => [0, 0, 0]);
    throwsInvalid(() => imageToTensor(img, { ...raw(2, 2, 1), mean: [0, 0, 0] }), /mean and std need 1 value/);
    throwsInvalid(() => imageToTensor(img, { ...raw(2, 2), std: [1, 0, 1] }), /std/);
    throwsInvalid(() => imageToTensor(img, { ...raw(2, 2), size: [0, 2] }), /size/);
    throwsInvalid(() => imageToTensor(img, { ...raw(2, 2), resize: -1 }), /resize/);
    throwsInvalid(() => imageToTensor(img, { ...raw(2, 2), scale: 0 }), /scale/);
  });
});

describe('defaultPreprocess (from the model input shape)', () => {
  it('ImageNet for a 3×224×224 model; resize + center crop to the size for others; the image size for symbolic H/W', () => {
    assert.deepEqual(defaultPreprocess([1, 3, 224, 224]), { ...IMAGENET_PREPROCESS });
    const cifar = defaultPreprocess([1, 3, 32, 32]);
    assert.deepEqual({ size: cifar.size, resize: cifar.resize, crop: cifar.crop, layout: cifar.layout }, { size: [32, 32], resize: 32, crop: 'center', layout: 'NCHW' });
    const mnist = defaultPreprocess(['N', 1, 28, 28]);
    assert.deepEqual({ size: mnist.size, channels: mnist.channels, mean: mnist.mean, std: mnist.std }, { size: [28, 28], channels: 1, mean: [0], std: [1] });
    const ocr = defaultPreprocess(['N', 3, 48, 'W']);
    assert.equal(ocr.size, undefined);
    assert.equal(ocr.resize, 0);
    assert.equal(defaultPreprocess([1, 224, 224, 3]).layout, 'NHWC');
  });

  it('a 32×32 model gets a 32×32 tensor from a 32×32 image, untouched', () => {
    const img = makeImage(32, 32, (x, y) => [x * 8, y * 8, 100]);
    const t = imageToTensor(img, { ...defaultPreprocess([1, 3, 32, 32]), mean: [0, 0, 0], std: [1, 1, 1], scale: 1 });
    assert.deepEqual(t.dims, [1, 3, 32, 32]);
    assert.equal(t.data[5], 40);
    assert.equal(t.data[32 * 32 + 2 * 32], 16);
  });

  it('NHWC puts the channel last; a symbolic size keeps the image size', () => {
    const chw = imageToTensor(PATTERN, raw(5, 7));
    const hwc = imageToTensor(PATTERN, { ...raw(5, 7), layout: 'NHWC' });
    assert.deepEqual(hwc.dims, [1, 5, 7, 3]);
    for (let c = 0; c < 3; c++) for (let k = 0; k < 35; k++) assert.equal(hwc.data[k * 3 + c], chw.data[c * 35 + k]);
    const own = imageToTensor(PATTERN, { ...raw(1, 1), size: undefined });
    assert.deepEqual(own.dims, [1, 3, 5, 7]);
    assert.deepEqual([...own.data], [...chw.data]);
  });
});

describe('loadInputTensor and listInputs', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-io-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const chw = (): number[] => Array.from({ length: 12 }, (_, k) => k);

  it('fits .npy tensors to the model dims', async () => {
    const p = join(dir, 'x.npy');
    writeFileSync(p, writeNpy(tensor([3, 2, 2], chw()), 'float32'));
    const pre = raw(2, 2);
    assert.deepEqual((await loadInputTensor(p, { preprocess: pre })).dims, [3, 2, 2]);
    const t = await loadInputTensor(p, { preprocess: pre, expectDims: [1, 3, 2, 2] });
    assert.deepEqual(t.dims, [1, 3, 2, 2]);
    assert.deepEqual([...t.data], chw());
    assert.deepEqual((await loadInputTensor(p, { preprocess: pre, expectDims: [-1, 3, -1, 2] })).dims, [1, 3, 2, 2]);
    await rejectsInvalid(
      loadInputTensor(p, { preprocess: pre, expectDims: [1, 3, 4, 4] }),
      /x\.npy: input shape \[3, 2, 2\] does not match the model's \[1, 3, 4, 4\]/,
    );
  });

  it('dispatches on content, not extension', async () => {
    const p = join(dir, 'image.npy'); // a PNG with a misleading name
    writeFileSync(p, await encodePng(makeImage(2, 2, () => [255, 0, 0])));
    const t = await loadInputTensor(p, { preprocess: { ...raw(2, 2), scale: 255 }, expectDims: [1, 3, 2, 2] });
    assert.deepEqual([...t.data], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    await rejectsInvalid(loadInputTensor(p, { preprocess: raw(2, 2, 1), expectDims: [1, 3, 2, 2] }), /input shape \[1, 1, 2, 2\] does not match/);
    const q = join(dir, 'notes.txt');
    writeFileSync(q, 'hello');
    await rejectsInvalid(loadInputTensor(q, { preprocess: raw(2, 2) }), /notes\.txt: unrecognized input format: expected a \.npy, PNG, JPEG or WebP/);
    await rejectsInvalid(loadInputTensor(join(dir, 'missing.png'), { preprocess: raw(2, 2) }), /cannot read input/);
  });

  it('a truncated image is one line naming the file, without the decoder\'s own text', async () => {
    const p = join(dir, 'cut.jpg');
    const jpg = await encodeJpeg(makeImage(64, 64, (x, y) => [x * 4, y * 4, 128]), 90);
    writeFileSync(p, jpg.subarray(0, jpg.length - 200));
    await assert.rejects(loadInputTensor(p, { preprocess: raw(64, 64) }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.message, `${p}: cannot decode this JPEG image: it is truncated or corrupt`);
      return true;
    });
  });

  it('fitToInputDims adds only a missing leading batch of 1', () => {
    assert.deepEqual(fitToInputDims(tensor([4]), [1, 4]).dims, [1, 4]);
    throwsInvalid(() => fitToInputDims(tensor([4]), [2, 4]), /does not match the model's \[2, 4\]/);
    throwsInvalid(() => fitToInputDims(tensor([1, 1, 4]), [1, 4]), /\[1, 1, 4\]/);
  });

  it('splits a batched .npy into per-sample inputs, reading each slice', async () => {
    const p = join(dir, 'batch.npy');
    const data = Array.from({ length: 3 * 12 }, (_, k) => k - 5);
    writeFileSync(p, writeNpy(tensor([3, 3, 2, 2], data), 'int16'));
    const opts = { preprocess: raw(2, 2), expectDims: [1, 3, 2, 2] };
    const items = listInputs(p, opts);
    assert.deepEqual(items.map((i) => i.name), ['batch.npy[0]', 'batch.npy[1]', 'batch.npy[2]']);
    for (let i = 0; i < 3; i++) {
      const t = await items[i]!.load();
      assert.deepEqual(t.dims, [1, 3, 2, 2]);
      assert.deepEqual([...t.data], data.slice(12 * i, 12 * i + 12));
      assert.equal(items[i]!.index, i);
    }
    // A symbolic batch splits too; no expectDims: rank ≥ 4 is taken as batched.
    assert.equal(listInputs(p, { ...opts, expectDims: [-1, 3, 2, 2] }).length, 3);
    assert.equal(listInputs(p, { preprocess: raw(2, 2) }).length, 3);
    // A model with a fixed batch of 3 takes the whole file as one input.
    const whole = listInputs(p, { ...opts, expectDims: [3, 3, 2, 2] });
    assert.equal(whole.length, 1);
    assert.deepEqual((await whole[0]!.load()).dims, [3, 3, 2, 2]);
    // Shape problems surface while listing.
    throwsInvalid(() => listInputs(p, { ...opts, expectDims: [1, 3, 4, 4] }), /batch\.npy: input shape \[1, 3, 2, 2\] does not match/);
    throwsInvalid(() => listInputs(p, { ...opts, expectDims: [1, 12] }), /input shape \[3, 3, 2, 2\] does not match the model's \[1, 12\]/);
  });

  it('lists a directory in sorted order, skipping other files', async () => {
    const d = join(dir, 'set');
    mkdirSync(d);
    writeFileSync(join(d, 'b.png'), await encodePng(makeImage(2, 2, () => [0, 0, 0])));
    writeFileSync(join(d, 'd.webp'), await encodeWebp(makeImage(2, 2, () => [9, 9, 9])));
    writeFileSync(join(d, 'a.npy'), writeNpy(tensor([2, 3, 2, 2], [...chw(), ...chw()])));
    writeFileSync(join(d, 'C.JPG'), await encodeJpeg(makeImage(8, 8, () => [128, 128, 128])));
    writeFileSync(join(d, 'c.npy'), writeNpy(tensor([3, 2, 2], chw())));
    writeFileSync(join(d, 'readme.txt'), 'x');
    writeFileSync(join(d, '.hidden.png'), 'x');
    mkdirSync(join(d, 'sub.png'));
    const items = listInputs(d, { preprocess: raw(2, 2), expectDims: [1, 3, 2, 2] });
    assert.deepEqual(items.map((i) => i.name), ['C.JPG', 'a.npy[0]', 'a.npy[1]', 'b.png', 'c.npy', 'd.webp']);
    for (const item of items) assert.deepEqual((await item.load()).dims, [1, 3, 2, 2]);
  });

  it('reports empty or missing inputs', () => {
    const e = join(dir, 'empty');
    mkdirSync(e);
    writeFileSync(join(e, 'notes.txt'), 'x');
    throwsInvalid(() => listInputs(e, { preprocess: raw(2, 2) }), /no inputs \(\.png, \.jpg, \.jpeg, \.webp, \.npy\) found/);
    throwsInvalid(() => listInputs(join(dir, 'nope'), { preprocess: raw(2, 2) }), /cannot be read/);
    const z = join(dir, 'zero.npy');
    writeFileSync(z, writeNpy(tensor([0, 3, 2, 2])));
    throwsInvalid(() => listInputs(z, { preprocess: raw(2, 2) }), /batch dimension is 0/);
    const t = join(dir, 'trunc.npy');
    writeFileSync(t, writeNpy(tensor([2, 3, 2, 2])).subarray(0, 200));
    throwsInvalid(() => listInputs(t, { preprocess: raw(2, 2) }), /trunc\.npy: truncated \.npy data/);
  });
});
