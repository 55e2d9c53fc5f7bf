/**
 * Recognizes a GPT-style decoder in an imported graph (docs/design.md §9, "Generation"): the graph
 * names the weights and the non-linear nodes, and generation/step.ts runs them one step at a time
 * with the KV cache it keeps itself. What is recognized, node for node:
 *
 *   x = wte[input_ids] + wpe[position_ids]                    two Gathers on constant tables
 *   per block: x += proj(attention(split_qkv(qkv(LN1(x)))))   one fused [d, 3d] layer, q·k·v in that order
 *              x += fc2(act(fc1(LN2(x))))                     act: the element-wise nodes between fc1 and fc2
 *   logits = head(LNf(x))
 *
 * Attention itself (heads of d/H, scores scaled by 1/√(d/H), causal, softmax, the weighted sum) is
 * not read from the graph: the step loop computes it over its cache. So a model that differs there
 * (another scale, a post-norm block, rotary positions) would be mis-run; recognition only proves the
 * weights fit, and the loader's self-check (quant/calibrate-decoder.ts, against onnxruntime fp32)
 * proves the whole recognized model computes what the ONNX graph computes before anything is
 * quantized. An `input_ids` model that does not fit gets one error naming every mismatch.
 */
import { UnsupportedModelError } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Graph, Node } from '../ir.js';
import { isLinear } from '../ops/registry.js';

export interface DecoderConfig {
  readonly layers: number;
  readonly d: number;
  readonly heads: number;
  readonly headDim: number;
  readonly hidden: number;
  readonly vocab: number;
  /** Rows of the position table: the longest sequence (prompt and generated tokens). */
  readonly maxPositions: number;
}

export interface DecoderBlock {
  readonly ln1: Node;
  /** Linear layers by node name. */
  readonly qkv: string;
  readonly proj: string;
  readonly ln2: Node;
  readonly fc1: string;
  /** The element-wise nodes from fc1's output (`activationInput`) to fc2's input (`activationOutput`), in graph order, reading those values (not their views). */
  readonly activation: readonly Node[];
  readonly activationInput: string;
  readonly activationOutput: string;
  readonly fc2: string;
}

export interface DecoderStructure {
  readonly config: DecoderConfig;
  readonly tokenEmbedding: Tensor;
  readonly positionEmbedding: Tensor;
  readonly blocks: readonly DecoderBlock[];
  readonly finalNorm: Node;
  readonly head: string;
  /** Whether the ONNX model takes and returns the cache (past_key_i …): the runtime keeps its own either way. */
  readonly exportedCache: boolean;
}

export const TOKEN_INPUT = 'input_ids';
export const POSITION_INPUT = 'position_ids';

/** Ops an activation between fc1 and fc2 may be made of (GELU spelled out or fused, ReLU, …). */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'Gelu']);
/** Ops that only re-view token rows around a linear layer (its ::rows and ::tokens reshapes). */
const VIEW = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/** True when the graph takes `input_ids`: a decoder is expected (and recognize() explains a misfit). */
export function looksLikeDecoder(inputs: readonly { readonly name: string }[]): boolean {
  return inputs.some((i) => i.name === TOKEN_INPUT);
}

/**
 * `weightDims` gives a linear node's weight shape [in, out]: by default its float constant; a
 * quantized graph (whose float weights are gone) gives its integer layer's.
 */
