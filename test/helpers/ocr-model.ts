/**
 * A PaddleOCR-style test model: input [N, 3, H, W] with symbolic N, H and W, two wide box-filter
 * convolutions with ReLU, global pooling, a dense layer and a final Softmax. Its weights respond to
 * large uniform regions — the white background of a text line — about ten times more strongly than
 * to the seeded standard-normal inputs slalom calibrates on by default, so real text lines overflow a
 * default calibration, as the PaddleOCR recognizer did, and work once calibrated on text lines.
 */
import { OnnxBuilder } from '../../src/onnx/build.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';

export const OCR_CLASSES = 6;
export const OCR_LINE: readonly number[] = [1, 3, 48, 96];

export function ocrModel(): Uint8Array {
  const rng = new Rng(21);
  const box = (m: number, c: number, k: number): Float32Array => Float32Array.from({ length: m * c * k * k }, () => (1 + 0.2 * rng.normal()) / (c * k * k));
  return new OnnxBuilder('ocr-like')
    .input('x', ['N', 3, 'H', 'W'])
    .initializer('c1.w', [4, 3, 7, 7], box(4, 3, 7))
    .initializer('c1.b', [4], new Float32Array(4))
    .initializer('c2.w', [4, 4, 7, 7], box(4, 4, 7).map((v) => v * 196))
    .initializer('c2.b', [4], new Float32Array(4))
    .initializer('fc.w', [OCR_CLASSES, 4], rng.fillNormal(new Float32Array(OCR_CLASSES * 4), 0.02))
    .initializer('fc.b', [OCR_CLASSES], new Float32Array(OCR_CLASSES))
    .node('Conv', ['x', 'c1.w', 'c1.b'], ['a'], { pads: [3, 3, 3, 3] }, 'p2o.Conv.0')
    .node('Relu', ['a'], ['ra'], {}, 'relu0')
    .node('Conv', ['ra', 'c2.w', 'c2.b'], ['b'], { pads: [3, 3, 3, 3] }, 'p2o.Conv.6')
    .node('Relu', ['b'], ['rb'], {}, 'relu1')
    .node('GlobalAveragePool', ['rb'], ['g'], {}, 'gap')
    .node('Flatten', ['g'], ['f'], {}, 'flatten')
    .node('Gemm', ['f', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc')
    .node('Softmax', ['logits'], ['probs'], { axis: 1 }, 'softmax')
    .output('probs', ['N', OCR_CLASSES])
    .toBytes();
}

/**
 * `count` synthetic text lines, normalized like PaddleOCR's ((pixel/255 − 0.5)/0.5): a white (+1)
 * background with a few dark (−1) strokes, stacked as [count, 3, H, W].
 */
export function textLines(count: number, seed: number, dims: readonly number[] = OCR_LINE): Tensor {
  const [, c, h, w] = dims as [number, number, number, number];
  const rng = new Rng(seed);
  const data = new Float64Array(count * c * h * w).fill(1);
  for (let n = 0; n < count; n++) {
    for (let s = 0; s < 6; s++) {
      const x0 = Math.floor(rng.uniform() * (w - 6));
      const y0 = Math.floor(rng.uniform() * (h / 2));
      const len = 4 + Math.floor(rng.uniform() * (h / 2));
      for (let ch = 0; ch < c; ch++) for (let y = y0; y < y0 + len; y++) for (let x = x0; x < x0 + 3; x++) data[((n * c + ch) * h + y) * w + x] = -1;
    }
  }
  return tensor([count, c, h, w], data);
}
