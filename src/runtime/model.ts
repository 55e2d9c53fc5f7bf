/**
 * A loaded slalom model: the quantized graph (from calibration, or read back from a quantized
 * artifact), its hashes and provenance, and the means to run it in a mode. This is the trusted
 * runtime's view of a model; api/ builds sessions on it.
 *
 * `load` tells an ONNX file from an artifact by content. From ONNX it imports, calibrates on
 * onnxruntime fp32 and quantizes (seconds to tens of seconds); `save` writes the result as an
 * artifact (quant/artifact.ts), which later loads without onnxruntime, calibration or float weights.
 * Either way the quantized graph holds no float weights of linear layers: only the integer ones.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hasErrorCode, InvalidArgumentError, MalformedModelError, OverflowError } from '../errors.js';
import { execute } from '../graph/execute.js';
import type { Graph } from '../graph/ir.js';
import { checkFiniteConstants } from '../graph/finite-constants.js';
import { checkMemoryBudget } from '../graph/memory-budget.js';
import { looksLikeDecoder, recognizeDecoder, type DecoderStructure } from '../graph/decoder/structure.js';
import type { RawModel } from '../graph/ir.js';
import { buildGraph } from '../graph/onnx/import.js';
import { parseOnnx } from '../graph/onnx/parse.js';
import { loadInputTensor } from '../io/image.js';
import { CharTokenizer, tokenizerSpec } from '../io/tokenizer.js';
import { isArtifact, isArtifactFile, readArtifact, writeArtifact, type Provenance } from '../quant/artifact.js';
import { calibrate, type CalibrationStats } from '../quant/calibrate.js';
import { calibrateDecoder, selfCheck, tokenCalibration } from '../quant/calibrate-decoder.js';
import { contentHash } from '../quant/content-hash.js';
import { DEFAULT_MARGIN, quantizeGraph, type QuantizedGraph } from '../quant/quantize-graph.js';
import { formatDims, sameDims, type Tensor } from '../tensor/tensor.js';
import { SLALOM_VERSION } from '../version.js';
import { runQuantized, type RunOptions } from './executor.js';
import type { LinearProtocol } from './linear-protocol.js';
import {
  bindInputDims,
  calibrationSet,
  firstCalibrationInput,
  isDims,
  pick,
  readSidecar,
  resolveInfo,
  SEEDED_NORMAL,
  type CalibrationSpec,
  type InfoOverrides,
  type ModelInfo,
  type PerInput,
} from './model-inputs.js';
import { INSECURE_MODES, type Mode } from './modes.js';
import type { LayerTiming } from './observer.js';
import type { PadUsed } from './executor.js';
import type { ExecutionLog } from './execution.js';
import { protocolMode } from './protocol-mode.js';
import { trustedProtocol } from './protocols/trusted.js';

export { isArtifactFile } from '../quant/artifact.js';
export type { CalibrationSample, CalibrationSpec, InfoOverrides, ModelInfo, PerInput } from './model-inputs.js';

export interface LoadProgress {
  /** 'read' (an artifact's bytes), 'import' (parsing ONNX), 'calibrate' (one step per sample), 'quantize'. */
  readonly phase: 'read' | 'import' | 'calibrate' | 'quantize';
  readonly done: number;
  readonly total: number;
}

