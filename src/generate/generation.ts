/**
 * Token-by-token generation with a decoder (docs/design.md §9, "Generation"): the trusted runtime
 * keeps each sequence's KV cache (graph/decoder/kv-cache.ts) and runs the step loop
 * (graph/decoder/step.ts); each step's linear layers cross through the mode's protocol, one request
 * per layer carrying every row of the step — the prompts' tokens at once (prefill), then the next
 * token of every sequence still going. In the private modes each row takes a pad of its own
 * (runtime/token-pads.ts): a generation spends one pad per token it feeds the model, prompt tokens
 * included (the last sampled token of a sequence is never fed).
 *
 * Tokens are streamed (`onToken`) as they are sampled, i.e. only after the step that produced their
 * logits was accepted: a refused reply (a lying accelerator) ends the generation with its error
 * before any token of that step exists, whatever the failure policy's fallback. A step that finds no
 * pad left follows the source's policy: 'local' runs it in the trusted runtime (recorded), 'fail'
 * ends every sequence there with finish 'no-pads' (recorded; the tokens so far are kept).
 */
import { hasErrorCode, InvalidArgumentError } from '../errors.js';
import { KvCache } from '../graph/decoder/kv-cache.js';
import { decoderStep, type StepRow } from '../graph/decoder/step.js';
import type { DecoderStructure } from '../graph/decoder/structure.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import type { Region } from '../simd/arena.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Incident, LayerRun } from '../runtime/execution.js';
import { crossLinear, releaseBiases } from '../runtime/executor.js';
import type { LinearProtocol } from '../runtime/linear-protocol.js';
import type { SlalomModel } from '../runtime/model.js';
import { PhaseTotals, timedAsync, type RunObserver } from '../runtime/observer.js';
import type { TokenLease } from '../runtime/token-pads.js';
import { Rng } from '../util/seeded-rng.js';
import { checkSampling, nextToken, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** New tokens per sequence (at most; fewer at a stop token or a full context). */
  readonly maxTokens: number;
  /** Seed of the sampling streams (sequence k draws from seed + k); default 0. */
  readonly seed?: number;
  /** Token ids that end a sequence (emitted, then nothing more). */
  readonly stop?: readonly number[];
  /** Each token as soon as it is sampled. */
  readonly onToken?: (event: TokenEvent) => void;
}

export interface TokenEvent {
  readonly sequence: number;
  readonly token: number;
  /** Its index among the sequence's generated tokens. */
  readonly index: number;
}

export type Finish = 'length' | 'stop' | 'context' | 'no-pads';

export interface GeneratedSequence {
  readonly prompt: readonly number[];
  readonly tokens: readonly number[];
  readonly finish: Finish;
}

export interface StepRecord {
  /** Rows (tokens) the step fed the model. */
  readonly tokens: number;
  /** Where each linear layer ran and under which check. */
  readonly layers: readonly LayerRun[];
  readonly pads?: readonly number[];
  /** Milliseconds of this step by phase (the accelerator's wait is 'accelerator'; every other phase is the trusted runtime's). */
  readonly timings: Readonly<Record<string, number>>;
}

export interface GenerationRun {
  readonly sequences: readonly GeneratedSequence[];
  readonly steps: readonly StepRecord[];
  readonly incidents: readonly Incident[];
  /** The pads spent, in order (private modes): one per token fed. */
  readonly pads?: { readonly source: 'store' | 'memory'; readonly id: string; readonly keyEpoch: number; readonly indices: readonly number[] };
  /** Milliseconds by phase over the whole generation. */
  readonly timings: Readonly<Record<string, number>>;
  readonly trustedMs: number;
  readonly acceleratorMs: number;
  readonly wallMs: number;
}

