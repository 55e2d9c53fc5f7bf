/**
 * ONNX backend node tests (Debian's libonnx-testdata, `data/node/test_*`) run through slalom's
 * importer, its float path and its quantized path.
 *
 * Which tests: every test whose name belongs to a supported op (a prefix derived from the op
 * registry plus the ops the importer handles itself: Identity, Dropout, Constant, Shape), and
 * every other test whose model uses supported ops only. A listed test that uses an unsupported op
 * is skipped with that op as the reason.
 *
 * How each test runs (test_data_set_0 only):
 * 1. Inputs that the importer requires to be constant (Conv/ConvTranspose/Gemm weights and biases,
 *    MatMul's right-hand side, BatchNormalization and LayerNormalization parameters, Clip bounds,
 *    Reshape shapes, Squeeze/Unsqueeze/ReduceMean axes, Pad pads/value/axes, Slice
 *    starts/ends/axes/steps, Gather indices, Resize roi/scales/sizes, Dropout ratio and training
 *    mode: the positions in CONSTANT_OPERANDS) are moved from graph inputs to
 *    initializers holding the test's data for them. slalom is a model runtime: those operands are
 *    model parameters, never per-inference data, and this rewrite is how the ONNX tests that feed
 *    them as inputs can exercise the op at all. The rewritten model is what both paths import.
 * 2. Skips, each with its reason: an unsupported op; an input or output that is not a tensor; an
 *    output whose dtype is not FLOAT or DOUBLE (integer, bool and string outputs, and FLOAT16 /
 *    BFLOAT16 outputs, whose rounding the float64 engine does not model); an activation input
 *    whose dtype is not FLOAT, DOUBLE or FLOAT16; a model without any non-constant input; and an
 *    UnsupportedModelError from the importer (its message is the reason).
 * 3. Float path: importOnnx → execute (float64) against output_N.pb with
 *    |actual − expected| ≤ FLOAT_ATOL + FLOAT_RTOL·|expected| elementwise (NaN only matches NaN,
 *    ±∞ only itself). Any other error, a shape mismatch or a value outside the tolerance fails.
 * 4. Quantized path, for float-passed tests whose imported graph has a linear layer (Conv, Gemm,
 *    MatMul, ConvTranspose: all Conv or Gemm after import) and exactly one input: SlalomModel.load(rewritten bytes, calibration = [the test
 *    input]) → infer (baseline mode: trusted exact kernels over Z_p) against the same expected
 *    outputs with |Δ| ≤ QUANT_REL·max|expected| + QUANT_ATOL.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DataType, TensorProtoSchema, type ModelProto, type TensorProto, type ValueInfoProto } from 'onnx-buf';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnsupportedModelError } from '../../src/errors.js';
import { execute } from '../../src/graph/execute.js';
import { importOnnx } from '../../src/graph/onnx/import.js';
import { decodeTensor } from '../../src/graph/onnx/parse.js';
import { isLinear, OPS } from '../../src/graph/ops/registry.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { formatDims, sameDims, type Tensor } from '../../src/tensor/tensor.js';

/** Where Debian's libonnx-testdata puts the backend node tests (SLALOM_ONNX_NODE_TESTS overrides it). */
export const NODE_TEST_ROOT = process.env['SLALOM_ONNX_NODE_TESTS'] ?? '/usr/share/libonnx-testdata/data/node';

/** Float path tolerance: |Δ| ≤ FLOAT_ATOL + FLOAT_RTOL·|expected| (expected values are float32). */
export const FLOAT_ATOL = 1e-4;
export const FLOAT_RTOL = 1e-4;
/** Quantized path tolerance: |Δ| ≤ QUANT_REL·max|expected| + QUANT_ATOL (2^-6 of the output range). */
export const QUANT_REL = 2 ** -6;
export const QUANT_ATOL = 1e-6;

