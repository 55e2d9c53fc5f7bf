/**
 * The library's way to run a model, onnxruntime-style: a session owns its mode, its protocol and
 * its accelerator, so what a result says ran is what ran (docs/design.md §5).
 *
 *     const s = await createSession('m.slalom', { mode: 'private+verified', pads: { store: '.slalom-pads' } });
 *     const r = await s.run(await s.model.loadInput('cat.jpg'));
 *     r.outputs.logits.dims; r.predictions?.[0]; r.mode; r.timings;
 *     await s.close();
 *
 * `run` takes a tensor (one-input models), or a record of tensors by input name. A model with a
 * batch of 1 also takes a batch of N: its items run one by one (each a full inference, with its own
 * pad in the private modes) and the outputs are stacked. Runs on one session are serialized.
 * Forgetting `close()` does not keep the process alive (the embedded worker is unref'd).
 */
import { InvalidArgumentError } from '../errors.js';
import { generateTokens, type GenerateOptions, type GenerationRun, type TokenEvent } from '../generate/generation.js';
import type { LayerTiming } from '../runtime/observer.js';
import { SlalomModel, type LoadOptions } from '../runtime/model.js';
import { isTensor } from '../runtime/model-inputs.js';
import { INSECURE_MODES, MODES, type Mode } from '../runtime/modes.js';
import { checkedSoundnessLog2, type Incident, type LayerRun } from '../runtime/execution.js';
import { openProtocol, type OpenedProtocol, type SessionOptions } from '../runtime/session.js';
import { formatDims, sizeOf, type Tensor } from '../tensor/tensor.js';
import { predictionsPerItem, type Prediction } from './predictions.js';
import { aInt, aOneOf } from '../util/assert.js';

export interface CreateSessionOptions extends SessionOptions {
  /** Default 'baseline' (everything in the trusted runtime). */
  readonly mode?: Mode;
  /** Predictions per item (default 5). */
  readonly top?: number;
  /** When `model` is a path: how to load it. */
  readonly load?: LoadOptions;
}

/** One named output of a run. */
export interface SessionOutput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

export interface Verification {
  readonly variant: string;
  readonly repetitions: number;
  /**
   * log2 of the probability that a wrong result passes one inference. In a RunResult: over the layers
   * that were checked (a layer computed in the trusted runtime needs no check), for the item with
   * the fewest guarantees; a session's own value assumes every layer checked.
   */
  readonly soundnessLog2PerInference: number;
}

export interface RunResult {
  /** The mode that ran, for every item ('baseline' when each ran in the trusted runtime for want of a pad). */
  readonly mode: Mode;
  /** True for `outsourced`: nothing checked, the accelerator saw plaintext. */
  readonly insecure: boolean;
  /** Items run (the batch). */
  readonly items: number;
  /** Outputs by name (in `outputNames` order), stacked over the items. */
  readonly outputs: Readonly<Record<string, SessionOutput>>;
  readonly outputNames: readonly string[];
  /** Top-k per item when the first output is a class distribution ([N, K]); labelled when the model has labels. */
  readonly predictions?: readonly (readonly Prediction[])[];
  /** Milliseconds by phase, summed over the items. */
  readonly timings: Readonly<Record<string, number>>;
  readonly trustedMs: number;
  readonly acceleratorMs: number;
  /** Per linear layer, summed over the items. */
  readonly layers: readonly LayerTiming[];
  /** Present when at least one layer of some item was checked (Freivalds). */
  readonly verification?: Verification;
  /** Per item: where each linear layer was computed and under which check, as the protocol recorded it. */
  readonly execution: readonly (readonly LayerRun[])[];
  /** Recovered failures and pad fallbacks during this run. */
  readonly incidents: readonly Incident[];
  /** Items that ran in the trusted runtime instead (no pad left, `onExhausted: 'local'`), when some but not all did. */
  readonly ranLocally?: readonly number[];
  /** The one-time pads the items used (private modes): their store's identity, key epoch and indices. */
  readonly pads?: PadsUsed;
}

