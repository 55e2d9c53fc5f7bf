/**
 * ONNX → Graph (docs/design.md §2). Resolves every node's attributes, gives every value a concrete shape
 * (symbolic sizes come from `inputDims`), folds constant sub-graphs (the Shape → Gather → Concat →
 * Reshape chains exporters emit, Size, Constant nodes, Cast), turns Identity/Dropout into aliases,
 * adds the nodes an op resolves into besides its own (ConvTranspose's zero insertion,
 * LayerNormalization's statistics outputs), drops dead nodes, folds BatchNormalization into the
 * preceding Conv or Gemm and a linear layer's bias Add over token rows into its Gemm. Any problem is an error naming the node, its op and the reason.
 */
import { InvalidArgumentError, isSlalomError, MalformedModelError, UnsupportedModelError } from '../../errors.js';
import { formatDims, sizeOf, tensor, type Tensor } from '../../tensor/tensor.js';
import type { AttrValue, Graph, Node, RawModel, RawNode } from '../ir.js';
import type { ResolveContext } from '../ops/op.js';
import { OPS } from '../ops/registry.js';
import { foldBatchNorm } from '../passes/fold-batchnorm.js';
import { foldTokenBias } from '../passes/fold-bias.js';
import { parseOnnx } from './parse.js';

export interface ImportOptions {
  /**
   * Concrete input shapes, needed for symbolic sizes other than the batch: the first input's, or a
   * record by input name.
   */
  readonly inputDims?: readonly number[] | Readonly<Record<string, readonly number[]>>;
}

const ALIAS_OPS = new Set(['Identity', 'Dropout']);

export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): Graph {
  return buildGraph(parseOnnx(bytes), options);
}

