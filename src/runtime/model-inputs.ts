/**
 * What a model needs to know about its inputs before it can be quantized: the sidecar
 * `<model>.slalom.json` (labels, preprocessing, calibration images), the preprocessing its declared
 * input shape suggests, concrete sizes for symbolic dimensions (taken from a given input), and the
 * calibration samples (a path, tensors, the sidecar's images, or seeded normal inputs).
 *
 * Sidecar format (every field optional; README "Models"):
 *
 *     { "labels": ["…", …],
 *       "preprocess": { "size": [h, w], "resize": 256, "crop": "center" | "none", "mean": [...],
 *                       "std": [...], "scale": 255, "channels": 1 | 3, "layout": "NCHW" | "NHWC" },
 *       "calibration": { "images": "<.npy of raw pixels [N, C, H, W], beside the sidecar>" } }
 *
 * The older form `{ "input": { "dims": [1, C, H, W] }, "normalize": { "mean": m, "std": s } }` is
 * still read (stretch to H×W, no resize).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { DeclaredInput } from '../graph/ir.js';
import { readNpyFile } from '../io/npy.js';
import { defaultPreprocess, validatePreprocess, type Preprocess } from '../io/preprocess.js';
import { resolveInputs, type LabeledInput } from '../io/sources.js';
import { formatDims, sizeOf, tensor, type Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/seeded-rng.js';
import { readTokenizer, type TokenizerSpec } from '../io/tokenizer.js';

/** What a `<model>.slalom.json` beside the model file may say about it. */
export interface ModelInfo {
  readonly labels?: readonly string[];
  readonly preprocess: Preprocess;
  /** Calibration images shipped beside the model: a .npy of raw pixels [N, C, H, W], preprocessed like inputs. */
  readonly calibration?: { readonly images: string };
  /** A decoder's: calibration token ids (a .npy [N, T]) and its tokenizer. */
  readonly tokens?: DecoderInfo;
}

export interface DecoderInfo {
  readonly calibration?: string;
  readonly tokenizer?: TokenizerSpec;
}

/** Overrides of the sidecar: labels, and any preprocessing fields (e.g. from `--resize`, `--mean`). */
export interface InfoOverrides {
  readonly labels?: readonly string[];
  readonly preprocess?: Partial<Preprocess>;
}

/** One value per model input: a single value for a one-input model, or a record by input name. */
export type PerInput<T> = T | Readonly<Record<string, T>>;

/** One calibration sample: a tensor (one-input models) or a tensor per input name. */
export type CalibrationSample = Tensor | Readonly<Record<string, Tensor>>;

/** Calibration inputs: where to read them (per input for several), or the tensors themselves. */
export type CalibrationSpec = PerInput<string> | readonly CalibrationSample[];

export interface CalibrationSet {
  /** Per sample, a tensor per graph input, in graph order. */
  readonly samples: readonly (readonly Tensor[])[];
  readonly source: string;
  readonly sha256: string;
}

const PREPROCESS_KEYS = new Set(['size', 'resize', 'crop', 'mean', 'std', 'scale', 'channels', 'layout']);
const SYNTHETIC_CALIBRATION_SAMPLES = 4;

/** `m.onnx` or `m.slalom` → `m.slalom.json`. */
export function sidecarPath(modelPath: string): string {
  return modelPath.replace(/\.(onnx|slalom)$/, '') + '.slalom.json';
}

interface Sidecar {
  readonly labels?: readonly string[];
  readonly preprocess?: Partial<Preprocess>;
  readonly calibration?: { readonly images: string };
  readonly tokens?: DecoderInfo;
}