export interface PadsUsed {
  /** A sealed store (its identity and key epoch) or an in-memory pool (a random identity, epoch 0). */
  readonly source: 'store' | 'memory';
  readonly id: string;
  readonly keyEpoch: number;
  readonly indices: readonly number[];
}

export type SessionInput = Tensor | Readonly<Record<string, Tensor>>;

/** A decoder's prompt: text (the model's tokenizer encodes it) or token ids. */
export type Prompt = string | readonly number[];

export interface StreamedToken extends TokenEvent {
  /** The token's text, when the model has a tokenizer. */
  readonly text?: string;
}

export interface GenerateResult extends GenerationRun {
  readonly mode: Mode;
  readonly insecure: boolean;
  /** Each sequence's generated text, when the model has a tokenizer. */
  readonly texts?: readonly string[];
  /** Present when some layer of some step was checked: the soundness of the weakest step. */
  readonly verification?: Verification;
}

export class Session {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly model: SlalomModel,
    readonly mode: Mode,
    private readonly protocol: OpenedProtocol,
    private readonly top: number,
  ) {}

  /** @internal use {@link createSession} */
  static async open(model: SlalomModel, options: CreateSessionOptions): Promise<Session> {
    const mode = aOneOf(options.mode ?? 'baseline', 'mode', MODES);
    const top = aInt(options.top ?? 5, 'top', { min: 1 });
    return new Session(model, mode, await openProtocol(model, mode, options), top);
  }

  /** The Freivalds settings of a verified mode. */
  get verification(): Verification | undefined {
    const v = this.protocol.verifier;
    return v === undefined ? undefined : { variant: v.variant, repetitions: v.repetitions, soundnessLog2PerInference: v.soundnessLog2PerInference };
  }

  /** The checks' settings with the soundness the run achieved: over its checked layers, for its weakest item; undefined when nothing was checked. */
  private achieved(execution: readonly (readonly LayerRun[])[]): Verification | undefined {
    const v = this.protocol.verifier;
    if (v === undefined) return undefined;
    const perItem = execution.map((layers) => checkedSoundnessLog2(v, layers)).filter((s): s is number => s !== null);
    return perItem.length === 0 ? undefined : { variant: v.variant, repetitions: v.repetitions, soundnessLog2PerInference: Math.max(...perItem) };
  }

  /** Runs the model on `input`; see the module comment for batches. */
  run(input: SessionInput): Promise<RunResult> {
    const result = this.queue.then(() => this.runNow(input));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Generates text (a decoder): from one prompt or several (text, with the model's tokenizer, or
   * token ids), batched into one request per layer per step; each token goes to `onToken` as soon
   * as its step is accepted. See generate/generation.ts for pads, failures and finishes.
   */
  generate(prompts: Prompt | readonly Prompt[], options: GenerateOptions): Promise<GenerateResult> {
    const result = this.queue.then(() => this.generateNow(prompts, options));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** generate() as a stream of tokens (with their text, when the model has a tokenizer); the stream's return value is the result. */
  async *stream(prompts: Prompt | readonly Prompt[], options: Omit<GenerateOptions, 'onToken'>): AsyncGenerator<StreamedToken, GenerateResult> {
    const pending: StreamedToken[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    const tokenizer = this.model.tokenizer;
    const done = this.generate(prompts, {
      ...options,
      onToken: (e) => {
        pending.push({ ...e, ...(tokenizer !== undefined ? { text: tokenizer.decode([e.token]) } : {}) });
        wake?.();
      },
    }).finally(() => {
      finished = true;
      wake?.();
    });
    done.catch(() => undefined);
    for (;;) {
      while (pending.length > 0) yield pending.shift()!;
      if (finished) return await done;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }

  private async generateNow(prompts: Prompt | readonly Prompt[], options: GenerateOptions): Promise<GenerateResult> {
    if (this.closed) throw new InvalidArgumentError('the session is closed');
    const tokenizer = this.model.tokenizer;
    const list: readonly Prompt[] = typeof prompts === 'string' || (prompts.length > 0 && typeof prompts[0] === 'number') ? [prompts as Prompt] : (prompts as readonly Prompt[]);
    const ids = list.map((p) => {
      if (typeof p !== 'string') return p;
      if (tokenizer === undefined) throw new InvalidArgumentError(`${this.model.name} has no tokenizer: give token ids`);
      return tokenizer.encode(p);
    });
    const run = await generateTokens(this.model, this.protocol, ids, options);
    const verification = this.achieved(run.steps.map((s) => s.layers));
    return {
      mode: this.mode,
      insecure: INSECURE_MODES.has(this.mode),
      ...run,
      ...(tokenizer !== undefined ? { texts: run.sequences.map((s) => tokenizer.decode(s.tokens)) } : {}),
      ...(verification !== undefined ? { verification } : {}),
    };
  }

  /** Closes the accelerator and the kernels; the session refuses runs afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.protocol.close?.();
  }

  private async runNow(input: SessionInput): Promise<RunResult> {
    if (this.closed) throw new InvalidArgumentError('the session is closed');
    const { items, batches } = splitBatch(this.model, input);
    const outputs: Tensor[][] = [];
    const execution: (readonly LayerRun[])[] = [];
    const incidents: Incident[] = [];
    const timings: Record<string, number> = {};
    const layers = new Map<string, { ms: number; phases: Record<string, number> }>();
    const local: number[] = [];
    let pads: { source: 'store' | 'memory'; id: string; keyEpoch: number; indices: number[] } | undefined;
    let trustedMs = 0;
    let acceleratorMs = 0;
    for (const [k, batch] of batches.entries()) {
      const r = await this.model.infer(batch, { protocol: this.protocol });
      if (this.protocol.localOnly === true) local.push(k);
      execution.push([...r.execution.layers]);
      incidents.push(...r.execution.incidents);
      if (r.pad !== undefined) (pads ??= { ...r.pad.origin, indices: [] }).indices.push(r.pad.index);
      outputs.push(r.outputs);
      for (const [phase, ms] of Object.entries(r.timings)) timings[phase] = (timings[phase] ?? 0) + ms;
      for (const l of r.layers) {
        const sum = layers.get(l.name) ?? { ms: 0, phases: {} };
        sum.ms += l.ms;
        for (const [phase, ms] of Object.entries(l.phases)) sum.phases[phase] = (sum.phases[phase] ?? 0) + ms;
        layers.set(l.name, sum);
      }
      trustedMs += r.trustedMs;
      acceleratorMs += r.acceleratorMs;
    }
    const names = this.model.outputNames;
    const stacked = names.map((name, i) => stack(name, outputs.map((o) => o[i]!)));
    const mode: Mode = local.length === batches.length ? 'baseline' : this.mode;
    const first = stacked[0]!;
    const predictions = predictionsPerItem(first.dims, first.data, this.top, this.model.info.labels, this.model.outputKind);
    const verification = mode === 'baseline' ? undefined : this.achieved(execution);
    return {
      mode,
      insecure: INSECURE_MODES.has(mode),
      items,
      outputs: Object.fromEntries(stacked.map((o) => [o.name, o])),
      outputNames: names,
      ...(predictions !== undefined ? { predictions } : {}),
      timings,
      trustedMs,
      acceleratorMs,
      layers: [...layers].map(([name, l]) => ({ name, ...l })),
      ...(verification !== undefined ? { verification } : {}),
      execution,
      incidents,
      ...(local.length > 0 && local.length < batches.length ? { ranLocally: local } : {}),
      ...(pads !== undefined ? { pads } : {}),
    };
  }
}

/** Opens a session on a model (or loads one from a path first: an ONNX file or a quantized artifact). */
export async function createSession(model: SlalomModel | string, options: CreateSessionOptions = {}): Promise<Session> {
  const loaded = typeof model === 'string' ? await SlalomModel.load(model, options.load) : model;
  return Session.open(loaded, options);
}

/**
 * The input tensors per inference, in graph-input order: the input as it is when it fits the
 * model's dims (a missing leading batch of 1 is added), or split into N single items when the model
 * has a batch of 1 and every input carries the same batch N.
 */
function splitBatch(model: SlalomModel, input: SessionInput): { items: number; batches: Tensor[][] } {
  const inputs = model.inputs;
  let given: Tensor[];
  if (isTensor(input)) {
    if (inputs.length !== 1) throw new InvalidArgumentError(`${model.name} takes ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}): pass a record of tensors by input name`);
    given = [input];
  } else {
    const record = input as Readonly<Record<string, Tensor>>;
    for (const name of Object.keys(record)) if (!inputs.some((i) => i.name === name)) throw new InvalidArgumentError(`${model.name} has no input '${name}' (its inputs: ${inputs.map((i) => i.name).join(', ')})`);
    given = inputs.map((i) => {
      const t = record[i.name];
      if (t === undefined) throw new InvalidArgumentError(`no tensor for input '${i.name}'`);
      return t;
    });
  }
  const fitted = given.map((t, i) => {
    const want = inputs[i]!.dims;
    if (!(t.data instanceof Float64Array) || t.data.length !== sizeOf(t.dims)) throw new InvalidArgumentError(`input '${inputs[i]!.name}' must be a tensor: dims and a Float64Array of that many values`);
    return t.dims.length === want.length - 1 ? { dims: [1, ...t.dims], data: t.data } : t;
  });
  const fits = (t: Tensor, want: readonly number[], batch: number): boolean => t.dims.length === want.length && t.dims[0] === batch && t.dims.every((d, j) => j === 0 || d === want[j]);
  if (fitted.every((t, i) => fits(t, inputs[i]!.dims, inputs[i]!.dims[0]!))) return { items: fitted[0]!.dims[0]!, batches: [fitted] };
  const n = fitted[0]!.dims[0]!;
  const splittable = inputs.every((i) => i.dims[0] === 1) && fitted.every((t, i) => fits(t, inputs[i]!.dims, n));
  if (!splittable) {
    const bad = fitted.findIndex((t, i) => !fits(t, inputs[i]!.dims, inputs[i]!.dims[0]!));
    const want = inputs[bad]!.dims;
    const hint = model.format === 'artifact' ? ' (an artifact runs the input shape it was quantized for; quantize again with inputs of this shape)' : '';
    throw new InvalidArgumentError(`input '${inputs[bad]!.name}' has shape ${formatDims(fitted[bad]!.dims)}, the model expects ${formatDims(want)}${want[0] === 1 ? ` or a batch [N×${want.slice(1).join('×')}]` : ''}${hint}`);
  }
  const batches = Array.from({ length: n }, (_, k) =>
    fitted.map((t) => {
      const per = t.data.length / n;
      return { dims: [1, ...t.dims.slice(1)], data: t.data.subarray(k * per, (k + 1) * per) };
    }),
  );
  return { items: n, batches };
}

/** Concatenates one output over the items along axis 0 (an output of a batch-1 run has a leading 1). */
function stack(name: string, parts: readonly Tensor[]): SessionOutput {
  if (parts.length === 1) return { name, dims: [...parts[0]!.dims], data: parts[0]!.data };
  const first = parts[0]!;
  if (first.dims[0] !== 1) throw new InvalidArgumentError(`output '${name}' has no batch axis (${formatDims(first.dims)}): run the items one at a time`);
  const data = new Float64Array(first.data.length * parts.length);
  parts.forEach((p, k) => data.set(p.data, k * first.data.length));
  return { name, dims: [parts.length, ...first.dims.slice(1)], data };
}
