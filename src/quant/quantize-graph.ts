/**
 * Quantizes a Graph's linear layers (docs/design.md §2): per layer, an input scale 2^lx and a weight
 * scale 2^lw chosen from calibration so that the layer's largest calibrated output, times a safety
 * margin, stays inside (−p/2, p/2):
 *
 *     maxAbsOut · 2^(lx+lw) · margin ≤ (p − 1)/2.
 *
 * The bits are split so the input and weight grids have equal relative resolution
 * (lx + log2 maxAbsIn ≈ lw + log2 maxAbsW). Weights become integers w̃ = round(w·2^lw), biases
 * b̃ = round(b·2^(lx+lw)); every layer is checked against the exactness bound of field/prime.ts
 * (Σ|w̃|·(p − 1) + |b̃| < 2^53) so any kernel computing it in doubles is exact.
 *
 * Per-channel weight scales (a transformer's linear layers over token rows, whose output features
 * differ widely in magnitude): output feature j gets e_j ≥ 0 more weight bits, w̃_j = round(w_j·2^(lw+e_j)),
 * b̃_j = round(b_j·2^(lx+lw+e_j)), where its own calibrated maximum leaves room: maxOut_j·2^(lx+lw+e_j)
 * stays within the bound the per-tensor scale gives the largest feature, with one bit more headroom.
 * The accelerator still computes one exact integer product x̃·W̃; the requantization dequantizes
 * feature j by 2^−(lx+lw+e_j) (the boundary pass by 2^−(lx+lw), then fixed-point.ts's
 * scaleColumns by 2^−e_j, both exact powers of two). CNN layers keep one scale per tensor, so their
 * results are unchanged.
 *
 * Exactness for the largest fan-in met (BERT-base's FFN down-projection, K = 3072): the field bound
 * needs |Σ_k x̃_k·w̃_kj + b̃_j| < p/2 ≈ 2^23 for the centered result to be the true integer. With no
 * calibration a worst case K·2^(bx+bw) < 2^23 allows only bx + bw ≤ 11 bits (2^11.6 = 3072);
 * calibration instead bounds the actual output: maxOut_j·2^(lx+lw+e_j)·margin ≤ (p − 1)/2, margin 4,
 * which for unit-scale outputs gives lx + lw ≈ 19–20 bits, split between activations and weights. An
 * input beyond the calibrated range may wrap: the boundary pass flags any centered output past
 * (p − 1)/4 as an OverflowError (unless max|x̃|·Σ|w̃| + |b̃| ≤ (p − 1)/2 proves no wrap), so an
 * overflow is never silent. The double-precision kernels are exact while Σ_k|w̃_kj|·(p − 1) + |b̃_j|
 * < 2^53, i.e. Σ|w̃| ≤ 2^29: for K = 3072 that is an average |w̃| ≤ 2^17.4, far above the 2^12–2^14
 * weights these scales give; linearIsExact checks it per layer.
 */
import { OverflowError } from '../errors.js';
import { HALF_P, linearIsExact, MAX_WEIGHT_L1 } from '../field/prime.js';
import type { Graph, Node } from '../graph/ir.js';
import { isTokenRowLayer } from '../graph/onnx-values.js';
import type { ConvNodeAttrs } from '../graph/ops/linear.js';
import { isLinear } from '../graph/ops/registry.js';
import type { LinearWeights } from '../kernels/names.js';
import { sizeOf, tensor, type Tensor } from '../tensor/tensor.js';
import type { CalibrationStats, LayerStats } from './calibrate.js';

/** Default headroom between the calibrated maximum and p/2: 2 bits. */
export const DEFAULT_MARGIN = 4;
/** Fewer total scale bits than this would make the layer meaningless: refuse it. */
const MIN_TOTAL_BITS = 4;

/** A linear layer quantized for the field (its LinearSpec with the model's shapes, batch included). */
export interface QuantizedLayer extends LinearWeights {
  /** Position among the linear layers (0-based). */
  readonly index: number;
  readonly name: string;
  readonly node: Node;
  readonly conv?: ConvNodeAttrs;
  readonly inDims: readonly number[];
  readonly outDims: readonly number[];
  /** Input scale bits: x̃ = round(x·2^lx). */
  readonly lx: number;
  /** Weight scale bits: w̃ = round(w·2^lw). */
  readonly lw: number;
  /** Integer weights (Conv [M, C/g, kH, kW]; Gemm [K, N]). */
  readonly w: Tensor;
  /**
   * Extra weight scale bits per output feature (per-channel scales; absent: one scale per tensor):
   * feature j's weights and bias are at 2^(lw+e_j), its outputs at 2^(lx+lw+e_j).
   */
  readonly channelBits?: Uint8Array;
  /** Integer bias at scale 2^(lx+lw) (times 2^e_j per channel), one per output channel/feature. */
  readonly bias?: Float64Array;
  /** max over output units of Σ|w̃|. */
  readonly weightRowL1: number;
  readonly maxAbsBias: number;
  readonly macs: number;
  readonly stats: LayerStats;
}

export interface QuantizedGraph {
  readonly graph: Graph;
  readonly layers: readonly QuantizedLayer[];
  readonly byNode: ReadonlyMap<string, QuantizedLayer>;
  readonly margin: number;
}

export function quantizeGraph(graph: Graph, stats: CalibrationStats, margin = DEFAULT_MARGIN): QuantizedGraph {
  const layers: QuantizedLayer[] = [];
  for (const node of graph.nodes) {
    if (!isLinear(node.op)) continue;
    const s = stats.get(node.name);
    if (s === undefined) throw new OverflowError('no calibration statistics for this layer', { layer: node.name });
    layers.push(quantizeLayer(graph, node, s, margin, layers.length));
  }
  return { graph, layers, byNode: new Map(layers.map((l) => [l.name, l])), margin };
}