/** Ops the importer handles itself, beyond the registry (aliases, constants, folded shapes). */
export const IMPORTER_OPS: readonly string[] = ['Identity', 'Dropout', 'Constant', 'Shape', 'Size'];

export function supportedOps(): Set<string> {
  return new Set([...Object.keys(OPS), ...IMPORTER_OPS]);
}

/** Test-name prefixes (after `test_`) per op where the ONNX suite does not just lowercase the op name. */
const EXTRA_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  BatchNormalization: ['batchnorm'],
  Conv: ['basic_conv'],
  Pad: ['constant_pad', 'edge_pad', 'reflect_pad'],
  Dropout: ['training_dropout'],
  LayerNormalization: ['layer_normalization'],
  ReduceMean: ['reduce_mean'],
};

/**
 * Inputs the importer only accepts as constants, by op and operand position: a graph input that
 * feeds one of these is turned into an initializer before import (see the file comment).
 */
export const CONSTANT_OPERANDS: Readonly<Record<string, readonly number[]>> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [1, 2],
  MatMul: [1],
  BatchNormalization: [1, 2, 3, 4],
  LayerNormalization: [1, 2],
  ReduceMean: [1],
  Resize: [1, 2, 3],
  Clip: [1, 2],
  Reshape: [1],
  Squeeze: [1],
  Unsqueeze: [1],
  Pad: [1, 2, 3],
  Slice: [1, 2, 3, 4],
  Gather: [1],
  Dropout: [1, 2],
};

const FLOAT_OUTPUTS = new Set<number>([DataType.FLOAT, DataType.DOUBLE]);
const FLOAT_INPUTS = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface PathResult {
  readonly outcome: Outcome;
  /** Why it was skipped or how it failed. */
  readonly reason?: string;
  /** Largest |actual − expected| over every output, when compared. */
  readonly maxError?: number;
}

export interface CaseResult {
  readonly name: string;
  /** The supported op the test's name belongs to (undefined: picked because all its ops are supported). */
  readonly op?: string;
  readonly float: PathResult;
  /** Undefined when the quantized path does not apply (float not passed, no linear layer, several inputs). */
  readonly quantized?: PathResult;
  /** Graph inputs turned into initializers. */
  readonly constantInputs: readonly string[];
  readonly ms: number;
}

export interface NodeTestCase {
  readonly name: string;
  readonly dir: string;
  readonly op?: string;
  readonly ops: readonly string[];
}

/** The longest registry-derived prefix the test name starts with, as `test_<prefix>` or `test_<prefix>_…`. */
export function opForTestName(name: string, ops: Iterable<string> = supportedOps()): string | undefined {
  let best: { op: string; len: number } | undefined;
  for (const op of ops) {
    for (const prefix of [op.toLowerCase(), ...(EXTRA_PREFIXES[op] ?? [])]) {
      const full = `test_${prefix}`;
      if ((name === full || name.startsWith(`${full}_`)) && (best === undefined || full.length > best.len)) best = { op, len: full.length };
    }
  }
  return best?.op;
}

/** The node tests to list, sorted by name: those named after a supported op, and those using supported ops only. */
export function listNodeTests(root = NODE_TEST_ROOT): NodeTestCase[] {
  if (!existsSync(root)) return [];
  const supported = supportedOps();
  const cases: NodeTestCase[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    const modelPath = join(dir, 'model.onnx');
    if (!existsSync(modelPath)) continue;
    let ops: string[];
    try {
      ops = [...new Set(fromBinary(ModelProtoSchema, readFileSync(modelPath)).graph?.node.map((n) => n.opType) ?? [])];
    } catch {
      ops = [];
    }
    const op = opForTestName(name, supported);
    if (op !== undefined || (ops.length > 0 && ops.every((o) => supported.has(o)))) cases.push({ name, dir, op, ops });
  }
  return cases;
}

function dtypeName(t: number): string {
  return DataType[t] ?? String(t);
}

