/**
 * Float layout kernels and shape rules with ONNX semantics (opset 13+): Concat, Transpose, Pad
 * (constant / reflect / edge, negative pads crop), Reshape and Flatten shape inference, Slice (with
 * ONNX clamping, negative steps and INT64 sentinels), Gather, Squeeze and Unsqueeze shapes.
 * Data-moving kernels return new tensors; the *Dims functions only compute shapes.
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatDims, sizeOf, stridesOf, type Tensor } from '../../tensor/tensor.js';

function normalizeAxis(axis: number, rank: number, what: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new InvalidArgumentError(`${what} axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Copies a strided view of `src` into a new contiguous array: output position (i0, …, iR−1) reads
 * src[offset + Σ ik·strides[k]] (strides may be zero or negative).
 */
function stridedCopy(src: Float64Array, offset: number, dims: readonly number[], strides: readonly number[]): Float64Array {
  const total = sizeOf(dims);
  const out = new Float64Array(total);
  if (total === 0) return out;
  const r = dims.length;
  if (r === 0) {
    out[0] = src[offset]!;
    return out;
  }
  const n = dims[r - 1]!;
  const s = strides[r - 1]!;
  const rows = total / n;
  const counter = new Array<number>(r - 1).fill(0);
  let p = offset;
  for (let row = 0, o = 0; row < rows; row++, o += n) {
    if (s === 1) out.set(src.subarray(p, p + n), o);
    else for (let i = 0, q = p; i < n; i++, q += s) out[o + i] = src[q]!;
    for (let k = r - 2; k >= 0; k--) {
      p += strides[k]!;
      if (++counter[k]! < dims[k]!) break;
      p -= strides[k]! * dims[k]!;
      counter[k] = 0;
    }
  }
  return out;
}

/** ONNX Concat along `axis` (negative counts from the end). All inputs share rank and other dims. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new InvalidArgumentError('Concat needs at least one input');
  const first = tensors[0]!;
  const rank = first.dims.length;
  if (rank === 0) throw new InvalidArgumentError('Concat inputs must have rank ≥ 1');
  const a = normalizeAxis(axis, rank, 'Concat');
  let axisTotal = 0;
  for (const t of tensors) {
    if (t.dims.length !== rank) throw new InvalidArgumentError(`Concat inputs differ in rank: ${formatDims(first.dims)} vs ${formatDims(t.dims)}`);
    for (let i = 0; i < rank; i++) {
      if (i !== a && t.dims[i] !== first.dims[i]) {
        throw new InvalidArgumentError(`Concat inputs ${formatDims(first.dims)} and ${formatDims(t.dims)} differ outside axis ${a}`);
      }
    }
    axisTotal += t.dims[a]!;
  }
  const dims = [...first.dims];
  dims[a] = axisTotal;
  let outer = 1;
  for (let i = 0; i < a; i++) outer *= dims[i]!;
  let inner = 1;
  for (let i = a + 1; i < rank; i++) inner *= dims[i]!;
  const out = new Float64Array(sizeOf(dims));
  const outBlock = axisTotal * inner;
  let at = 0;
  for (const t of tensors) {
    const chunk = t.dims[a]! * inner;
    if (chunk === 0) continue;
    for (let o = 0; o < outer; o++) out.set(t.data.subarray(o * chunk, (o + 1) * chunk), o * outBlock + at);
    at += chunk;
  }
  return { dims, data: out };
}

/** ONNX Transpose: output axis i is input axis perm[i]; the default perm reverses the axes. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const rank = x.dims.length;
  const p = perm ?? x.dims.map((_, i) => rank - 1 - i);
  if (p.length !== rank) throw new InvalidArgumentError(`Transpose perm [${p.join(', ')}] does not match rank ${rank}`);
  const seen = new Array<boolean>(rank).fill(false);
  for (const axis of p) {
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank || seen[axis]) {
      throw new InvalidArgumentError(`Transpose perm [${p.join(', ')}] is not a permutation of 0..${rank - 1}`);
    }
    seen[axis] = true;
  }
  const inStrides = stridesOf(x.dims);
  const dims = p.map((axis) => x.dims[axis]!);
  const strides = p.map((axis) => inStrides[axis]!);
  return { dims, data: stridedCopy(x.data, 0, dims, strides) };
}

export type PadMode = 'constant' | 'reflect' | 'edge';

/**
 * ONNX Pad. `pads` is [x1_begin, x2_begin, …, x1_end, x2_end, …] over every axis; negative values
 * crop, and cropping happens before padding (as onnxruntime does). `value` fills in constant mode. Reflect mirrors without repeating the border and needs each
 * pad below the axis length; edge repeats the border and needs a non-empty axis.
 */
