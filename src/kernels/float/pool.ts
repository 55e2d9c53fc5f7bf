/**
 * Float pooling kernels over NCHW tensors: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
 * following ONNX (opset 12+ MaxPool, opset 19 AveragePool with dilations) as onnxruntime computes it:
 * - output size ⌊(H + top + bottom − span)/s⌋ + 1 with span = d·(k − 1) + 1, or with ceil_mode
 *   ⌈…⌉ + 1 minus the last window when it would start in the bottom/right padding;
 * - padding never takes part in a max; an average divides by the taps inside the input
 *   (count_include_pad = 0) or by the taps inside the padded input (count_include_pad = 1), so a
 *   ceil_mode window that runs past the padded input is not charged for the overhang;
 * - every pad must be smaller than the kernel (onnxruntime rejects the others).
 * A window that holds no input tap (possible only with dilation) yields −∞ for max and 0 for average.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, type Tensor } from '../../tensor/tensor.js';
import { maxPool2x2, maxPool3x3s2p1 } from '../../simd/pool.js';
import { takeF64 } from '../../tensor/pool.js';

export interface PoolAttrs {
  /** [kH, kW] */
  kernel: [number, number];
  /** [sH, sW] */
  strides: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
  /** [dH, dW] */
  dilations: [number, number];
  ceilMode: boolean;
}

export interface AveragePoolAttrs extends PoolAttrs {
  countIncludePad: boolean;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`pool ${name} must be a positive integer, got ${v}`);
}

/** Output length of one spatial axis (ONNX / onnxruntime formula). */
function outputLength(
  axis: string,
  size: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  ceilMode: boolean,
): number {
  checkPositiveInt(`kernel ${axis}`, kernel);
  checkPositiveInt(`stride ${axis}`, stride);
  checkPositiveInt(`dilation ${axis}`, dilation);
  for (const p of [padBegin, padEnd]) {
    if (!Number.isInteger(p) || p < 0) throw new InvalidArgumentError(`pool pads along ${axis} must be non-negative integers, got ${p}`);
    if (p >= kernel) throw new InvalidArgumentError(`pool pad ${p} along ${axis} must be smaller than the kernel ${kernel}`);
  }
  const span = dilation * (kernel - 1) + 1;
  const room = size + padBegin + padEnd - span;
  if (room < 0) {
    throw new InvalidArgumentError(
      `pool window ${span} along ${axis} (kernel ${kernel}, dilation ${dilation}) exceeds the padded input ${size + padBegin + padEnd}`,
    );
  }
  if (!ceilMode) return Math.floor(room / stride) + 1;
  let out = Math.ceil(room / stride) + 1;
  // The last window must start inside the input or its leading padding.
  if ((out - 1) * stride >= size + padBegin) out--;
  return out;
}

/** Output dims [N, C, OH, OW] of a 2-D pool over x dims [N, C, H, W]. */
export function poolOutputDims(xDims: readonly number[], attrs: PoolAttrs): number[] {
  if (xDims.length !== 4) throw new InvalidArgumentError(`2-D pooling needs an NCHW input, got ${formatDims(xDims)}`);
  const [n, c, h, w] = xDims as [number, number, number, number];
  const [kh, kw] = attrs.kernel;
  const [sh, sw] = attrs.strides;
  const [pt, pl, pb, pr] = attrs.pads;
  const [dh, dw] = attrs.dilations;
  return [
    n,
    c,
    outputLength('H', h, kh, sh, pt, pb, dh, attrs.ceilMode),
    outputLength('W', w, kw, sw, pl, pr, dw, attrs.ceilMode),
  ];
}

/**
 * Per output position along one axis: the input index of the first in-range tap, the number of
 * in-range taps, and the number of taps inside the padded input (for count_include_pad).
 */
interface AxisWindows {
  first: Int32Array;
  count: Int32Array;
  padded: Int32Array;
}

function axisWindows(out: number, size: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number): AxisWindows {
  const first = new Int32Array(out);
  const count = new Int32Array(out);
  const padded = new Int32Array(out);
  for (let o = 0; o < out; o++) {
    const start = o * stride - padBegin;
    // taps j in [0, kernel): position start + j·dilation
    const jLo = start < 0 ? Math.ceil(-start / dilation) : 0;
    const jHi = Math.min(kernel, Math.floor((size - 1 - start) / dilation) + 1); // exclusive
    const jPad = Math.min(kernel, Math.floor((size + padEnd - 1 - start) / dilation) + 1);
    first[o] = start + jLo * dilation;
    count[o] = Math.max(0, jHi - jLo);
    padded[o] = Math.max(0, jPad);
  }
  return { first, count, padded };
}

