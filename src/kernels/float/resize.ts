/**
 * ONNX Resize (opset 11–19) in float64, modes `nearest` and `linear` (N-linear: bilinear on the two
 * spatial axes of NCHW, and any other axis whose size or scale changes). The importer resolves the
 * output size and the per-axis scale (the given `scales`, or output/input when `sizes` are given);
 * this file maps output coordinates back to the input and interpolates.
 *
 * Semantics follow the ONNX reference implementation that produced the backend test data
 * (onnx/backend/test/case/node/resize.py): the output length in the coordinate transforms is
 * `scale·input_length`, not the rounded output length (align_corners and tf_crop_and_resize divide
 * by it less one, pytorch_half_pixel compares it with 1), so with `scales` whose product with the
 * input length is not an integer (align_corners downsampling by 0.6, say) results differ from
 * onnxruntime, which uses the integer length. An axis whose size and scale stay the same is left
 * alone, as onnxruntime does. Out-of-range coordinates clamp to the edge (linear) or the nearest
 * valid index (nearest); tf_crop_and_resize writes `extrapolationValue` there instead.
 *
 * Interpolation is separable, one pass per axis whose map is not the identity; a pass along axis a
 * reads two input rows per output row and mixes them (1 − w)·lo + w·hi.
 */
import { sizeOf, type Tensor } from '../../tensor/tensor.js';
import { giveF64, takeF64 } from '../../tensor/pool.js';

export type ResizeMode = 'nearest' | 'linear';
export type CoordinateTransform =
  | 'half_pixel'
  | 'half_pixel_symmetric'
  | 'pytorch_half_pixel'
  | 'align_corners'
  | 'asymmetric'
  | 'tf_half_pixel_for_nn'
  | 'tf_crop_and_resize';
export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';

export interface ResizeAttrs {
  readonly mode: ResizeMode;
  readonly coordinateTransform: CoordinateTransform;
  readonly nearestMode: NearestMode;
  /** The output shape, one entry per input axis. */
  readonly outDims: readonly number[];
  /** Per axis, the scale factor the coordinate transform divides by. */
  readonly scales: readonly number[];
  /** tf_crop_and_resize only: [start₀…start_{r−1}, end₀…end_{r−1}] as fractions of each axis. */
  readonly roi?: readonly number[];
  readonly extrapolationValue: number;
}

/** For one axis: the two input indices each output index mixes, the weight of the second, and whether it lies outside (tf_crop_and_resize). */
interface AxisMap {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly w: Float64Array;
  readonly outside?: Uint8Array;
}

/** The input coordinate of output index x along one axis (the ONNX reference's transforms). */
function sourceCoordinate(x: number, axis: number, inLen: number, a: ResizeAttrs): number {
  const scale = a.scales[axis]!;
  const outLen = scale * inLen; // not outDims[axis]: see the file comment
  switch (a.coordinateTransform) {
    case 'align_corners':
      return outLen === 1 ? 0 : (x * (inLen - 1)) / (outLen - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    case 'pytorch_half_pixel':
      return outLen === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const offset = (inLen / 2) * (1 - a.outDims[axis]! / outLen);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case 'tf_crop_and_resize': {
      const rank = a.outDims.length;
      const start = a.roi![axis]!;
      const end = a.roi![axis + rank]!;
      const span = (end - start) * (inLen - 1);
      return (outLen === 1 ? span / 2 : (x * span) / (outLen - 1)) + start * (inLen - 1);
    }
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
  }
}

function nearestIndex(c: number, mode: NearestMode): number {
  const f = Math.floor(c);
  const ratio = c - f;
  if (ratio === 0) return f;
  switch (mode) {
    case 'round_prefer_floor':
      return ratio <= 0.5 ? f : f + 1;
    case 'round_prefer_ceil':
      return ratio < 0.5 ? f : f + 1;
    case 'floor':
      return f;
    case 'ceil':
      return f + 1;
  }
}

/** The map of one axis, or undefined when it is the identity (nothing to do). */
function axisMap(axis: number, inLen: number, a: ResizeAttrs): AxisMap | undefined {
  const outLen = a.outDims[axis]!;
  const cropping = a.coordinateTransform === 'tf_crop_and_resize';
  // An axis left alone (N and C, typically) stays alone, whatever the transform: tf_half_pixel_for_nn
  // with a ceiling nearest_mode would otherwise shift it by one, which onnxruntime does not do either.
  if (outLen === inLen && a.scales[axis] === 1 && !cropping) return undefined;
  const lo = new Int32Array(outLen);
  const hi = new Int32Array(outLen);
  const w = new Float64Array(outLen);
  const outside = cropping ? new Uint8Array(outLen) : undefined;
  const clamp = (i: number): number => (i < 0 ? 0 : i > inLen - 1 ? inLen - 1 : i);
  let identity = outLen === inLen;
  for (let x = 0; x < outLen; x++) {
    const c = sourceCoordinate(x, axis, inLen, a);
    if (cropping && !(c >= 0 && c <= inLen - 1)) {
      outside![x] = 1;
      identity = false;
      continue;
    }
    if (a.mode === 'nearest') {
      lo[x] = hi[x] = clamp(nearestIndex(c, a.nearestMode));
    } else {
      const f = Math.floor(c);
      lo[x] = clamp(f);
      hi[x] = clamp(f + 1);
      w[x] = lo[x] === hi[x] ? 0 : c - f;
    }
    if (lo[x] !== x || w[x] !== 0) identity = false;
  }
  return identity ? undefined : { lo, hi, w, outside };
}

/** One pass: resizes axis `axis` of (dims, src) by `map`. */
function resizeAxis(src: Float64Array, dims: readonly number[], axis: number, map: AxisMap, extrapolation: number): Float64Array {
  const inLen = dims[axis]!;
  const outLen = map.lo.length;
  const outer = sizeOf(dims.slice(0, axis));
  const inner = sizeOf(dims.slice(axis + 1));
  const out = takeF64(outer * outLen * inner);
  const { lo, hi, w, outside } = map;
  for (let o = 0; o < outer; o++) {
    const inBase = o * inLen * inner;
    const outBase = o * outLen * inner;
    for (let x = 0; x < outLen; x++) {
      const dst = outBase + x * inner;
      if (outside !== undefined && outside[x] === 1) {
        out.fill(extrapolation, dst, dst + inner);
        continue;
      }
      const a = inBase + lo[x]! * inner;
      const wx = w[x]!;
      if (wx === 0) {
        for (let j = 0; j < inner; j++) out[dst + j] = src[a + j]!;
      } else {
        const b = inBase + hi[x]! * inner;
        const wa = 1 - wx;
        for (let j = 0; j < inner; j++) out[dst + j] = wa * src[a + j]! + wx * src[b + j]!;
      }
    }
  }
  return out;
}

export function resize(x: Tensor, attrs: ResizeAttrs): Tensor {
  const dims = [...x.dims];
  let data = x.data;
  // Innermost axis first, as the reference nests its 1-D interpolations.
  for (let axis = dims.length - 1; axis >= 0; axis--) {
    const map = axisMap(axis, x.dims[axis]!, attrs);
    if (map === undefined) continue;
    const next = resizeAxis(data, dims, axis, map, attrs.extrapolationValue);
    if (data !== x.data) giveF64(data); // an intermediate pass's result: ours alone
    data = next;
    dims[axis] = attrs.outDims[axis]!;
  }
  // Every axis the identity: still a new tensor, as every other kernel returns.
  return { dims, data: data === x.data ? Float64Array.from(data) : data };
}