export function pad(x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  const rank = x.dims.length;
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') throw new InvalidArgumentError(`Pad mode ${String(mode)} is not supported`);
  if (pads.length !== 2 * rank) throw new InvalidArgumentError(`Pad needs ${2 * rank} pads for ${formatDims(x.dims)}, got ${pads.length}`);
  const dims = new Array<number>(rank);
  // Per axis, the input index each output index reads (−1: the constant value).
  const maps: Int32Array[] = [];
  for (let i = 0; i < rank; i++) {
    const size = x.dims[i]!;
    const begin = pads[i]!;
    const end = pads[i + rank]!;
    if (!Number.isInteger(begin) || !Number.isInteger(end)) throw new InvalidArgumentError(`Pad pads must be integers, got [${pads.join(', ')}]`);
    // Negative pads crop first; the remaining pads then extend the cropped axis.
    const lo = Math.max(-begin, 0);
    const kept = size - lo - Math.max(-end, 0);
    if (kept < 0) throw new InvalidArgumentError(`Pad pads [${pads.join(', ')}] crop axis ${i} of ${formatDims(x.dims)} below zero`);
    const padB = Math.max(begin, 0);
    const padE = Math.max(end, 0);
    if (mode === 'reflect' && (padB > 0 || padE > 0) && (padB > kept - 1 || padE > kept - 1)) {
      throw new InvalidArgumentError(`Pad reflect needs pads below the axis length: axis ${i} has ${kept}, pads ${padB}/${padE}`);
    }
    if (mode === 'edge' && kept === 0 && (padB > 0 || padE > 0)) throw new InvalidArgumentError(`Pad edge cannot extend the empty axis ${i}`);
    const outSize = kept + padB + padE;
    dims[i] = outSize;
    const m = new Int32Array(outSize);
    for (let o = 0; o < outSize; o++) {
      let c = o - padB;
      if (c < 0 || c >= kept) {
        if (mode === 'constant') {
          m[o] = -1;
          continue;
        }
        if (mode === 'edge') c = c < 0 ? 0 : kept - 1;
        else c = c < 0 ? -c : 2 * (kept - 1) - c;
      }
      m[o] = lo + c;
    }
    maps.push(m);
  }
  const total = sizeOf(dims);
  const out = new Float64Array(total);
  if (total === 0) return { dims, data: out };
  if (rank === 0) {
    out[0] = x.data[0]!;
    return { dims, data: out };
  }
  if (mode === 'constant' && value !== 0) out.fill(value);
  const src = x.data;
  const inStrides = stridesOf(x.dims);
  const outStrides = stridesOf(dims);
  const last = rank - 1;
  const lastMap = maps[last]!;
  const outLast = dims[last]!;
  const copy = (axis: number, inBase: number, outBase: number): void => {
    if (axis === last) {
      for (let o = 0; o < outLast; o++) {
        const k = lastMap[o]!;
        if (k >= 0) out[outBase + o] = src[inBase + k]!;
      }
      return;
    }
    const m = maps[axis]!;
    const si = inStrides[axis]!;
    const so = outStrides[axis]!;
    for (let o = 0; o < dims[axis]!; o++) {
      const k = m[o]!;
      if (k >= 0) copy(axis + 1, inBase + k * si, outBase + o * so);
    }
  };
  copy(0, 0, 0);
  return { dims, data: out };
}

/**
 * ONNX Reshape shape rule: −1 (at most one) is inferred; 0 copies the input dim at that index
 * unless allowZero, when it means a literal 0 (and may not be combined with −1).
 */