export function buildGraph(raw: RawModel, options: ImportOptions = {}): Graph {
  const constants = new Map<string, Tensor>(raw.initializers);
  const dims = new Map<string, readonly number[]>();
  const alias = new Map<string, string>();
  const nodes: Node[] = [];
  const resolveName = (name: string): string => alias.get(name) ?? name;

  const given = options.inputDims;
  const inputs = raw.inputs.map((input, i) => {
    const mine = given === undefined || Array.isArray(given) ? (i === 0 ? (given as readonly number[] | undefined) : undefined) : (given as Readonly<Record<string, readonly number[]>>)[input.name];
    const concrete = concreteInputDims(input.name, input.dims, mine);
    dims.set(input.name, concrete);
    return { name: input.name, dims: concrete };
  });

  refuseUnsupportedNodes(raw);
  // ONNX graphs are in SSA form with unique node names: a repeated name or output is malformed.
  const nodeNames = new Set<string>();
  const producer = new Map<string, string>();
  for (const rawNode of raw.nodes) {
    const node: RawNode = { ...rawNode, inputs: rawNode.inputs.map((n) => (n === '' ? '' : resolveName(n))) };
    const where = `node '${node.name}' (${node.op})`;
    if (nodeNames.has(node.name)) throw new MalformedModelError(`${where}: two nodes are named '${node.name}' (node names must be unique)`, { layer: node.name });
    nodeNames.add(node.name);
    for (const out of node.outputs) {
      if (out === '') continue;
      const by = producer.get(out) ?? (raw.initializers.has(out) ? 'an initializer' : raw.inputs.some((i) => i.name === out) ? 'a graph input' : undefined);
      if (by !== undefined) throw new MalformedModelError(`${where}: output '${out}' is already defined by ${by} (each value must be produced once)`, { layer: node.name });
      producer.set(out, `node '${node.name}'`);
    }
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      throw new UnsupportedModelError(`${where}: operator domain '${node.domain}' is not supported`, { layer: node.name });
    }
    for (const name of node.inputs) {
      if (name !== '' && !constants.has(name) && !dims.has(name)) {
        throw new MalformedModelError(`${where}: input '${name}' is not produced by any earlier node`, { layer: node.name });
      }
    }
    if (ALIAS_OPS.has(node.op)) {
      if (node.op === 'Dropout') checkInferenceDropout(node, constants, where);
      alias.set(node.outputs[0]!, node.inputs[0]!);
      continue;
    }
    if (node.op === 'Constant') {
      constants.set(node.outputs[0]!, constantNodeValue(node, where));
      continue;
    }
    if (node.op === 'Shape') {
      const x = node.inputs[0]!;
      constants.set(node.outputs[0]!, shapeOf(dims.get(x) ?? constants.get(x)!.dims, node));
      continue;
    }
    if (node.op === 'Size') {
      const x = node.inputs[0]!;
      constants.set(node.outputs[0]!, tensor([], [sizeOf(dims.get(x) ?? constants.get(x)!.dims)]));
      continue;
    }
    const def = OPS[node.op];
    if (def === undefined) throw new UnsupportedModelError(`${where}: op '${node.op}' is not supported`, { layer: node.name });
    const ctx = resolveContext(node, raw.opset, constants, dims, where);
    const resolved = def.resolve(ctx);
    const own = { name: resolved.name ?? node.name, op: resolved.op ?? node.op, attrs: resolved.attrs, inputs: resolved.inputs, output: node.outputs[0]! };
    const allConstant = node.inputs.every((n) => n === '' || constants.has(n));
    if (!allConstant) for (const [name, t] of Object.entries(resolved.constants ?? {})) constants.set(name, t);
    for (const n of [...(resolved.before ?? []), own]) {
      const nodeDef = OPS[n.op] ?? def;
      if (allConstant) {
        const values = n.inputs.map((i) => constants.get(i) ?? resolved.constants?.[i]);
        const [out] = guarded(where, node.name, () => nodeDef.evalFloat(values as Tensor[], n.attrs));
        constants.set(n.output, out!);
        continue;
      }
      const inputDims = n.inputs.map((i) => dims.get(i) ?? constants.get(i)!.dims);
      const [outDims] = guarded(where, node.name, () => nodeDef.inferDims(inputDims, n.attrs));
      if (outDims!.includes(0)) {
        throw new UnsupportedModelError(`${where}: output shape ${formatDims(outDims!)} is empty (zero-size tensors are not supported)`, { layer: node.name });
      }
      if (outDims!.some((d) => !Number.isInteger(d) || d <= 0)) {
        throw new MalformedModelError(`${where}: output shape ${formatDims(outDims!)} is impossible`, { layer: node.name });
      }
      dims.set(n.output, outDims!);
      nodes.push({ name: n.name, op: n.op, inputs: n.inputs, outputs: [n.output], attrs: n.attrs });
    }
  }

  const outputs = raw.outputs.map((name) => {
    const resolved = resolveName(name);
    if (!dims.has(resolved)) throw new UnsupportedModelError(`model output '${name}' is a constant or is never produced`);
    return resolved;
  });
  const graph: Graph = { name: raw.name, inputs, outputs, nodes: liveNodes(nodes, outputs), constants, dims };
  return foldTokenBias(foldBatchNorm(graph));
}

/** Ops the importer handles itself, besides the registry's. */
const IMPORTER_OPS = new Set([...ALIAS_OPS, 'Constant', 'Shape', 'Size']);

/**
 * Every node whose op (or operator domain) slalom does not support, in one error: a user porting a
 * model learns the whole list at once rather than one op per attempt.
 */
function refuseUnsupportedNodes(raw: RawModel): void {
  const bad = raw.nodes.filter((n) => (n.domain !== '' && n.domain !== 'ai.onnx') || (!IMPORTER_OPS.has(n.op) && OPS[n.op] === undefined));
  if (bad.length === 0) return;
  const what = (n: RawNode): string => (n.domain !== '' && n.domain !== 'ai.onnx' ? `operator domain '${n.domain}'` : `op '${n.op}'`);
  if (bad.length === 1) throw new UnsupportedModelError(`node '${bad[0]!.name}' (${bad[0]!.op}): ${what(bad[0]!)} is not supported`, { layer: bad[0]!.name });
  const ops = [...new Set(bad.map((n) => n.op))];
  const list = bad.map((n) => `'${n.name}' (${n.op})`).join(', ');
  throw new UnsupportedModelError(`${bad.length} nodes use ops slalom does not support (${ops.join(', ')}): ${list}`, { layer: bad[0]!.name });
}