export function recognizeDecoder(graph: Graph, where = 'the model', weightDims: (linear: Node) => readonly number[] = (n) => graph.constants.get(n.inputs[1]!)!.dims): DecoderStructure {
  const problems: string[] = [];
  const fail = (): never => {
    throw new UnsupportedModelError(`${where} takes ${TOKEN_INPUT} but is not a GPT-style decoder slalom can generate with: ${problems.join('; ')}`);
  };
  if (!graph.inputs.some((i) => i.name === POSITION_INPUT)) problems.push(`it has no '${POSITION_INPUT}' input (export the positions as an input)`);
  const table = (input: string): Tensor | undefined => {
    const gather = graph.nodes.find((n) => n.op === 'Gather' && n.inputs[1] === input);
    const t = gather === undefined ? undefined : graph.constants.get(gather.inputs[0]!);
    if (t === undefined || t.dims.length !== 2) problems.push(`no Gather of a constant [rows, d] table by '${input}'`);
    return t;
  };
  const wte = table(TOKEN_INPUT);
  const wpe = table(POSITION_INPUT);
  const linear = graph.nodes.filter((n) => isLinear(n.op));
  const norms = graph.nodes.filter((n) => n.op === 'LayerNormalization');
  const products = graph.nodes.filter((n) => n.op === 'ActivationMatMul');
  const layers = products.length / 2;
  if (!Number.isInteger(layers) || layers < 1) problems.push(`${products.length} products of two activations (two per attention block expected)`);
  if (linear.some((n) => n.op !== 'Gemm')) problems.push('a linear layer that is not a matrix product over token rows');
  if (linear.length !== 4 * layers + 1) problems.push(`${linear.length} linear layers (4 per block and the head expected: ${4 * layers + 1})`);
  if (norms.length !== 2 * layers + 1) problems.push(`${norms.length} LayerNormalization nodes (2 per block and a final one expected: ${2 * layers + 1}; export at opset ≥ 17)`);
  if (problems.length > 0 || wte === undefined || wpe === undefined) return fail();

  const weight = weightDims;
  const d = wte.dims[1]!;
  const vocab = wte.dims[0]!;
  const q = graph.dims.get(products[0]!.inputs[0]!)!;
  const heads = q.length === 4 ? q[1]! : 0;
  const headDim = q.at(-1)!;
  const hidden = weight(linear[2]!)[1]!;
  if (wpe.dims[1] !== d) problems.push(`the position table is [${wpe.dims}], not [·, ${d}]`);
  if (heads * headDim !== d) problems.push(`attention queries are [${q}]: not [batch, heads, tokens, d/heads] for d ${d}`);
  const expect = (n: Node, role: string, k: number, m: number): void => {
    const w = weight(n);
    if (w[0] !== k || w[1] !== m) problems.push(`${role} '${n.name}' has weights [${w}], expected [${k}, ${m}]`);
  };
  const blocks: DecoderBlock[] = [];
  for (let b = 0; b < layers; b++) {
    const [qkv, proj, fc1, fc2] = linear.slice(4 * b, 4 * b + 4) as [Node, Node, Node, Node];
    expect(qkv, `block ${b} qkv`, d, 3 * d);
    expect(proj, `block ${b} attention output`, d, d);
    expect(fc1, `block ${b} fc1`, d, hidden);
    expect(fc2, `block ${b} fc2`, hidden, d);
    const act = activationBetween(graph, fc1, fc2);
    if (typeof act === 'string') problems.push(`block ${b}: ${act}`);
    else blocks.push({ ln1: norms[2 * b]!, qkv: qkv.name, proj: proj.name, ln2: norms[2 * b + 1]!, fc1: fc1.name, fc2: fc2.name, ...act });
  }
  const head = linear.at(-1)!;
  expect(head, 'the head', d, vocab);
  if (problems.length > 0) return fail();
  const exportedCache = graph.inputs.some((i) => i.name.startsWith('past_key_'));
  return {
    config: { layers, d, heads, headDim, hidden, vocab, maxPositions: wpe.dims[0]! },
    tokenEmbedding: wte,
    positionEmbedding: wpe,
    blocks,
    finalNorm: norms.at(-1)!,
    head: head.name,
    exportedCache,
  };
}

/** The element-wise chain from fc1's output to fc2's input (views skipped), or why there is none. */
function activationBetween(graph: Graph, fc1: Node, fc2: Node): { activation: Node[]; activationInput: string; activationOutput: string } | string {
  const start = graph.nodes.indexOf(fc1);
  const end = graph.nodes.indexOf(fc2);
  /** Each value derived from fc1's output, mapped to the value the chain computes it from (views are the same values). */
  const alias = new Map<string, string>([[fc1.outputs[0]!, fc1.outputs[0]!]]);
  const activation: Node[] = [];
  for (const n of graph.nodes.slice(start + 1, end)) {
    const fed = n.inputs.filter((i) => alias.has(i));
    if (fed.length === 0) continue;
    if (VIEW.has(n.op)) {
      alias.set(n.outputs[0]!, alias.get(n.inputs[0]!)!);
      continue;
    }
    if (!ELEMENTWISE.has(n.op)) return `'${n.op}' node '${n.name}' between fc1 and fc2 is not element-wise`;
    const foreign = n.inputs.find((i) => i !== '' && !alias.has(i) && (graph.constants.get(i)?.data.length ?? 2) !== 1);
    if (foreign !== undefined) return `'${n.name}' between fc1 and fc2 reads '${foreign}', neither the activation nor a scalar`;
    // Inputs renamed to the values they view, so the chain runs on token rows [n, hidden] as they are.
    activation.push({ ...n, inputs: n.inputs.map((i) => alias.get(i) ?? i) });
    alias.set(n.outputs[0]!, n.outputs[0]!);
  }
  const into = alias.get(fc2.inputs[0]!);
  if (into === undefined) return `fc2 '${fc2.name}' does not read fc1 '${fc1.name}'s output`;
  return { activation, activationInput: fc1.outputs[0]!, activationOutput: into };
}
