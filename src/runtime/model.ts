/**
 * A loaded slalom model: the imported graph, its quantization (from calibration) and the means to
 * run it in a mode. This is the trusted runtime's view of a model; api/ re-exports it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidArgumentError, UnsupportedModelError } from '../errors.js';
import { execute } from '../graph/execute.js';
import type { Graph } from '../graph/ir.js';
import { importOnnx } from '../graph/onnx/import.js';
import { readNpyFile } from '../io/npy.js';
import { IMAGENET_PREPROCESS, type Preprocess } from '../io/image.js';
import { resolveInputs } from '../io/sources.js';
import { calibrate } from '../quant/calibrate.js';
import { DEFAULT_MARGIN, quantizeGraph, type QuantizedGraph } from '../quant/quantize-graph.js';
import { sizeOf, tensor, type Tensor } from '../tensor/tensor.js';
import { Rng } from '../zoo/rng.js';
import { runQuantized, type RunOptions } from './executor.js';
import type { LinearProtocol } from './linear-protocol.js';
import { INSECURE_MODES, type Mode } from './modes.js';
import type { LayerTiming } from './observer.js';
import { trustedProtocol } from './protocols/trusted.js';

/** What a `<model>.slalom.json` beside the ONNX file may say about it. */
export interface ModelInfo {
  readonly labels?: readonly string[];
  readonly preprocess: Preprocess;
  /** Calibration images shipped beside the model: a .npy of raw pixels [N, C, H, W], preprocessed like inputs. */
  readonly calibration?: { readonly images: string };
}

export interface LoadOptions {
  /** Concrete input shape for models with symbolic sizes. */
  readonly inputDims?: readonly number[];
  /**
   * Calibration inputs, or where to read them (a directory, a .npy, `fashion-mnist:train:<n>`);
   * default: the dataset the sidecar names, else seeded standard-normal inputs.
   */
  readonly calibration?: readonly Tensor[] | string;
  /** Headroom factor between the calibrated maximum and p/2 (default 4). */
  readonly margin?: number;
  /** Overrides the sidecar `<model>.slalom.json`. */
  readonly info?: Partial<ModelInfo>;
}

export interface InferenceResult {
  readonly mode: Mode;
  readonly insecure: boolean;
  readonly outputs: Tensor[];
  /** The first output, dequantized. */
  readonly logits: Float64Array;
  readonly timings: Record<string, number>;
  /** Milliseconds the trusted runtime worked: every phase but waiting for the accelerator. */
  readonly trustedMs: number;
  /** Milliseconds spent waiting on the accelerator (its compute and the reply's delivery; copying the request out is the trusted `transfer` phase). */
  readonly acceleratorMs: number;
  readonly layers: LayerTiming[];
}

const SYNTHETIC_CALIBRATION_SAMPLES = 4;

export class SlalomModel {
  private constructor(
    readonly name: string,
    readonly onnxBytes: Uint8Array,
    /** SHA-256 of the ONNX bytes. */
    readonly modelHash: string,
    /**
     * SHA-256 of the model file and its quantization (each layer's scales and shapes), which fix the
     * integer weights: what pads (u = f(r) depends on them) and accelerator layer names bind to, so a
     * pad precomputed under another calibration can never be used.
     */
    readonly weightsHash: string,
    readonly quantized: QuantizedGraph,
    readonly info: ModelInfo,
  ) {}

