/**
 * One decoding step of a recognized decoder (structure.ts), after llama2.c's `transformer()`: a loop
 * over blocks that reads top to bottom. Each row is one token of one sequence; a step may carry a
 * prompt's tokens (prefill) and the next token of several sequences at once, so every linear layer
 * is ONE call with every row — the only calls that leave the trusted runtime, through `linear`
 * (float weights when calibrating, the mode's protocol when generating). Everything else runs here
 * in float64 on the rows — LayerNorm with the graph's own node, the activation with its nodes' formulas in one loop (elementwise.ts), the residual
 * sums — except attention over each sequence's KV cache (kv-cache.ts), which runs in float32 SIMD
 * (attention.ts) because it reads the whole cache every token.
 *
 * A row at position t attends to positions 0 … t of its own cache, rows of the same sequence in the
 * same step included (their keys and values are written first); positions past t are never read.
 */
import { InvalidArgumentError } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor/tensor.js';
import type { Graph, Node } from '../ir.js';
import { OPS } from '../ops/registry.js';
import { attend } from './attention.js';
import type { KvCache } from './kv-cache.js';
import { compileActivation } from './elementwise.js';
import type { DecoderBlock, DecoderStructure } from './structure.js';

/** One token of one sequence in a step. */
export interface StepRow {
  readonly cache: KvCache;
  readonly token: number;
}

/** y = x·W + b for a linear layer (by node name) on token rows [n, in] → [n, out]. */
export type LinearRows = (layer: string, x: Tensor) => Promise<Tensor>;

/** Sees the trusted runtime's own phases: 'embed', 'norm', 'attention', 'activation'. */
export type StepPhases = (phase: string, ms: number) => void;

/** Runs one step; returns the logits [n, vocab] of every row, and advances each row's cache. */
export async function decoderStep(model: DecoderStructure, graph: Graph, rows: readonly StepRow[], linear: LinearRows, phases?: StepPhases): Promise<Tensor> {
  const { d, vocab } = model.config;
  const n = rows.length;
  if (n === 0) throw new InvalidArgumentError('a decoding step needs at least one token');
  const timed = <T>(phase: string, f: () => T): T => {
    const start = performance.now();
    const out = f();
    phases?.(phase, performance.now() - start);
    return out;
  };
  const positions = timed('embed', () => positionsOf(rows));
  const caches = rows.map((r) => r.cache);
  const x = timed('embed', () => embed(model, rows, positions));
  for (const [b, block] of model.blocks.entries()) {
    const qkv = await linear(block.qkv, timed('norm', () => norm(graph, block.ln1, x, n, d)));
    const heads = timed('attention', () => tensor([n, d], attend(model.config, b, caches, positions, qkv.data)));
    add(x, (await linear(block.proj, heads)).data);
    const up = await linear(block.fc1, timed('norm', () => norm(graph, block.ln2, x, n, d)));
    add(x, (await linear(block.fc2, timed('activation', () => activation(graph, block, up)))).data);
  }
  const logits = await linear(model.head, timed('norm', () => norm(graph, model.finalNorm, x, n, d)));
  if (logits.data.length !== n * vocab) throw new Error(`internal: the head gave ${logits.data.length} values for ${n} rows of ${vocab}`);
  const counts = new Map<KvCache, number>();
  for (const r of rows) counts.set(r.cache, (counts.get(r.cache) ?? 0) + 1);
  for (const [cache, k] of counts) cache.advance(k);
  return logits;
}

/** Each row's position: its cache's length plus the rows of the same sequence before it in this step. */
function positionsOf(rows: readonly StepRow[]): number[] {
  const taken = new Map<KvCache, number>();
  const positions = rows.map((r) => {
    const k = taken.get(r.cache) ?? 0;
    taken.set(r.cache, k + 1);
    return r.cache.length + k;
  });
  for (const [cache, k] of taken) cache.reserve(k);
  return positions;
}

/** wte[token] + wpe[position] per row. */
function embed(model: DecoderStructure, rows: readonly StepRow[], positions: readonly number[]): Float64Array {
  const { d, vocab } = model.config;
  const x = new Float64Array(rows.length * d);
  const wte = model.tokenEmbedding.data;
  const wpe = model.positionEmbedding.data;
  rows.forEach((r, i) => {
    if (!Number.isInteger(r.token) || r.token < 0 || r.token >= vocab) throw new InvalidArgumentError(`token id ${r.token} is outside the vocabulary 0 … ${vocab - 1}`);
    const t = r.token * d;
    const p = positions[i]! * d;
    for (let j = 0; j < d; j++) x[i * d + j] = wte[t + j]! + wpe[p + j]!;
  });
  return x;
}

/** The graph's LayerNormalization node on [n, d] rows (as [1, n, d], the rank it was imported at). */
function norm(graph: Graph, node: Node, x: Float64Array, n: number, d: number): Tensor {
  const rank = graph.dims.get(node.inputs[0]!)!.length;
  const dims = [...Array<number>(Math.max(0, rank - 2)).fill(1), n, d];
  const params = node.inputs.slice(1).map((name) => graph.constants.get(name)!);
  const y = OPS.LayerNormalization!.evalFloat([tensor(dims, x.slice()), ...params], node.attrs)[0]!;
  return tensor([n, d], y.data);
}

/** Each block's activation, compiled once (elementwise.ts). */
const compiled = new WeakMap<DecoderBlock, (x: Float64Array) => Float64Array>();

/** The block's element-wise activation on [n, hidden] rows. */
function activation(graph: Graph, block: DecoderBlock, up: Tensor): Tensor {
  let f = compiled.get(block);
  if (f === undefined) compiled.set(block, (f = compileActivation(graph, block.activation, block.activationInput, block.activationOutput)));
  return tensor(up.dims, f(up.data));
}

function add(x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i]!;
}