/** Generates from each prompt (token ids) with `model` through `protocol`. */
export async function generateTokens(model: SlalomModel, protocol: LinearProtocol, prompts: readonly (readonly number[])[], options: GenerateOptions): Promise<GenerationRun> {
  const decoder = model.decoder;
  if (decoder === undefined) throw new InvalidArgumentError(`${model.name} is not a decoder: it has no input_ids to generate from`);
  checkSampling(options);
  const { maxTokens } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new InvalidArgumentError(`max tokens must be an integer ≥ 1, got ${maxTokens}`);
  if (prompts.length === 0) throw new InvalidArgumentError('generation needs at least one prompt');
  const { maxPositions, vocab } = decoder.config;
  prompts.forEach((p, k) => {
    if (p.length === 0) throw new InvalidArgumentError(`prompt ${k} is empty: give at least one token`);
    if (p.length >= maxPositions) throw new InvalidArgumentError(`prompt ${k} has ${p.length} tokens: the model has ${maxPositions} positions, room for the prompt and at least one more`);
    for (const t of p) if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new InvalidArgumentError(`prompt ${k}: token id ${t} is outside the vocabulary 0 … ${vocab - 1}`);
  });
  const start = performance.now();
  const totals = new PhaseTotals();
  const seqs = prompts.map((prompt, k) => ({
    prompt,
    tokens: [] as number[],
    finish: undefined as Finish | undefined,
    cache: new KvCache(String(k), decoder.config, Math.min(maxPositions, prompt.length + maxTokens)),
    rng: new Rng((options.seed ?? 0) + k),
  }));
  const stepper = new Stepper(model, decoder, protocol, totals);
  const steps: StepRecord[] = [];
  const incidents: Incident[] = [];
  let pads: { source: 'store' | 'memory'; id: string; keyEpoch: number; indices: number[] } | undefined;
  try {
    let rows: { seq: (typeof seqs)[number]; row: StepRow }[] = seqs.flatMap((seq) => seq.prompt.map((token) => ({ seq, row: { cache: seq.cache, token } })));
    while (rows.length > 0) {
      let logits: Tensor;
      try {
        const step = await stepper.run(rows.map((r) => r.row));
        logits = step.logits;
        steps.push(...step.records);
        incidents.push(...step.incidents);
        for (const lease of step.leases) (pads ??= { ...lease.origin, indices: [] }).indices.push(...lease.indices);
      } catch (e) {
        if (!hasErrorCode(e, 'SLALOM_ERR_PADS_EXHAUSTED')) throw e;
        incidents.push({ layer: '(all)', code: e.code, message: `${e.message}; the generation stopped there` });
        for (const seq of seqs) seq.finish ??= 'no-pads';
        break;
      }
      // The last row of each sequence in this step gives its next token.
      const last = new Map<(typeof seqs)[number], number>();
      rows.forEach((r, i) => last.set(r.seq, i));
      const next: typeof rows = [];
      for (const [seq, i] of last) {
        const token = nextToken(logits.data.subarray(i * vocab, (i + 1) * vocab), options, seq.rng);
        seq.tokens.push(token);
        options.onToken?.({ sequence: seqs.indexOf(seq), token, index: seq.tokens.length - 1 });
        if (options.stop?.includes(token)) seq.finish = 'stop';
        else if (seq.tokens.length >= maxTokens) seq.finish = 'length';
        else if (seq.cache.length >= seq.cache.capacity) seq.finish = 'context';
        else next.push({ seq, row: { cache: seq.cache, token } });
      }
      rows = next;
    }
  } finally {
    stepper.close();
    for (const seq of seqs) seq.cache.dispose();
  }
  const timings = totals.ms;
  const acceleratorMs = timings['accelerator'] ?? 0;
  return {
    sequences: seqs.map((s) => ({ prompt: s.prompt, tokens: s.tokens, finish: s.finish ?? 'length' })),
    steps,
    incidents,
    ...(pads !== undefined ? { pads } : {}),
    timings,
    trustedMs: Object.values(timings).reduce((a, b) => a + b, 0) - acceleratorMs,
    acceleratorMs,
    wallMs: performance.now() - start,
  };
}

/**
 * The logits [T, vocab] of every position of `tokens` (teacher forcing: position t predicts token
 * t + 1), in one prefill step through `protocol` — for perplexity and fidelity measurements.
 */