export interface LoadOptions {
  /** Concrete input shape(s) for models with symbolic sizes (a record by input name for several inputs). */
  readonly inputDims?: PerInput<readonly number[]>;
  /** An input (a path or a tensor) whose shape fixes symbolic sizes; default: the first calibration input. */
  readonly sample?: PerInput<string | Tensor>;
  /**
   * Calibration inputs, or where to read them (a directory, a .npy, `fashion-mnist:train:<n>`; a
   * record by input name for several inputs); default: the images the sidecar names, else seeded
   * standard-normal inputs. Refused for an artifact (it is calibrated already).
   */
  readonly calibration?: CalibrationSpec;
  /** What `calibration` tensors are, for the provenance (default "<n> tensors"). */
  readonly calibrationSource?: string;
  /** Narrows the items a calibration path lists (e.g. a held-out part of the inputs). */
  readonly calibrationItems?: Parameters<typeof calibrationSet>[1]['pickItems'];
  /** Headroom factor between the calibrated maximum and p/2 (default 4). Refused for an artifact. */
  readonly margin?: number;
  /**
   * Megabytes the model's activations (every value of one inference, as float64) may take; a model
   * whose shapes ask for more is refused before anything is allocated (default 4096).
   */
  readonly memoryBudgetMb?: number;
  /** Overrides the sidecar `<model>.slalom.json` (and what an artifact stores). */
  readonly info?: InfoOverrides;
  readonly onProgress?: (p: LoadProgress) => void;
}

export interface InferenceResult {
  readonly mode: Mode;
  readonly insecure: boolean;
  /** The graph outputs, in order (names: `model.outputNames`). */
  readonly outputs: Tensor[];
  /** The first output. */
  readonly logits: Float64Array;
  readonly timings: Record<string, number>;
  /** Milliseconds the trusted runtime worked: every phase but waiting for the accelerator. */
  readonly trustedMs: number;
  /** Milliseconds spent waiting on the accelerator (its compute and the reply's delivery; copying the request out is the trusted `transfer` phase). */
  readonly acceleratorMs: number;
  readonly layers: LayerTiming[];
  /** The one-time pad the inference used (private modes). */
  readonly pad?: PadUsed;
  /** Where each linear layer ran and under which check, and the incidents (runtime/execution.ts). */
  readonly execution: ExecutionLog;
}

/** What the first output holds: probabilities (a final Softmax), log-probabilities (LogSoftmax) or raw scores. */
export type OutputKind = 'probabilities' | 'log-probabilities' | 'logits';

export interface SaveOptions {
  /** Also store the ONNX file, so the artifact alone serves `compare` and `inferFloat`. */
  readonly includeOnnx?: boolean;
}

export class SlalomModel {
  private constructor(
    readonly name: string,
    /** SHA-256 of the ONNX file. */
    readonly modelHash: string,
    /**
     * The model's identity: a digest of the quantized graph as loaded — every integer weight, bias,
     * scale and constant, every node, attribute and wire (quant/content-hash.ts) — computed here,
     * never read from a file. The same for an ONNX model and its artifact. Pads (u = f(r) depends on
     * the weights), accelerator layer names, attestation, receipts and pins bind to it, so a pad
     * precomputed for other weights (another calibration, an edited artifact) is refused.
     */
    readonly weightsHash: string,
    readonly quantized: QuantizedGraph,
    readonly info: ModelInfo,
    readonly provenance: Provenance,
    /** Where it was loaded from: an ONNX file (calibrated now) or a quantized artifact. */
    readonly format: 'onnx' | 'artifact',
    private readonly floatBytes: (() => Uint8Array) | undefined,
  ) {
    this.decoder = looksLikeDecoder(quantized.graph.inputs) ? recognizeDecoder(quantized.graph, name, (n) => quantized.byNode.get(n.name)!.wDims) : undefined;
  }

  /**
   * A GPT-style decoder's structure (graph/decoder/structure.ts): such a model generates
   * (generate/), one pad per token; undefined for every other model.
   */
  readonly decoder: DecoderStructure | undefined;