function quantizeLayer(graph: Graph, node: Node, stats: LayerStats, margin: number, index: number): QuantizedLayer {
  const op = node.op as 'Conv' | 'Gemm';
  const w = graph.constants.get(node.inputs[1]!)!;
  const b = node.inputs[2] !== undefined ? graph.constants.get(node.inputs[2])! : undefined;
  const inDims = graph.dims.get(node.inputs[0]!)!;
  const outDims = graph.dims.get(node.outputs[0]!)!;
  const maxAbsW = maxAbs(w.data);
  const floatRowL1 = rowL1(w, op);

  const maxOut = Math.max(stats.maxAbsOut, 2 ** -20);
  const totalBits = Math.floor(Math.log2(HALF_P / (margin * maxOut)));
  if (totalBits < MIN_TOTAL_BITS) {
    throw new OverflowError(
      `calibrated output magnitude ${maxOut.toPrecision(4)} leaves only ${totalBits} bits of scale below p/2 with margin ${margin}; the layer cannot be quantized precisely`,
      { layer: node.name },
    );
  }
  const logIn = Math.log2(Math.max(stats.maxAbsIn, 2 ** -20));
  const logW = Math.log2(Math.max(maxAbsW, 2 ** -20));
  let lx = Math.round((totalBits + logW - logIn) / 2);
  let lw = totalBits - lx;
  // Keep Σ|w̃| within the double-exactness bound (leaving room for the bias).
  const lwCap = Math.floor(Math.log2(MAX_WEIGHT_L1 / 2 / Math.max(floatRowL1, 2 ** -20)));
  if (lw > lwCap) {
    lx += lw - lwCap;
    lw = lwCap;
  }

  const channelBits = op === 'Gemm' && isTokenRowLayer(graph, node) ? perChannelBits(w, stats, maxOut, lw) : undefined;
  const bitsOf = (j: number): number => lw + (channelBits?.[j] ?? 0);
  const n = w.dims[1]!;
  const wq = tensor(
    w.dims,
    op === 'Gemm' && channelBits !== undefined ? w.data.map((v, i) => Math.round(v * 2 ** bitsOf(i % n))) : w.data.map((v) => Math.round(v * 2 ** lw)),
  );
  const bias = b === undefined ? undefined : b.data.map((v, j) => Math.round(v * 2 ** (lx + (channelBits === undefined ? lw : bitsOf(j)))));
  const weightRowL1 = rowL1(wq, op);
  const maxAbsBias = bias === undefined ? 0 : maxAbs(bias);
  if (!linearIsExact(weightRowL1, maxAbsBias)) {
    throw new OverflowError(`Σ|w̃| = ${weightRowL1} with |b̃| ≤ ${maxAbsBias} exceeds the 2^53 exactness bound`, { layer: node.name });
  }
  const conv = op === 'Conv' ? (node.attrs as ConvNodeAttrs) : undefined;
  const macs = op === 'Conv' ? sizeOf(outDims) * (w.dims[1]! * w.dims[2]! * w.dims[3]!) : outDims[0]! * w.dims[0]! * w.dims[1]!;
  return { index, name: node.name, op, node, conv, wDims: wq.dims, inDims, outDims, lx, lw, ...(channelBits !== undefined ? { channelBits } : {}), w: wq, bias, weightRowL1, maxAbsBias, macs, stats };
}

/** Most extra bits one feature gets (beyond this the gain is below the activations' rounding). */
const MAX_CHANNEL_BITS = 8;

/**
 * e_j for each output feature of a Gemm [K, N]: the bits its calibrated maximum leaves below the
 * largest feature's, less one for headroom, capped by MAX_CHANNEL_BITS and by the exactness bound of
 * the feature's weights. Undefined when no feature gains a bit (one scale for the tensor).
 */
function perChannelBits(w: Tensor, stats: LayerStats, maxOut: number, lw: number): Uint8Array | undefined {
  const perChannel = stats.maxAbsOutPerChannel;
  const [k, n] = [w.dims[0]!, w.dims[1]!];
  if (perChannel === undefined || perChannel.length !== n) return undefined;
  const l1 = new Float64Array(n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) l1[j] += Math.abs(w.data[i * n + j]!);
  const bits = new Uint8Array(n);
  let any = false;
  for (let j = 0; j < n; j++) {
    const room = Math.floor(Math.log2(maxOut / Math.max(perChannel[j]!, maxOut * 2 ** -MAX_CHANNEL_BITS))) - 1;
    const exact = Math.floor(Math.log2(MAX_WEIGHT_L1 / 2 / Math.max(l1[j]!, 2 ** -20))) - lw;
    bits[j] = Math.max(0, Math.min(room, exact, MAX_CHANNEL_BITS));
    any ||= bits[j]! > 0;
  }
  return any ? bits : undefined;
}

function maxAbs(values: Float64Array): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/** max over output units of Σ|w|: Conv rows are output channels, Gemm columns are output features. */
export function rowL1(w: Tensor, op: 'Conv' | 'Gemm'): number {
  let best = 0;
  if (op === 'Conv') {
    const per = w.data.length / w.dims[0]!;
    for (let m = 0; m < w.dims[0]!; m++) {
      let s = 0;
      for (let i = m * per; i < (m + 1) * per; i++) s += Math.abs(w.data[i]!);
      best = Math.max(best, s);
    }
  } else {
    const [k, n] = [w.dims[0]!, w.dims[1]!];
    const sums = new Float64Array(n);
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) sums[j] += Math.abs(w.data[i * n + j]!);
    for (const s of sums) best = Math.max(best, s);
  }
  return best;
}