function concreteInputDims(name: string, declared: readonly (number | string)[], given?: readonly number[]): number[] {
  if (given !== undefined) {
    if (given.length !== declared.length) {
      throw new InvalidArgumentError(`input shape ${formatDims(given)} has rank ${given.length}, model input '${name}' has rank ${declared.length} ${formatDims(declared as number[])}`);
    }
    declared.forEach((d, i) => {
      if (typeof d === 'number' && d > 0 && d !== given[i]) {
        throw new InvalidArgumentError(`input shape ${formatDims(given)} does not match model input '${name}' ${formatDims(declared as number[])}`);
      }
    });
    return [...given];
  }
  return declared.map((d, i) => {
    if (typeof d === 'number' && d > 0) return d;
    if (i === 0) return 1;
    throw new InvalidArgumentError(`model input '${name}' has symbolic dimension '${d}' at axis ${i}: give a concrete shape (--input-shape)`);
  });
}

function resolveContext(
  node: RawNode,
  opset: number,
  constants: ReadonlyMap<string, Tensor>,
  dims: ReadonlyMap<string, readonly number[]>,
  where: string,
): ResolveContext {
  const fail = (reason: string, unsupported = false): never => {
    const Err = unsupported ? UnsupportedModelError : MalformedModelError;
    throw new Err(`${where}: ${reason}`, { layer: node.name });
  };
  const has = (i: number): boolean => node.inputs[i] !== undefined && node.inputs[i] !== '';
  return {
    node,
    opset,
    has,
    fail,
    constant: (i) => (has(i) ? constants.get(node.inputs[i]!) : undefined),
    dims: (i) => {
      if (!has(i)) fail(`input ${i} is missing`);
      const name = node.inputs[i]!;
      return dims.get(name) ?? constants.get(name)!.dims;
    },
    attr: <T extends AttrValue>(name: string, fallback: T): T => {
      const v = node.attrs[name];
      if (v === undefined) return fallback;
      if (typeof v !== typeof fallback || Array.isArray(v) !== Array.isArray(fallback)) {
        fail(`attribute '${name}' has the wrong type`);
      }
      return v as T;
    },
  };
}

function guarded<T>(where: string, layer: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isSlalomError(e) && e.layer !== undefined) throw e;
    throw new MalformedModelError(`${where}: ${(e as Error).message}`, { layer, cause: e });
  }
}

/**
 * Dropout is the identity at inference. With training_mode (opset 12+ input 2) set it drops values
 * at random, which slalom cannot reproduce: refuse it unless the ratio is 0.
 */
function checkInferenceDropout(node: RawNode, constants: ReadonlyMap<string, Tensor>, where: string): void {
  const trainingName = node.inputs[2];
  if (trainingName === undefined || trainingName === '') return;
  const training = constants.get(trainingName);
  const ratioName = node.inputs[1];
  const ratio = ratioName === undefined || ratioName === '' ? 0.5 : constants.get(ratioName)?.data[0];
  if (ratio === 0 || (training !== undefined && training.data[0] === 0)) return;
  throw new UnsupportedModelError(`${where}: training-mode Dropout (random; training_mode not a constant false and ratio not 0) is not supported`, { layer: node.name });
}

function constantNodeValue(node: RawNode, where: string): Tensor {
  const a = node.attrs;
  const v = a['value'];
  if (v !== undefined && typeof v === 'object' && !Array.isArray(v)) return v;
  const scalar = a['value_float'] ?? a['value_int'];
  if (typeof scalar === 'number') return tensor([], [scalar]);
  const list = a['value_floats'] ?? a['value_ints'];
  if (Array.isArray(list)) return tensor([list.length], list as number[]);
  throw new UnsupportedModelError(`${where}: only tensor, float(s) and int(s) constants are supported`, { layer: node.name });
}

function shapeOf(inDims: readonly number[], node: RawNode): Tensor {
  const rank = inDims.length;
  const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
  const start = clampAxis(typeof node.attrs['start'] === 'number' ? node.attrs['start'] : 0);
  const end = clampAxis(typeof node.attrs['end'] === 'number' ? node.attrs['end'] : rank);
  const values = inDims.slice(start, Math.max(start, end));
  return tensor([values.length], values);
}

/** Keeps the nodes the outputs depend on. */
function liveNodes(nodes: readonly Node[], outputs: readonly string[]): Node[] {
  const needed = new Set(outputs);
  const live: Node[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    live.push(n);
    for (const input of n.inputs) needed.add(input);
  }
  return live.reverse();
}