  /** Loads an ONNX file or a quantized artifact (told apart by content) from a path or bytes. */
  static async load(source: string | Uint8Array, options: LoadOptions = {}): Promise<SlalomModel> {
    const path = typeof source === 'string' ? source : undefined;
    if (path === undefined ? isArtifact(source as Uint8Array) : isArtifactFile(path)) return SlalomModel.fromArtifact(source, path, options);
    const bytes = path === undefined ? (source as Uint8Array) : readModelFile(path);
    const progress = options.onProgress;
    progress?.({ phase: 'import', done: 0, total: 1 });
    const { graph, info, decoder } = await importOnnxModel(bytes, path, options);
    progress?.({ phase: 'import', done: 1, total: 1 });
    const { calibration, stats } = decoder
      ? await calibrateDecoderModel(bytes, graph, info, path, options)
      : await calibrateModel(bytes, graph, info, options);
    progress?.({ phase: 'quantize', done: 0, total: 1 });
    const margin = options.margin ?? DEFAULT_MARGIN;
    const quantized = await withHint(() => withoutFloatWeights(quantizeGraph(graph, stats, margin)), quantizationHint(margin));
    progress?.({ phase: 'quantize', done: 1, total: 1 });
    const name = path === undefined ? graph.name : path.replace(/^.*\//, '').replace(/\.onnx$/, '');
    const modelHash = createHash('sha256').update(bytes).digest('hex');
    const provenance: Provenance = {
      calibration,
      margin,
      slalomVersion: SLALOM_VERSION,
      createdAt: new Date().toISOString(),
    };
    return new SlalomModel(name, modelHash, contentHash(quantized), quantized, info, provenance, 'onnx', () => bytes);
  }

  /** The decoder's tokenizer (a sidecar's or an artifact's), checked; undefined: it takes and gives token ids. */
  get tokenizer(): CharTokenizer | undefined {
    const spec = this.info.tokens?.tokenizer;
    if (spec === undefined) return undefined;
    const checked = tokenizerSpec(spec, `${this.name}'s tokenizer`);
    if (this.decoder !== undefined && checked.vocab.length > this.decoder.config.vocab) throw new InvalidArgumentError(`${this.name}'s tokenizer has ${checked.vocab.length} characters, the model ${this.decoder.config.vocab} tokens`);
    return new CharTokenizer(checked);
  }

  get graph(): Graph {
    return this.quantized.graph;
  }

  /** The model's inputs with their (concrete) dims, in order. */
  get inputs(): Graph['inputs'] {
    return this.graph.inputs;
  }

  /** The first input's dims. */
  get inputDims(): readonly number[] {
    return this.graph.inputs[0]!.dims;
  }

  get outputNames(): readonly string[] {
    return this.graph.outputs;
  }

  /** What the first output holds; a Softmax at the end means its values are already probabilities. */
  get outputKind(): OutputKind {
    const producer = this.graph.nodes.find((n) => n.outputs.includes(this.graph.outputs[0]!));
    return producer?.op === 'Softmax' ? 'probabilities' : producer?.op === 'LogSoftmax' ? 'log-probabilities' : 'logits';
  }

  /** Whether the float reference (the ONNX file) is at hand: always from ONNX, from an artifact only if it was saved with it. */
  get hasFloatModel(): boolean {
    return this.floatBytes !== undefined;
  }

  /** The ONNX file, for the float reference (`compare`, `inferFloat`); an artifact saved without it says so. */
  get onnxBytes(): Uint8Array {
    if (this.floatBytes === undefined) {
      throw new InvalidArgumentError(
        `${this.name} is a quantized artifact without its ONNX file, and this needs the float model: give the ONNX file (compare --float-model m.onnx), or quantize with --include-onnx`,
      );
    }
    return this.floatBytes();
  }

  /** Writes the quantized artifact; returns its size in bytes. */
  save(path: string, options: SaveOptions = {}): number {
    const meta = { name: this.name, modelHash: this.modelHash, provenance: this.provenance, info: { labels: this.info.labels, preprocess: this.info.preprocess, ...(this.info.tokens?.tokenizer !== undefined ? { tokens: { tokenizer: this.info.tokens.tokenizer } } : {}) } };
    return writeArtifact(path, this.quantized, meta, options.includeOnnx ? this.onnxBytes : undefined);
  }

  /**
   * Reads an input file (image or .npy, by content) preprocessed as this model wants; for several
   * inputs, a record of paths by input name. A model with a batch of 1 also takes a batch of N
   * (sessions run its items one by one).
   */
  async loadInput(path: string): Promise<Tensor>;
  async loadInput(paths: Readonly<Record<string, string>>): Promise<Record<string, Tensor>>;
  async loadInput(paths: string | Readonly<Record<string, string>>): Promise<Tensor | Record<string, Tensor>> {
    this.refuseDecoder();
    const load = (path: string, dims: readonly number[]): Promise<Tensor> =>
      loadInputTensor(path, { preprocess: this.info.preprocess, expectDims: dims[0] === 1 ? [-1, ...dims.slice(1)] : dims });
    if (typeof paths === 'string') {
      if (this.inputs.length !== 1) throw new InvalidArgumentError(`${this.name} takes ${this.inputs.length} inputs (${this.inputs.map((i) => i.name).join(', ')}): give a path per input name`);
      return load(paths, this.inputDims);
    }
    const out: Record<string, Tensor> = {};
    for (const name of Object.keys(paths)) if (!this.inputs.some((i) => i.name === name)) throw new InvalidArgumentError(`${this.name} has no input '${name}' (its inputs: ${this.inputs.map((i) => i.name).join(', ')})`);
    for (const input of this.inputs) {
      const path = paths[input.name];
      if (path === undefined) throw new InvalidArgumentError(`no file for input '${input.name}'`);
      out[input.name] = await load(path, input.dims);
    }
    return out;
  }

  /**
   * Runs one quantized inference on inputs in graph order (one tensor for a one-input model). The
   * protocol supplies the linear layers and carries its mode (default: the trusted kernels, i.e.
   * baseline); `mode`, if given, must be that mode, so a result never names protections that did
   * not run. Sessions (api/session.ts) are the public way to run. `fuse: false` runs each layer
   * boundary's passes apart (per-owner timings; needed by `onValue`, which sees every value).
   */
  async infer(input: Tensor | readonly Tensor[], options: { mode?: Mode; protocol?: LinearProtocol } & RunOptions = {}): Promise<InferenceResult> {
    this.refuseDecoder();
    const protocol = options.protocol ?? trustedProtocol();
    const mode = protocolMode(protocol);
    if (options.mode !== undefined && options.mode !== mode) {
      throw new InvalidArgumentError(`mode '${options.mode}' asked, but the protocol runs '${mode}': open the protocol for '${options.mode}' (or use a session, which owns its mode)`);
    }
    const inputs = Array.isArray(input) ? (input as readonly Tensor[]) : [input as Tensor];
    const run = await withHint(() => runQuantized(this.quantized, inputs, protocol, options), this.overflowHint());
    const acceleratorMs = run.timings['accelerator'] ?? 0;
    const trustedMs = Object.values(run.timings).reduce((a, b) => a + b, 0) - acceleratorMs;
    return {
      mode,
      insecure: INSECURE_MODES.has(mode),
      outputs: run.outputs,
      logits: run.outputs[0]!.data,
      timings: run.timings,
      trustedMs,
      acceleratorMs,
      layers: run.layers,
      ...(run.pad !== undefined ? { pad: run.pad } : {}),
      execution: run.execution,
    };
  }

  /** The float semantics of the ONNX graph (float64, no quantization): a second reference. Needs the ONNX file. */
  async inferFloat(input: Tensor | readonly Tensor[]): Promise<Tensor[]> {
    const inputDims = Object.fromEntries(this.inputs.map((i) => [i.name, i.dims]));
    const graph = buildGraph(parseOnnx(this.onnxBytes), { inputDims });
    return execute(graph, Array.isArray(input) ? (input as readonly Tensor[]) : [input as Tensor]);
  }

  private static fromArtifact(source: string | Uint8Array, path: string | undefined, options: LoadOptions): SlalomModel {
    if (options.calibration !== undefined || options.margin !== undefined) {
      throw new InvalidArgumentError(`${path ?? 'the artifact'} is a quantized artifact, calibrated already: quantize the ONNX model again to change its calibration or margin`);
    }
    const loaded = readArtifact(source, (p) => options.onProgress?.({ phase: 'read', ...p }));
    const { meta, quantized } = loaded;
    const where = path ?? 'artifact';
    // Before any layer is used: the stored integers are hashed as they are, without decoding them.
    const weightsHash = contentHash(quantized);
    const given = options.inputDims;
    if (given !== undefined) {
      quantized.graph.inputs.forEach((input, i) => {
        const dims = pick(given, input.name, i, isDims);
        if (dims !== undefined && !sameDims(dims, input.dims)) {
          throw new InvalidArgumentError(`${where} was quantized for input '${input.name}' ${formatDims(input.dims)}, not ${formatDims(dims)}: quantize again with inputs of that shape`);
        }
      });
    }
    checkMemoryBudget(quantized.graph, options.memoryBudgetMb);
    const stored = meta.info as Partial<ModelInfo> | undefined;
    const info = resolveInfo(quantized.graph.inputs[0]!.dims, [stored, readSidecar(path), options.info]);
    const onnx = loaded.onnx;
    const floatBytes = onnx === undefined ? undefined : () => {
      const bytes = onnx();
      if (createHash('sha256').update(bytes).digest('hex') !== meta.modelHash) throw new MalformedModelError(`${where}: malformed slalom artifact: its ONNX file does not match its model hash`);
      return bytes;
    };
    return new SlalomModel(meta.name, meta.modelHash, weightsHash, quantized, info, meta.provenance, 'artifact', floatBytes);
  }

  /** A decoder is run by generation, never on one input. */
  private refuseDecoder(): void {
    if (this.decoder !== undefined) throw new InvalidArgumentError(`${this.name} is a decoder: it generates text token by token (\`slalom generate\`, session.generate), it is not run on one input`);
  }

  /** How to fix an overflow at run time, given how this model was calibrated. */
  private overflowHint(): string {
    const { calibration, margin } = this.provenance;
    const how = calibration.source === SEEDED_NORMAL ? 'seeded normal inputs (not real data)' : `${calibration.samples} input(s) from ${calibration.source}`;
    return `it was calibrated on ${how}, margin ${margin}: calibrate on inputs like this one (--calibration <dir|.npy>, or \`slalom quantize --calibration\`), or raise --margin`;
  }
}

/**
 * Parses the ONNX file, resolves the model's info and its input shapes, and builds the graph. Apart
 * from load() so the parsed model (a float64 copy of every weight) is garbage once this returns.
 */
async function importOnnxModel(bytes: Uint8Array, path: string | undefined, options: LoadOptions): Promise<{ graph: Graph; info: ModelInfo; decoder: boolean }> {
  const raw = parseOnnx(bytes);
  checkFiniteConstants(raw);
  const info = resolveInfo(raw.inputs[0]!.dims, [readSidecar(path), options.info]);
  const decoder = looksLikeDecoder(raw.inputs);
  if (decoder && options.inputDims !== undefined) throw new InvalidArgumentError('a decoder is imported at one token per step: --input-shape does not apply');
  const sample = options.sample ?? firstCalibrationInput(options.calibration);
  const inputDims = decoder ? oneTokenDims(raw) : await bindInputDims(raw.inputs, info, options.inputDims, sample);
  const graph = buildGraph(raw, { inputDims });
  checkMemoryBudget(graph, options.memoryBudgetMb);
  return { graph, info, decoder };
}

/**
 * A decoder's inputs at one token of one sequence, with a past of one position where it takes its
 * cache: every linear layer is then one row, so a pad covers one token (graph/decoder/step.ts runs
 * any number of rows through the same layers).
 */
function oneTokenDims(raw: RawModel): Record<string, number[]> {
  return Object.fromEntries(raw.inputs.map((input) => [input.name, input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1))]));
}