  static async load(source: string | Uint8Array, options: LoadOptions = {}): Promise<SlalomModel> {
    const path = typeof source === 'string' ? source : undefined;
    const bytes = path === undefined ? (source as Uint8Array) : readModelFile(path);
    const graph = importOnnx(bytes, { inputDims: options.inputDims });
    if (graph.inputs.length !== 1) throw new UnsupportedModelError(`models with ${graph.inputs.length} inputs are not supported (one input expected)`);
    const info = { ...readSidecar(path), ...options.info } as ModelInfo;
    const samples =
      typeof options.calibration === 'string'
        ? resolveInputs(options.calibration, { preprocess: info.preprocess, expectDims: graph.inputs[0]!.dims }).map((i) => i.load())
        : options.calibration ?? defaultCalibration(graph, info);
    const stats = await calibrate(bytes, graph, samples);
    const quantized = quantizeGraph(graph, stats, options.margin ?? DEFAULT_MARGIN);
    const name = path === undefined ? graph.name : path.replace(/^.*\//, '').replace(/\.onnx$/, '');
    const modelHash = createHash('sha256').update(bytes).digest('hex');
    const quantization = quantized.layers.map((l) => [l.name, l.lx, l.lw, l.inDims, l.outDims]);
    const weightsHash = createHash('sha256').update(modelHash).update(JSON.stringify(quantization)).digest('hex');
    return new SlalomModel(name, bytes, modelHash, weightsHash, quantized, info);
  }

  get graph(): Graph {
    return this.quantized.graph;
  }

  get inputDims(): readonly number[] {
    return this.graph.inputs[0]!.dims;
  }

  /**
   * Runs one quantized inference; `protocol` supplies the linear layers (default: the trusted
   * kernels, i.e. baseline). `fuse: false` runs each layer boundary's passes apart (per-owner
   * timings; needed by `onValue`, which sees every value).
   */
  async infer(input: Tensor, options: { mode?: Mode; protocol?: LinearProtocol } & RunOptions = {}): Promise<InferenceResult> {
    const mode = options.mode ?? 'baseline';
    if (mode !== 'baseline' && options.protocol === undefined) throw new InvalidArgumentError(`mode '${mode}' needs an accelerator protocol`);
    const protocol = options.protocol ?? trustedProtocol();
    try {
      return this.result(mode, await runQuantized(this.quantized, [input], protocol, options));
    } finally {
      if (options.protocol === undefined) await protocol.close?.();
    }
  }

  private result(mode: Mode, run: Awaited<ReturnType<typeof runQuantized>>): InferenceResult {
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
    };
  }

  /** The float semantics of the imported graph (float64, no quantization): a second reference. */
  async inferFloat(input: Tensor): Promise<Tensor[]> {
    return execute(this.graph, [input]);
  }
}

function readModelFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new InvalidArgumentError(`cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads `<model>.slalom.json` beside the ONNX file, if any. */
function readSidecar(path: string | undefined): Partial<ModelInfo> {
  const jsonPath = path?.replace(/\.onnx$/, '.slalom.json');
  if (jsonPath === undefined || jsonPath === path || !existsSync(jsonPath)) return { preprocess: IMAGENET_PREPROCESS };
  let raw: any;
  try {
    raw = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`cannot parse ${jsonPath}: ${(e as Error).message}`, { cause: e });
  }
  const dims: number[] | undefined = raw?.input?.dims;
  const norm = raw?.normalize;
  const preprocess: Preprocess =
    norm !== undefined && Array.isArray(dims) && dims.length === 4
      ? {
          size: [dims[2], dims[3]],
          resize: 0,
          crop: 'none',
          mean: [norm.mean].flat(),
          std: [norm.std].flat(),
          scale: 255,
          channels: dims[1] === 1 ? 1 : 3,
          layout: 'NCHW',
        }
      : IMAGENET_PREPROCESS;
  const images = raw?.calibration?.images;
  return {
    labels: raw?.labels,
    preprocess,
    ...(typeof images === 'string' ? { calibration: { images: join(dirname(jsonPath), images) } } : {}),
  };
}

function defaultCalibration(graph: Graph, info: ModelInfo): Tensor[] {
  const dims = graph.inputs[0]!.dims;
  if (info.calibration?.images !== undefined) {
    const images = readNpyFile(info.calibration.images);
    const per = sizeOf(dims);
    const { mean, std, scale } = info.preprocess;
    const channelSize = per / dims[1]!;
    return Array.from({ length: images.data.length / per }, (_, i) =>
      tensor(
        dims,
        Float64Array.from(images.data.subarray(i * per, (i + 1) * per), (v, k) => {
          const c = Math.floor(k / channelSize);
          return (v / scale - mean[c % mean.length]!) / std[c % std.length]!;
        }),
      ),
    );
  }
  const rng = new Rng(0x5a1a);
  return Array.from({ length: SYNTHETIC_CALIBRATION_SAMPLES }, () => {
    const data = new Float64Array(sizeOf(dims));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    return tensor(dims, data);
  });
}