export function reshapeDims(inDims: readonly number[], shape: readonly number[], allowZero = false): number[] {
  const total = sizeOf(inDims);
  const out = new Array<number>(shape.length);
  let inferAt = -1;
  let known = 1;
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i]!;
    if (!Number.isInteger(s) || s < -1) throw new InvalidArgumentError(`Reshape shape [${shape.join(', ')}] has invalid entry ${s}`);
    if (s === -1) {
      if (inferAt >= 0) throw new InvalidArgumentError(`Reshape shape [${shape.join(', ')}] has more than one −1`);
      inferAt = i;
      continue;
    }
    let d = s;
    if (s === 0 && !allowZero) {
      if (i >= inDims.length) throw new InvalidArgumentError(`Reshape shape [${shape.join(', ')}] copies dim ${i} of ${formatDims(inDims)}, which does not exist`);
      d = inDims[i]!;
    }
    out[i] = d;
    known *= d;
  }
  if (inferAt >= 0) {
    if (allowZero && shape.includes(0)) throw new InvalidArgumentError(`Reshape shape [${shape.join(', ')}] combines −1 with a literal 0 (allowzero)`);
    if (known === 0 || total % known !== 0) {
      throw new InvalidArgumentError(`Reshape cannot infer −1 in [${shape.join(', ')}] for ${formatDims(inDims)} (${total} elements)`);
    }
    out[inferAt] = total / known;
  } else if (known !== total) {
    throw new InvalidArgumentError(`Reshape of ${formatDims(inDims)} (${total} elements) to [${shape.join(', ')}] (${known} elements)`);
  }
  return out;
}

/** ONNX Flatten shape: [Π dims[0..axis), Π dims[axis..)], axis in [−rank, rank]. */
export function flattenDims(dims: readonly number[], axis = 1): number[] {
  const rank = dims.length;
  if (!Number.isInteger(axis) || axis < -rank || axis > rank) throw new InvalidArgumentError(`Flatten axis ${axis} is out of range for rank ${rank}`);
  const a = axis < 0 ? axis + rank : axis;
  return [sizeOf(dims.slice(0, a)), sizeOf(dims.slice(a))];
}

/**
 * ONNX Slice (opset 13). For each listed axis (default 0..n−1, negative allowed, no repeats) and step
 * (default 1, non-zero): negative starts/ends count from the end; for step > 0 both clamp to
 * [0, dim]; for step < 0 start clamps to [0, dim−1] and end to [−1, dim−1]. INT64 min/max
 * sentinels arrive as ±huge numbers and clamp accordingly.
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): Tensor {
  const plan = slicePlan(x.dims, starts, ends, axes, steps);
  return { dims: plan.dims, data: stridedCopy(x.data, plan.offset, plan.dims, plan.strides) };
}

/** Output dims of {@link slice} without touching data (same rules and errors). */
export function sliceDims(inDims: readonly number[], starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): number[] {
  return slicePlan(inDims, starts, ends, axes, steps).dims;
}

function slicePlan(
  inDims: readonly number[],
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
): { dims: number[]; strides: number[]; offset: number } {
  const rank = inDims.length;
  const n = starts.length;
  if (ends.length !== n) throw new InvalidArgumentError(`Slice starts (${n}) and ends (${ends.length}) differ in length`);
  const ax = axes ?? starts.map((_, i) => i);
  if (ax.length !== n) throw new InvalidArgumentError(`Slice axes (${ax.length}) and starts (${n}) differ in length`);
  const st = steps ?? starts.map(() => 1);
  if (st.length !== n) throw new InvalidArgumentError(`Slice steps (${st.length}) and starts (${n}) differ in length`);
  const inStrides = stridesOf(inDims);
  const dims = [...inDims];
  const strides = [...inStrides];
  const seen = new Array<boolean>(rank).fill(false);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const a = normalizeAxis(ax[i]!, rank, 'Slice');
    if (seen[a]) throw new InvalidArgumentError(`Slice axes [${ax.join(', ')}] repeat axis ${a}`);
    seen[a] = true;
    const step = st[i]!;
    if (!Number.isInteger(step) || step === 0) throw new InvalidArgumentError(`Slice step ${step} must be a non-zero integer`);
    const size = inDims[a]!;
    let start = starts[i]!;
    let end = ends[i]!;
    if (Number.isNaN(start) || Number.isNaN(end)) throw new InvalidArgumentError('Slice starts/ends must be numbers');
    if (start < 0) start += size;
    if (end < 0) end += size;
    let count: number;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), size);
      end = Math.min(Math.max(end, 0), size);
      count = end > start ? Math.ceil((end - start) / step) : 0;
    } else {
      start = Math.min(Math.max(start, 0), size - 1);
      end = Math.min(Math.max(end, -1), size - 1);
      count = start > end ? Math.ceil((start - end) / -step) : 0;
    }
    dims[a] = count;
    strides[a] = inStrides[a]! * step;
    if (count > 0) offset += start * inStrides[a]!;
  }
  return { dims, strides, offset };
}