type Calibrated = { calibration: Provenance['calibration']; stats: CalibrationStats };

/** Calibration on onnxruntime fp32, observing every linear layer's input and output. */
async function calibrateModel(bytes: Uint8Array, graph: Graph, info: ModelInfo, options: LoadOptions): Promise<Calibrated> {
  const calibration = await calibrationSet(options.calibration, { inputs: graph.inputs, info, pickItems: options.calibrationItems }, options.calibrationSource);
  const total = calibration.samples.length;
  options.onProgress?.({ phase: 'calibrate', done: 0, total });
  // onnxruntime fp32 is loaded on demand: a model read back from an artifact never needs it.
  const reference = async (extraOutputs: readonly string[]) => (await import('../reference/ort-session.js')).createReferenceSession(bytes, { extraOutputs });
  const stats = await calibrate(reference, graph, calibration.samples, { onProgress: (done) => options.onProgress?.({ phase: 'calibrate', done, total }) });
  return { calibration: { source: calibration.source, samples: total, sha256: calibration.sha256 }, stats };
}

/** A decoder's calibration: its own float step loop over token sequences, then the self-check against onnxruntime fp32. */
async function calibrateDecoderModel(bytes: Uint8Array, graph: Graph, info: ModelInfo, path: string | undefined, options: LoadOptions): Promise<Calibrated> {
  const where = path ?? graph.name;
  const structure = recognizeDecoder(graph, where);
  if (options.calibration !== undefined && typeof options.calibration !== 'string') throw new InvalidArgumentError('a decoder calibrates on token ids: give a .npy of token ids [N, T]');
  const tokens = tokenCalibration(options.calibration ?? info.tokens?.calibration, structure.config.vocab, structure.config.maxPositions);
  const total = tokens.sequences.length;
  options.onProgress?.({ phase: 'calibrate', done: 0, total });
  const { stats, logits } = await calibrateDecoder(graph, structure, tokens, (done) => options.onProgress?.({ phase: 'calibrate', done, total }));
  const { createDecoderSession } = await import('../reference/ort-decoder.js');
  const session = await createDecoderSession(bytes);
  try {
    const first = tokens.sequences[0]!.slice(0, 32);
    const firstLogits = { dims: [first.length, structure.config.vocab], data: logits[0]!.data.subarray(0, first.length * structure.config.vocab) };
    await selfCheck(async (feeds) => (await session.run(feeds)).values().next().value!, graph, structure, first, firstLogits, where);
  } finally {
    await session.close();
  }
  return { calibration: { source: tokens.source, samples: total, sha256: tokens.sha256 }, stats };
}

