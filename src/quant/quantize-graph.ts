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
 */
import { OverflowError } from '../errors.js';
import { HALF_P, linearIsExact, MAX_WEIGHT_L1 } from '../field/prime.js';
import type { Graph, Node } from '../graph/ir.js';
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
  /** Integer bias at scale 2^(lx+lw), one per output channel/feature. */
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

  const wq = tensor(w.dims, w.data.map((v) => Math.round(v * 2 ** lw)));
  const bias = b === undefined ? undefined : b.data.map((v) => Math.round(v * 2 ** (lx + lw)));
  const weightRowL1 = rowL1(wq, op);
  const maxAbsBias = bias === undefined ? 0 : maxAbs(bias);
  if (!linearIsExact(weightRowL1, maxAbsBias)) {
    throw new OverflowError(`Σ|w̃| = ${weightRowL1} with |b̃| ≤ ${maxAbsBias} exceeds the 2^53 exactness bound`, { layer: node.name });
  }
  const conv = op === 'Conv' ? (node.attrs as ConvNodeAttrs) : undefined;
  const macs = op === 'Conv' ? sizeOf(outDims) * (w.dims[1]! * w.dims[2]! * w.dims[3]!) : outDims[0]! * w.dims[0]! * w.dims[1]!;
  return { index, name: node.name, op, node, conv, wDims: wq.dims, inDims, outDims, lx, lw, w: wq, bias, weightRowL1, maxAbsBias, macs, stats };
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