/** Reads the sidecar beside a model file, if there is one. */
export function readSidecar(modelPath: string | undefined): Sidecar {
  if (modelPath === undefined) return {};
  const path = sidecarPath(modelPath);
  if (path === modelPath || !existsSync(path)) return {};
  let raw: any;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`cannot parse ${path}: ${(e as Error).message}`, { cause: e });
  }
  const bad = (what: string): never => {
    throw new InvalidArgumentError(`${path}: ${what}`);
  };
  if (raw === null || typeof raw !== 'object') bad('expected a JSON object');
  if (raw.labels !== undefined && (!Array.isArray(raw.labels) || !raw.labels.every((l: unknown) => typeof l === 'string'))) bad('"labels" must be an array of strings');
  let preprocess: Partial<Preprocess> | undefined;
  if (raw.preprocess !== undefined) {
    if (raw.preprocess === null || typeof raw.preprocess !== 'object') bad('"preprocess" must be an object');
    for (const k of Object.keys(raw.preprocess)) if (!PREPROCESS_KEYS.has(k)) bad(`unknown preprocess field "${k}" (known: ${[...PREPROCESS_KEYS].join(', ')})`);
    preprocess = raw.preprocess;
  } else if (raw.normalize !== undefined && Array.isArray(raw.input?.dims) && raw.input.dims.length === 4) {
    const dims = raw.input.dims as number[];
    preprocess = { size: [dims[2]!, dims[3]!], resize: 0, crop: 'none', mean: [raw.normalize.mean].flat(), std: [raw.normalize.std].flat(), channels: dims[1] === 1 ? 1 : 3 };
  }
  if (raw.calibration !== undefined && (raw.calibration === null || typeof raw.calibration !== 'object')) bad('"calibration" must be an object: {"images": "<.npy>"} or, for a decoder, {"tokens": "<.npy>"}');
  const images = raw.calibration?.images;
  if (images !== undefined && typeof images !== 'string') bad('"calibration.images" must be a file name');
  const tokenIds = raw.calibration?.tokens;
  if (tokenIds !== undefined && typeof tokenIds !== 'string') bad('"calibration.tokens" must be a file name');
  if (raw.tokenizer !== undefined && typeof raw.tokenizer !== 'string') bad('"tokenizer" must be a file name');
  const tokens: DecoderInfo = {
    ...(typeof tokenIds === 'string' ? { calibration: join(dirname(path), tokenIds) } : {}),
    ...(typeof raw.tokenizer === 'string' ? { tokenizer: readTokenizer(join(dirname(path), raw.tokenizer)) } : {}),
  };
  return {
    ...(raw.labels !== undefined ? { labels: raw.labels } : {}),
    ...(preprocess !== undefined ? { preprocess } : {}),
    ...(typeof images === 'string' ? { calibration: { images: join(dirname(path), images) } } : {}),
    ...(Object.keys(tokens).length > 0 ? { tokens } : {}),
  };
}

/** The model's info: defaults from its declared input, then the stored or sidecar info, then the caller's overrides. */
export function resolveInfo(declared: readonly (number | string)[], layers: readonly (Partial<ModelInfo> | Sidecar | InfoOverrides | undefined)[]): ModelInfo {
  let preprocess: Preprocess = defaultPreprocess(declared);
  let labels: readonly string[] | undefined;
  let calibration: { readonly images: string } | undefined;
  let tokens: DecoderInfo | undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if ('tokens' in layer && layer.tokens !== undefined) tokens = { ...tokens, ...layer.tokens };
    if (layer.preprocess !== undefined) preprocess = { ...preprocess, ...withoutUndefined(layer.preprocess) };
    if (layer.labels !== undefined) labels = layer.labels;
    if ('calibration' in layer && layer.calibration !== undefined) calibration = layer.calibration;
  }
  // A fixed-size request without a resize stretches or crops the image at its own size.
  validatePreprocess(preprocess);
  return { preprocess, ...(labels !== undefined ? { labels } : {}), ...(calibration !== undefined ? { calibration } : {}), ...(tokens !== undefined ? { tokens } : {}) };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether an input's declared shape has a symbolic dimension beyond the batch axis. */