function tensorElemType(vi: ValueInfoProto): number | string {
  const type = vi.type?.value;
  if (type?.case !== 'tensorType') return type?.case === undefined ? 'untyped value' : `${type.case.replace(/Type$/, '')}`;
  return type.value.elemType;
}

function readTensorProto(path: string): TensorProto {
  return fromBinary(TensorProtoSchema, readFileSync(path));
}

class Skip extends Error {}

/** Compares one output; returns the largest error, or throws a message describing the first mismatch. */
function compare(actual: Tensor, expected: Tensor, bound: (e: number) => number, what: string): number {
  if (!sameDims(actual.dims, expected.dims)) throw new Error(`${what}: shape ${formatDims(actual.dims)}, expected ${formatDims(expected.dims)}`);
  let maxError = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
      throw new Error(`${what}[${i}] = ${a}, expected ${e}`);
    }
    const d = Math.abs(a - e);
    if (!(d <= bound(e))) throw new Error(`${what}[${i}] = ${a}, expected ${e} (|Δ| = ${d.toExponential(3)} > ${bound(e).toExponential(3)})`);
    if (d > maxError) maxError = d;
  }
  return maxError;
}

interface Prepared {
  readonly bytes: Uint8Array;
  readonly inputs: Tensor[];
  readonly expected: Tensor[];
  readonly constantInputs: string[];
}