function pool2d(x: Tensor, attrs: PoolAttrs, kind: 'max' | 'avg', countIncludePad: boolean): Tensor {
  const outDims = poolOutputDims(x.dims, attrs);
  const [n, c, h, w] = x.dims as [number, number, number, number];
  if (kind === 'max' && isPlain2x2(attrs) && h % 2 === 0 && w % 2 === 0) {
    // The common VGG/CNN pool: every input value in exactly one window, windows of two rows that
    // never span planes, so all planes' rows go through the SIMD kernel as one sequence.
    const out = takeF64(n * c * (h / 2) * (w / 2));
    maxPool2x2(x.data, n * c * h, w, out);
    return { dims: outDims, data: out };
  }
  if (kind === 'max' && isStem3x3(attrs)) {
    // The ResNet stem's pool, separable in the SIMD kernel.
    const out = takeF64(n * c * outDims[2]! * outDims[3]!);
    maxPool3x3s2p1(x.data, n * c, h, w, out);
    return { dims: outDims, data: out };
  }
  const oh = outDims[2]!;
  const ow = outDims[3]!;
  const [dh, dw] = attrs.dilations;
  const rows = axisWindows(oh, h, attrs.kernel[0], attrs.strides[0], attrs.pads[0], attrs.pads[2], dh);
  const cols = axisWindows(ow, w, attrs.kernel[1], attrs.strides[1], attrs.pads[1], attrs.pads[3], dw);
  const src = x.data;
  const out = takeF64(n * c * oh * ow); // one write per output window below
  const planeIn = h * w;
  const rowFirst = rows.first;
  const rowCount = rows.count;
  const rowPadded = rows.padded;
  const colFirst = cols.first;
  const colCount = cols.count;
  const colPadded = cols.padded;
  const rowStep = dh * w;
  let o = 0;
  for (let plane = 0; plane < n * c; plane++) {
    const base = plane * planeIn;
    for (let y = 0; y < oh; y++) {
      const nr = rowCount[y]!;
      const rowBase = base + rowFirst[y]! * w;
      const pr = rowPadded[y]!;
      for (let xo = 0; xo < ow; xo++) {
        const nc = colCount[xo]!;
        const start = rowBase + colFirst[xo]!;
        if (kind === 'max') {
          let m = -Infinity;
          for (let i = 0, r = start; i < nr; i++, r += rowStep) {
            for (let j = 0, p = r; j < nc; j++, p += dw) {
              const v = src[p]!;
              // (m + v + |m − v|)/2 is branch-free (a compare mispredicts on activations of random
              // order) and exact on the fixed-point grid values the trusted runtime pools. It is
              // max(m, v) exactly when it is one of them and no smaller than either; otherwise
              // (rounding, ±∞, NaN) the test, true almost never and so predicted, falls back.
              let c = (m + v + Math.abs(m - v)) * 0.5;
              if ((+(c >= m) & +(c >= v) & (+(c === m) | +(c === v))) === 0) c = m > v || m !== m ? m : v;
              m = c;
            }
          }
          out[o++] = m;
        } else {
          let s = 0;
          for (let i = 0, r = start; i < nr; i++, r += rowStep) {
            for (let j = 0, p = r; j < nc; j++, p += dw) s += src[p]!;
          }
          const divisor = countIncludePad ? pr * colPadded[xo]! : nr * nc;
          out[o++] = divisor > 0 ? s / divisor : 0;
        }
      }
    }
  }
  return { dims: outDims, data: out };
}

/** Kernel 2×2, stride 2, no padding, no dilation (ceil_mode changes nothing on even sizes). */
export function isPlain2x2(a: PoolAttrs): boolean {
  return a.kernel[0] === 2 && a.kernel[1] === 2 && a.strides[0] === 2 && a.strides[1] === 2 && a.dilations[0] === 1 && a.dilations[1] === 1 && a.pads.every((p) => p === 0);
}

/** Kernel 3×3, stride 2, padding 1 on every side, no dilation, floor mode. */
function isStem3x3(a: PoolAttrs): boolean {
  return a.kernel[0] === 3 && a.kernel[1] === 3 && a.strides[0] === 2 && a.strides[1] === 2 && a.dilations[0] === 1 && a.dilations[1] === 1 && !a.ceilMode && a.pads.every((p) => p === 1);
}

/** ONNX MaxPool (single output) over NCHW. NaN propagates. */
export function maxPool2d(x: Tensor, attrs: PoolAttrs): Tensor {
  return pool2d(x, attrs, 'max', false);
}

/** ONNX AveragePool over NCHW (dilations as in opset 19). */
export function averagePool2d(x: Tensor, attrs: AveragePoolAttrs): Tensor {
  return pool2d(x, attrs, 'avg', attrs.countIncludePad);
}

function checkGlobal(x: Tensor, op: string): { planes: number; area: number; outDims: number[] } {
  if (x.dims.length < 3) throw new InvalidArgumentError(`${op} needs an input of rank ≥ 3 (N, C, spatial…), got ${formatDims(x.dims)}`);
  const area = sizeOf(x.dims.slice(2));
  if (area === 0) throw new InvalidArgumentError(`${op} over an empty spatial extent ${formatDims(x.dims)}`);
  return { planes: x.dims[0]! * x.dims[1]!, area, outDims: [x.dims[0]!, x.dims[1]!, ...x.dims.slice(2).map(() => 1)] };
}

/** ONNX GlobalAveragePool: mean over every axis after N and C; output [N, C, 1, …]. */
export function globalAveragePool(x: Tensor): Tensor {
  const { planes, area, outDims } = checkGlobal(x, 'GlobalAveragePool');
  const src = x.data;
  const out = new Float64Array(planes);
  for (let p = 0, base = 0; p < planes; p++, base += area) {
    let s = 0;
    for (let i = base, end = base + area; i < end; i++) s += src[i]!;
    out[p] = s / area;
  }
  return { dims: outDims, data: out };
}

/** ONNX GlobalMaxPool: max over every axis after N and C; output [N, C, 1, …]. NaN propagates. */
export function globalMaxPool(x: Tensor): Tensor {
  const { planes, area, outDims } = checkGlobal(x, 'GlobalMaxPool');
  const src = x.data;
  const out = new Float64Array(planes);
  for (let p = 0, base = 0; p < planes; p++, base += area) {
    let m = -Infinity;
    for (let i = base, end = base + area; i < end; i++) {
      const v = src[i]!;
      if (v > m || v !== v) m = v;
    }
    out[p] = m;
  }
  return { dims: outDims, data: out };
}