function symbolicBeyondBatch(dims: readonly (number | string)[]): boolean {
  return dims.some((d, i) => i > 0 && !(typeof d === 'number' && d > 0));
}

/** The declared dims with every symbolic entry as −1 (what input loaders accept as "any"). */
function looseDims(dims: readonly (number | string)[]): number[] {
  return dims.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
}

/** Input `name`'s entry of a per-input value: a record's entry, or the single value for input 0. */
export function pick<T>(value: PerInput<T> | undefined, name: string, index: number, isSingle: (v: PerInput<T>) => v is T): T | undefined {
  if (value === undefined) return undefined;
  if (isSingle(value)) return index === 0 ? value : undefined;
  return (value as Readonly<Record<string, T>>)[name];
}

const isString = (v: PerInput<string>): v is string => typeof v === 'string';
/** Whether a per-input shape value is one shape (not a record of them). */
export const isDims = (v: PerInput<readonly number[]>): v is readonly number[] => Array.isArray(v);
const isSource = (v: PerInput<string | Tensor>): v is string | Tensor => typeof v === 'string' || isTensor(v);

/** A tensor (dims + data), as opposed to a record of them. */
export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && Array.isArray((v as Tensor).dims) && (v as Tensor).data instanceof Float64Array;
}

/**
 * Concrete dims for every input: given ones win; a symbolic batch becomes 1; other symbolic sizes
 * come from a sample input (its shape, batch set to 1 when the batch is symbolic).
 */
export async function bindInputDims(
  declared: readonly DeclaredInput[],
  info: ModelInfo,
  given: PerInput<readonly number[]> | undefined,
  sample: PerInput<string | Tensor> | undefined,
): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [index, input] of declared.entries()) {
    const dims = pick(given, input.name, index, isDims);
    if (dims !== undefined) {
      out[input.name] = [...dims];
      continue;
    }
    if (!symbolicBeyondBatch(input.dims)) {
      out[input.name] = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
      continue;
    }
    const s = pick(sample, input.name, index, isSource);
    if (s === undefined) {
      const axis = input.dims.findIndex((d, i) => i > 0 && !(typeof d === 'number' && d > 0));
      throw new InvalidArgumentError(
        `model input '${input.name}' has symbolic dimension '${input.dims[axis]}' at axis ${axis}: give an input or calibration inputs (their shape is used), or a concrete shape (--input-shape)`,
      );
    }
    const loose = looseDims(input.dims);
    // A path may be a directory or a batched .npy: its first item gives the shape.
    const t = typeof s === 'string' ? await resolveInputs(s, { preprocess: info.preprocess, expectDims: loose })[0]!.load() : s;
    if (t.dims.length !== loose.length || !t.dims.every((d, i) => loose[i]! < 0 || d === loose[i])) {
      throw new InvalidArgumentError(`input '${input.name}' of shape ${formatDims(t.dims)} does not fit the model's ${formatDims(input.dims as number[])}`);
    }
    out[input.name] = t.dims.map((d, i) => (i === 0 && loose[0]! < 0 ? 1 : d));
  }
  return out;
}

/** The first calibration input (a path or a tensor per input) of a spec, for binding symbolic sizes. */
export function firstCalibrationInput(spec: CalibrationSpec | undefined): PerInput<string | Tensor> | undefined {
  return Array.isArray(spec) ? (spec[0] as PerInput<Tensor> | undefined) : (spec as PerInput<string> | undefined);
}

export interface CalibrationContext {
  readonly inputs: readonly { readonly name: string; readonly dims: readonly number[] }[];
  readonly info: ModelInfo;
  readonly onLoaded?: (done: number, total: number) => void;
  /** Narrows the items a path spec lists (compare's held-out split). */
  readonly pickItems?: (items: readonly LabeledInput[]) => readonly LabeledInput[];
}