export async function scoreTokens(model: SlalomModel, protocol: LinearProtocol, tokens: readonly number[]): Promise<Tensor> {
  const decoder = model.decoder;
  if (decoder === undefined) throw new InvalidArgumentError(`${model.name} is not a decoder: it has no input_ids to score`);
  const cache = new KvCache('scored', decoder.config, tokens.length);
  const stepper = new Stepper(model, decoder, protocol, new PhaseTotals());
  try {
    return (await stepper.run(tokens.map((token) => ({ cache, token })))).logits;
  } finally {
    stepper.close();
    cache.dispose();
  }
}

/** Runs decoding steps through one protocol: one protocol run (and, privately, one pad per row) per step. */
class Stepper {
  private readonly biases = new Map<string, Region>();
  /** The model's one-row layers, and their n-row views by row count. */
  private readonly byName: ReadonlyMap<string, QuantizedLayer>;
  private readonly views = new Map<string, QuantizedLayer>();

  constructor(
    private readonly model: SlalomModel,
    private readonly decoder: DecoderStructure,
    private readonly protocol: LinearProtocol,
    private readonly totals: PhaseTotals,
  ) {
    this.byName = model.quantized.byNode;
  }

  /**
   * Runs `rows` as one step, or as consecutive steps of at most the protocol's limit (a pad pool
   * smaller than the step): the same logits either way, since a row attends only to positions up to
   * its own and the linear layers treat rows apart.
   */
  async run(rows: readonly StepRow[]): Promise<{ logits: Tensor; records: StepRecord[]; incidents: Incident[]; leases: TokenLease[] }> {
    const limit = this.protocol.maxTokensPerStep?.() ?? rows.length;
    const parts = [];
    for (let at = 0; at < rows.length; at += limit) parts.push(await this.runOne(rows.slice(at, at + limit)));
    const { vocab } = this.decoder.config;
    // Split steps' logits are joined; a whole step's are returned as they are.
    let logits = parts[0]!.logits;
    if (parts.length > 1) {
      const joined = new Float64Array(rows.length * vocab);
      parts.reduce((at, p) => (joined.set(p.logits.data, at), at + p.logits.data.length), 0);
      logits = { dims: [rows.length, vocab], data: joined };
    }
    return {
      logits,
      records: parts.map((p) => p.record),
      incidents: parts.flatMap((p) => p.incidents),
      leases: parts.flatMap((p) => (p.lease !== undefined ? [p.lease] : [])),
    };
  }

  private async runOne(rows: readonly StepRow[]): Promise<{ logits: Tensor; record: StepRecord; incidents: readonly Incident[]; lease?: TokenLease | undefined }> {
    const step = new PhaseTotals();
    const observer: RunObserver = { phase: (p, ms, l) => (step.phase(p, ms, l), this.totals.phase(p, ms, l)) };
    const tokens = { count: rows.length, layers: this.model.quantized.layers };
    const run = await timedAsync(observer, 'pad', undefined, () => this.protocol.start(observer, tokens));
    try {
      const linear = (name: string, x: Tensor): Promise<Tensor> => crossLinear(run, this.rowsOf(name, x.dims[0]!), x, observer, this.biases);
      const logits = await decoderStep(this.decoder, this.model.graph, rows, linear, (phase, ms) => observer.phase(phase, ms));
      const lease = run.pads === undefined ? undefined : 'indices' in run.pads ? (run.pads as TokenLease) : { ...run.pads, indices: [run.pads.index] };
      const record: StepRecord = { tokens: rows.length, layers: [...run.execution.layers], ...(lease !== undefined ? { pads: lease.indices } : {}), timings: step.ms };
      return { logits, record, incidents: run.execution.incidents, lease };
    } finally {
      run.end();
    }
  }

  /** `name`'s layer over n token rows (the one-row layer itself for n = 1): same weights, scales and index. */
  private rowsOf(name: string, n: number): QuantizedLayer {
    const layer = this.byName.get(name)!;
    if (n === 1) return layer;
    const key = `${name}\u0000${n}`;
    let view = this.views.get(key);
    if (view === undefined) {
      const [k, m] = [layer.inDims[1]!, layer.outDims[1]!];
      view = { ...layer, inDims: [n, k], outDims: [n, m], macs: n * k * m };
      this.views.set(key, view);
    }
    return view;
  }

  close(): void {
    releaseBiases(this.biases);
  }
}