/**
 * ONNX Gather along `axis`: output dims are x.dims[..axis) ++ indices.dims ++ x.dims(axis..].
 * Indices are integers in [−dim, dim); negative ones count from the end.
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  const rank = x.dims.length;
  const a = gatherAxis(rank, axis);
  const size = x.dims[a]!;
  const idx = indices.data;
  const resolved = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (!Number.isInteger(v) || v < -size || v >= size) {
      throw new InvalidArgumentError(`Gather index ${v} is out of range for axis ${a} of ${formatDims(x.dims)}`);
    }
    resolved[i] = v < 0 ? v + size : v;
  }
  const dims = gatherDims(x.dims, indices.dims, axis);
  let outer = 1;
  for (let i = 0; i < a; i++) outer *= x.dims[i]!;
  let inner = 1;
  for (let i = a + 1; i < rank; i++) inner *= x.dims[i]!;
  const out = new Float64Array(outer * idx.length * inner);
  const src = x.data;
  const inBlock = size * inner;
  let o = 0;
  for (let p = 0; p < outer; p++) {
    const base = p * inBlock;
    for (let j = 0; j < resolved.length; j++) {
      const from = base + resolved[j]! * inner;
      if (inner === 1) out[o] = src[from]!;
      else out.set(src.subarray(from, from + inner), o);
      o += inner;
    }
  }
  return { dims, data: out };
}

function gatherAxis(rank: number, axis: number): number {
  if (rank === 0) throw new InvalidArgumentError('Gather needs data of rank ≥ 1');
  return normalizeAxis(axis, rank, 'Gather');
}

/** Output dims of {@link gather}: dims[..axis) ++ indicesDims ++ dims(axis..]. Index values are not checked. */
export function gatherDims(dims: readonly number[], indicesDims: readonly number[], axis = 0): number[] {
  const a = gatherAxis(dims.length, axis);
  return [...dims.slice(0, a), ...indicesDims, ...dims.slice(a + 1)];
}

/** ONNX Squeeze shape: drops the listed axes (each must be 1), or every 1 when axes is absent. */
export function squeezeDims(dims: readonly number[], axes?: readonly number[]): number[] {
  if (axes === undefined) return dims.filter((d) => d !== 1);
  const rank = dims.length;
  const drop = new Array<boolean>(rank).fill(false);
  for (const axis of axes) {
    const a = normalizeAxis(axis, rank, 'Squeeze');
    if (drop[a]) throw new InvalidArgumentError(`Squeeze axes [${axes.join(', ')}] repeat axis ${a}`);
    if (dims[a] !== 1) throw new InvalidArgumentError(`Squeeze axis ${a} of ${formatDims(dims)} has size ${dims[a]}, not 1`);
    drop[a] = true;
  }
  return dims.filter((_, i) => !drop[i]);
}

/** ONNX Unsqueeze shape: inserts 1s at the listed axes of the output (rank + axes.length). */
export function unsqueezeDims(dims: readonly number[], axes: readonly number[]): number[] {
  const rank = dims.length + axes.length;
  const insert = new Array<boolean>(rank).fill(false);
  for (const axis of axes) {
    const a = normalizeAxis(axis, rank, 'Unsqueeze');
    if (insert[a]) throw new InvalidArgumentError(`Unsqueeze axes [${axes.join(', ')}] repeat axis ${a}`);
    insert[a] = true;
  }
  const out = new Array<number>(rank);
  for (let i = 0, j = 0; i < rank; i++) out[i] = insert[i] ? 1 : dims[j++]!;
  return out;
}