/** Resolves a calibration spec (or the defaults) into samples in graph-input order. */
export async function calibrationSet(spec: CalibrationSpec | undefined, ctx: CalibrationContext, sourceLabel?: string): Promise<CalibrationSet> {
  const { inputs, info } = ctx;
  let samples: Tensor[][];
  let source: string;
  if (spec === undefined) {
    ({ samples, source } = defaultCalibration(inputs, info));
  } else if (Array.isArray(spec)) {
    samples = (spec as readonly CalibrationSample[]).map((s, k) => inputs.map((input, i) => {
      const t = isTensor(s) ? (i === 0 ? s : undefined) : (s as Readonly<Record<string, Tensor>>)[input.name];
      if (t === undefined) throw new InvalidArgumentError(`calibration sample ${k} has no tensor for input '${input.name}'`);
      return t;
    }));
    source = sourceLabel ?? `${samples.length} tensors`;
  } else {
    const perInput = inputs.map((input, i) => {
      const s = pick(spec as PerInput<string>, input.name, i, isString);
      if (s === undefined) throw new InvalidArgumentError(`no calibration inputs for model input '${input.name}' (give name=<dir|.npy> for each input)`);
      const items = resolveInputs(s, { preprocess: info.preprocess, expectDims: input.dims });
      return ctx.pickItems ? ctx.pickItems(items) : items;
    });
    const count = perInput[0]!.length;
    if (perInput.some((items) => items.length !== count)) throw new InvalidArgumentError(`calibration inputs differ in count between inputs: ${perInput.map((p) => p.length).join(' vs ')}`);
    samples = [];
    for (let k = 0; k < count; k++) {
      samples.push(await Promise.all(perInput.map((items) => items[k]!.load())));
      ctx.onLoaded?.(k + 1, count);
    }
    source = sourceLabel ?? (typeof spec === 'string' ? spec : Object.entries(spec).map(([n, s]) => `${n}=${s}`).join(', '));
  }
  if (samples.length === 0) throw new InvalidArgumentError('calibration needs at least one input');
  samples.forEach((sample) => sample.forEach((t, i) => {
    const want = inputs[i]!.dims;
    if (t.dims.length !== want.length || !t.dims.every((d, j) => d === want[j])) {
      throw new InvalidArgumentError(`calibration input of shape ${formatDims(t.dims)} does not match the model input '${inputs[i]!.name}' ${formatDims(want)}`);
    }
  }));
  const hash = createHash('sha256');
  for (const sample of samples) for (const t of sample) hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return { samples, source, sha256: hash.digest('hex') };
}

function defaultCalibration(inputs: CalibrationContext['inputs'], info: ModelInfo): { samples: Tensor[][]; source: string } {
  if (info.calibration?.images !== undefined && inputs.length === 1) {
    const dims = inputs[0]!.dims;
    const images = readNpyFile(info.calibration.images);
    const per = sizeOf(dims);
    const { mean, std, scale } = info.preprocess;
    const channelSize = per / dims[1]!;
    const samples = Array.from({ length: images.data.length / per }, (_, i) => [
      tensor(
        dims,
        Float64Array.from(images.data.subarray(i * per, (i + 1) * per), (v, k) => {
          const c = Math.floor(k / channelSize);
          return (v / scale - mean[c % mean.length]!) / std[c % std.length]!;
        }),
      ),
    ]);
    return { samples, source: info.calibration.images };
  }
  const rng = new Rng(0x5a1a);
  const samples = Array.from({ length: SYNTHETIC_CALIBRATION_SAMPLES }, () =>
    inputs.map((input) => {
      const data = new Float64Array(sizeOf(input.dims));
      for (let i = 0; i < data.length; i++) data[i] = rng.normal();
      return tensor(input.dims, data);
    }),
  );
  return { samples, source: SEEDED_NORMAL };
}

/** The provenance label of the default, synthetic calibration. */
export const SEEDED_NORMAL = `seeded-normal:${SYNTHETIC_CALIBRATION_SAMPLES}`;
