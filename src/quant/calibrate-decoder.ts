/**
 * Calibration of a recognized decoder (graph/decoder/structure.ts). A decoder is imported at one
 * token (input_ids [1, 1]), so that its linear layers are one row each and a pad covers one token;
 * its activation magnitudes are observed instead by running the float decoder itself — the same step
 * loop generation runs, with the graph's float weights — over whole calibration sequences, each one
 * prefill step, so every layer sees tokens at every position with their full context.
 *
 * `selfCheck` then runs onnxruntime fp32 on the ONNX model with the first sequence and compares its
 * logits with the float step loop's: the recognized structure (whose attention the step loop
 * computes, not the graph) is accepted only if it computes what the ONNX graph computes.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, UnsupportedModelError } from '../errors.js';
import { KvCache } from '../graph/decoder/kv-cache.js';
import { decoderStep } from '../graph/decoder/step.js';
import { POSITION_INPUT, TOKEN_INPUT, type DecoderStructure } from '../graph/decoder/structure.js';
import type { Graph } from '../graph/ir.js';
import { OPS } from '../graph/ops/registry.js';
import { readNpyFile } from '../io/npy.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/seeded-rng.js';
import type { CalibrationStats, LayerStats } from './calibrate.js';

/** Calibration token sequences and where they came from. */
export interface TokenCalibration {
  readonly sequences: readonly (readonly number[])[];
  readonly source: string;
  readonly sha256: string;
}

/** Seeded uniform tokens when no calibration text is given (a warning-worthy stand-in for real text). */
export const SEEDED_TOKENS = 'seeded-uniform-tokens:4x64';

/** Reads a .npy of token ids [N, T] (integers in the vocabulary), or draws seeded uniform tokens. */
export function tokenCalibration(path: string | undefined, vocab: number, maxPositions: number): TokenCalibration {
  if (path === undefined) {
    const rng = new Rng(20261207);
    const length = Math.min(64, maxPositions);
    const sequences = Array.from({ length: 4 }, () => Array.from({ length }, () => Math.floor(rng.uniform() * vocab)));
    return { sequences, source: SEEDED_TOKENS, sha256: digest(sequences) };
  }
  const t = readNpyFile(path);
  if (t.dims.length !== 2 || t.dims[0]! < 1 || t.dims[1]! < 1) throw new InvalidArgumentError(`${path}: calibration tokens must be a .npy of token ids [N, T], got [${t.dims}]`);
  const [n, len] = [t.dims[0]!, t.dims[1]!];
  if (len > maxPositions) throw new InvalidArgumentError(`${path}: calibration sequences of ${len} tokens exceed the model's ${maxPositions} positions`);
  for (const v of t.data) if (!Number.isInteger(v) || v < 0 || v >= vocab) throw new InvalidArgumentError(`${path}: token id ${v} is outside the vocabulary 0 … ${vocab - 1}`);
  const sequences = Array.from({ length: n }, (_, i) => Array.from(t.data.subarray(i * len, (i + 1) * len)));
  return { sequences, source: path, sha256: digest(sequences) };
}

function digest(sequences: readonly (readonly number[])[]): string {
  return createHash('sha256').update(JSON.stringify(sequences)).digest('hex');
}

/**
 * Per linear layer, the largest |input| and |output| (and per output feature) over every token of
 * every sequence, from the float step loop; also each sequence's logits [T, vocab].
 */
export async function calibrateDecoder(graph: Graph, model: DecoderStructure, calibration: TokenCalibration, onProgress?: (done: number, total: number) => void): Promise<{ stats: CalibrationStats; logits: Tensor[] }> {
  const observed = new Map<string, { maxAbsIn: number; maxAbsOut: number; maxAbsOutPerChannel: Float64Array }>();
  const linear = floatLinear(graph, (name, x, y) => {
    const n = y.dims[1]!;
    let s = observed.get(name);
    if (s === undefined) observed.set(name, (s = { maxAbsIn: 0, maxAbsOut: 0, maxAbsOutPerChannel: new Float64Array(n) }));
    for (const v of x.data) s.maxAbsIn = Math.max(s.maxAbsIn, Math.abs(v));
    for (let i = 0; i < y.data.length; i++) {
      const a = Math.abs(y.data[i]!);
      s.maxAbsOut = Math.max(s.maxAbsOut, a);
      if (a > s.maxAbsOutPerChannel[i % n]!) s.maxAbsOutPerChannel[i % n] = a;
    }
  });
  const logits: Tensor[] = [];
  const total = calibration.sequences.length;
  for (const [k, sequence] of calibration.sequences.entries()) {
    const cache = new KvCache(`calibration ${k}`, model.config, sequence.length);
    try {
      logits.push(await decoderStep(model, graph, sequence.map((token) => ({ cache, token })), linear));
    } finally {
      cache.dispose();
    }
    onProgress?.(k + 1, total);
  }
  return { stats: new Map<string, LayerStats>(observed), logits };
}

/** The graph's own float Gemm for a linear node (weights still float: before quantization), observed. */
export function floatLinear(graph: Graph, observe?: (name: string, x: Tensor, y: Tensor) => void): (name: string, x: Tensor) => Promise<Tensor> {
  const nodes = new Map(graph.nodes.map((n) => [n.name, n]));
  return async (name, x) => {
    const node = nodes.get(name)!;
    const y = OPS.Gemm!.evalFloat([x, ...node.inputs.slice(1).map((i) => graph.constants.get(i)!)], node.attrs)[0]!;
    observe?.(name, x, y);
    return y;
  };
}

/** Runs the ONNX model on token ids (and an empty cache where it takes one) in onnxruntime fp32. */
export type DecoderReference = (feeds: ReadonlyMap<string, Tensor>) => Promise<Tensor>;

/** Largest |difference| of logits allowed, relative to the largest |logit| (fp32 against float64). */
const SELF_CHECK_TOLERANCE = 1e-3;

/**
 * Refuses the recognized decoder unless its float step loop gives onnxruntime's logits for `tokens`
 * (the ONNX graph's own attention, masks and scales): a model that only looks like a GPT is never run.
 */
export async function selfCheck(reference: DecoderReference, graph: Graph, model: DecoderStructure, tokens: readonly number[], logits: Tensor, where: string): Promise<void> {
  const n = tokens.length;
  const feeds = new Map<string, Tensor>([
    [TOKEN_INPUT, tensor([1, n], tokens)],
    [POSITION_INPUT, tensor([1, n], tokens.map((_, i) => i))],
  ]);
  const { heads, headDim } = model.config;
  for (const input of graph.inputs) if (input.name.startsWith('past_')) feeds.set(input.name, tensor([1, heads, 0, headDim], []));
  const expected = await reference(feeds);
  if (expected.data.length !== logits.data.length) throw new UnsupportedModelError(`${where}: onnxruntime gives logits [${expected.dims}] for ${n} tokens, expected [1, ${n}, ${model.config.vocab}]`);
  let worst = 0;
  let at = 0;
  let scale = 1;
  for (let i = 0; i < logits.data.length; i++) {
    scale = Math.max(scale, Math.abs(expected.data[i]!));
    const diff = Math.abs(expected.data[i]! - logits.data[i]!);
    if (diff > worst) [worst, at] = [diff, i];
  }
  if (!(worst <= SELF_CHECK_TOLERANCE * scale)) {
    const pos = Math.floor(at / model.config.vocab);
    throw new UnsupportedModelError(
      `${where}: the decoder slalom recognized does not compute what the ONNX graph computes (logits differ by ${worst.toPrecision(3)} at position ${pos} of ${n}): its attention, norms or residuals are not GPT-2's`,
    );
  }
}