/** A quantized graph whose constants keep only what non-linear nodes use: linear weights live as integers in the layers. */
function withoutFloatWeights(q: QuantizedGraph): QuantizedGraph {
  const used = new Set<string>();
  for (const n of q.graph.nodes) for (const i of q.byNode.has(n.name) ? n.inputs.slice(0, 1) : n.inputs) used.add(i);
  const constants = new Map([...q.graph.constants].filter(([name]) => used.has(name)));
  return { ...q, graph: { ...q.graph, constants } };
}

function quantizationHint(margin: number): string {
  return `check that the calibration inputs are preprocessed like real inputs, or lower --margin (now ${margin})`;
}

/** Runs `f`; an OverflowError it throws gets `hint` appended (which flag fixes it). */
async function withHint<T>(f: () => T | Promise<T>, hint: string): Promise<Awaited<T>> {
  try {
    return await f();
  } catch (e) {
    if (!hasErrorCode(e, 'SLALOM_ERR_OVERFLOW')) throw e;
    const message = e.layer !== undefined && e.message.startsWith(`${e.layer}: `) ? e.message.slice(e.layer.length + 2) : e.message;
    throw new OverflowError(`${message}; ${hint}`, { ...(e.layer !== undefined ? { layer: e.layer } : {}), cause: e });
  }
}

function readModelFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new InvalidArgumentError(`cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
}