/** Reads the model and test_data_set_0, applies the skips of step 2 and the initializer rewrite of step 1. */
function prepare(c: NodeTestCase): Prepared {
  const supported = supportedOps();
  const model: ModelProto = fromBinary(ModelProtoSchema, readFileSync(join(c.dir, 'model.onnx')));
  const graph = model.graph;
  if (graph === undefined) throw new Skip('the model has no graph');
  const unsupported = [...new Set(graph.node.filter((n) => !supported.has(n.opType) || (n.domain !== '' && n.domain !== 'ai.onnx')).map((n) => n.opType))];
  if (unsupported.length > 0) throw new Skip(`uses unsupported op${unsupported.length > 1 ? 's' : ''} ${unsupported.join(', ')}`);

  const initialized = new Set(graph.initializer.map((t) => t.name));
  const declared = graph.input.filter((vi) => !initialized.has(vi.name));
  for (const vi of [...declared, ...graph.output]) {
    const t = tensorElemType(vi);
    if (typeof t === 'string') throw new Skip(`${graph.output.includes(vi) ? 'output' : 'input'} '${vi.name}' has type ${t}, not tensor`);
  }
  for (const vi of graph.output) {
    const t = tensorElemType(vi) as number;
    if (!FLOAT_OUTPUTS.has(t)) throw new Skip(`output dtype ${dtypeName(t)}`);
  }
  if (declared.length === 0) throw new Skip('the model has no input (a constant graph)');

  const dataDir = join(c.dir, 'test_data_set_0');
  const inputProtos = declared.map((_, i) => readTensorProto(join(dataDir, `input_${i}.pb`)));
  const expected = graph.output.map((vi, i) => decodeTensor(readTensorProto(join(dataDir, `output_${i}.pb`)), `${c.name} output '${vi.name}'`));

  // Step 1: graph inputs in constant-only operand positions become initializers.
  const constantNames = new Set<string>();
  for (const node of graph.node) {
    for (const pos of CONSTANT_OPERANDS[node.opType] ?? []) {
      const name = node.input[pos];
      if (name !== undefined && name !== '' && declared.some((vi) => vi.name === name)) constantNames.add(name);
    }
  }
  const activations: Tensor[] = [];
  declared.forEach((vi, i) => {
    const proto = inputProtos[i]!;
    if (constantNames.has(vi.name)) {
      proto.name = vi.name;
      graph.initializer.push(proto);
      return;
    }
    const t = tensorElemType(vi) as number;
    if (!FLOAT_INPUTS.has(t)) throw new Skip(`input '${vi.name}' has dtype ${dtypeName(t)} (only float activations are supported)`);
    activations.push(decodeTensor(proto, `${c.name} input '${vi.name}'`));
  });
  if (activations.length === 0) throw new Skip('every input is a constant operand (the output would be a constant)');
  graph.input = graph.input.filter((vi) => !constantNames.has(vi.name));
  return { bytes: toBinary(ModelProtoSchema, model), inputs: activations, expected, constantInputs: [...constantNames] };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Runs one node test on the float path and, where it applies, the quantized path. */
export async function runNodeTest(c: NodeTestCase, options: { quantized?: boolean } = {}): Promise<CaseResult> {
  const start = performance.now();
  const done = (float: PathResult, constantInputs: readonly string[] = [], quantized?: PathResult): CaseResult => ({
    name: c.name,
    op: c.op,
    float,
    quantized,
    constantInputs,
    ms: performance.now() - start,
  });

  let prepared: Prepared;
  try {
    prepared = prepare(c);
  } catch (e) {
    if (e instanceof Skip) return done({ outcome: 'skipped', reason: e.message });
    return done({ outcome: 'failed', reason: `reading the test: ${errorMessage(e)}` });
  }
  const { bytes, inputs, expected, constantInputs } = prepared;

  let graph;
  try {
    graph = importOnnx(bytes, { inputDims: inputs[0]!.dims });
  } catch (e) {
    if (e instanceof UnsupportedModelError) return done({ outcome: 'skipped', reason: e.message }, constantInputs);
    return done({ outcome: 'failed', reason: `import: ${errorMessage(e)}` }, constantInputs);
  }

  const floatBound = (e: number): number => FLOAT_ATOL + FLOAT_RTOL * Math.abs(e);
  let float: PathResult;
  try {
    const outputs = await execute(graph, inputs);
    if (outputs.length !== expected.length) throw new Error(`${outputs.length} outputs, expected ${expected.length}`);
    const maxError = Math.max(0, ...outputs.map((o, i) => compare(o, expected[i]!, floatBound, `output ${i}`)));
    float = { outcome: 'passed', maxError };
  } catch (e) {
    return done({ outcome: 'failed', reason: `float: ${errorMessage(e)}` }, constantInputs);
  }

  const quantApplies = graph.inputs.length === 1 && graph.nodes.some((n) => isLinear(n.op));
  if (!quantApplies || options.quantized === false) return done(float, constantInputs);

  let quantized: PathResult;
  try {
    const model = await SlalomModel.load(bytes, { inputDims: inputs[0]!.dims, calibration: [inputs[0]!] });
    const run = await model.infer(inputs[0]!);
    if (run.outputs.length !== expected.length) throw new Error(`${run.outputs.length} outputs, expected ${expected.length}`);
    const maxError = Math.max(
      0,
      ...run.outputs.map((o, i) => {
        const range = expected[i]!.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        return compare(o, expected[i]!, () => QUANT_REL * range + QUANT_ATOL, `output ${i}`);
      }),
    );
    quantized = { outcome: 'passed', maxError };
  } catch (e) {
    quantized =
      e instanceof UnsupportedModelError ? { outcome: 'skipped', reason: e.message } : { outcome: 'failed', reason: `quantized: ${errorMessage(e)}` };
  }
  return done(float, constantInputs, quantized);
}

/** Runs every listed node test in order. */
export async function runNodeTests(root = NODE_TEST_ROOT): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of listNodeTests(root)) results.push(await runNodeTest(c));
  return results;
}

export interface Totals {
  readonly listed: number;
  readonly float: Record<Outcome, number>;
  readonly quantized: Record<Outcome, number>;
}

export function totals(results: readonly CaseResult[]): Totals {
  const float = { passed: 0, failed: 0, skipped: 0 };
  const quantized = { passed: 0, failed: 0, skipped: 0 };
  for (const r of results) {
    float[r.float.outcome]++;
    if (r.quantized !== undefined) quantized[r.quantized.outcome]++;
  }
  return { listed: results.length, float, quantized };
}
