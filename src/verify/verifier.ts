/**
 * The trusted runtime's integrity gate (docs/design.md §3): checks every outsourced linear result with k
 * repetitions of the configured Freivalds variant and throws IntegrityError (naming the layer) on
 * the first failed repetition. Preprocessed secrets are drawn from the CSPRNG when the verifier is
 * prepared, never leave this object (their T and weights live in the trusted runtime's memory, for
 * the boundary pass), and are re-drawn for a layer whose check failed (a failure tells the
 * accelerator something about them).
 *
 * What it contributes to a layer's boundary pass (boundary/pass-plan.ts): the input side of the
 * check of the layer a pass writes the request for (T of the current draw), and the output side of
 * the layer whose reply the pass reads (weights, and the decision that compares the two sides). With
 * the preprocessed variant and k ≤ 2 both sides ride the pass; otherwise the decision reads the
 * accepted output and the request whole.
 */
import type { InputSide, OutputSide, Sendable } from '../boundary/pass-plan.js';
import { IntegrityError, InvalidArgumentError } from '../errors.js';
import { FIELD_SET, sampleSetSize, type SampleSet } from '../field/random.js';
import type { Residues } from '../field/residues.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import { alloc, release, u32, type Region } from '../simd/arena.js';
import { dots2 } from '../simd/freivalds.js';
import { checkBatched, checkFresh, drawPreprocessedSecret, firstFailingPreprocessed, outputSide, type PreprocessedSecret } from './freivalds.js';
import { linearMap, type LinearMap } from './linear-map.js';
import { log2ErrorPerInference, repetitionsFor, type CheckVariant, DEFAULT_SOUNDNESS_BITS } from './soundness.js';

export interface VerifyOptions {
  readonly variant?: CheckVariant;
  /** Repetitions per check; default: the fewest that reach `soundnessBits` per inference. */
  readonly repetitions?: number;
  readonly soundnessBits?: number;
  /** Where random entries come from; default all of Z_p. Small sets are for soundness tests only. */
  readonly sampleSet?: SampleSet;
}

/** One draw of a layer's two fused secrets, resident for the boundary pass. */
interface ResidentDraw {
  readonly draw: number;
  readonly ta: Region;
  readonly tb: Region;
  readonly sa: Region;
  readonly sb: Region;
}

interface LayerState {
  readonly map: LinearMap;
  secrets?: PreprocessedSecret[];
  /** Incremented at every re-draw: an input side computed with another draw is recomputed. */
  draw: number;
  resident?: ResidentDraw;
}

export class Verifier {
  readonly variant: CheckVariant;
  readonly repetitions: number;
  readonly sampleSet: SampleSet;
  /** log2 of the probability that a wrong result anywhere in one inference goes undetected. */
  readonly soundnessLog2PerInference: number;
  private readonly layers = new Map<string, LayerState>();

  constructor(layers: readonly QuantizedLayer[], options: VerifyOptions = {}) {
    this.variant = options.variant ?? 'preprocessed';
    this.sampleSet = options.sampleSet ?? FIELD_SET;
    const size = sampleSetSize(this.sampleSet);
    const k = options.repetitions ?? repetitionsFor(this.variant, size, layers.length, options.soundnessBits ?? DEFAULT_SOUNDNESS_BITS);
    if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`repetitions must be a positive integer, got ${k}`);
    this.repetitions = k;
    this.soundnessLog2PerInference = log2ErrorPerInference(this.variant, size, layers.length, k);
    for (const layer of layers) this.layers.set(layer.name, { map: linearMap(layer), draw: 0 });
  }

  /** Draws every layer's preprocessed secrets now, so no inference pays for it. Returns the milliseconds spent. */
  prepare(): number {
    const start = performance.now();
    if (this.variant === 'preprocessed') for (const state of this.layers.values()) this.secretsOf(state);
    return performance.now() - start;
  }

  /** Whether both sides of `layer`'s check ride its boundary passes. */
  private fused(): boolean {
    return this.variant === 'preprocessed' && this.repetitions <= 2;
  }

  /** T of the current draw, for a pass that writes `layer`'s request; undefined when the check is not fused. */
  inputSide(layer: QuantizedLayer): InputSide | undefined {
    if (!this.fused()) return undefined;
    const state = this.stateOf(layer);
    const r = this.residentOf(state);
    return { ta: r.ta, tb: r.tb, item: state.map.inSize, draw: r.draw };
  }

  /**
   * The output side of `layer`'s check of the reply to `request` (what the accelerator saw: x, or
   * x + r): the weights the pass sums the reply's rows with, and the decision.
   */
  outputSide(layer: QuantizedLayer, request: Sendable): OutputSide {
    const state = this.stateOf(layer);
    const x = request.x.data;
    if (!this.fused()) return { decide: ({ y }) => this.decideWhole(layer, state, x, y) };
    const r = this.residentOf(state);
    const [a, b] = [state.secrets![0]!, state.secrets![1] ?? state.secrets![0]!];
    return {
      weights: { sa: r.sa, sb: r.sb },
      decide: ({ sums }) => {
        const items = x.length / state.map.inSize;
        // The request's input side, if it was taken with this draw; else (secrets re-drawn since) from x.
        const dots = request.dots?.draw === r.draw ? request.dots.values : this.inputDots(x, state.map.inSize, r);
        const left = [outputSide(state.map, a, sums!, 0, items), outputSide(state.map, b, sums!, 1, items)];
        for (let rep = 0; rep < Math.min(2, this.repetitions); rep++) {
          for (let n = 0; n < items; n++) if (dots[2 * n + rep] !== left[rep]![n]) this.fail(layer, state, rep);
        }
      },
    };
  }

  /** Accepts y as f(x) or throws IntegrityError; x and y are canonical residues of the whole batch (the standalone check). */
  check(layer: QuantizedLayer, x: Residues, y: Residues): void {
    this.decideWhole(layer, this.stateOf(layer), x, y);
  }

  /** Gives back the trusted memory the fused secrets hold. */
  dispose(): void {
    for (const state of this.layers.values()) this.forget(state);
  }

  private decideWhole(layer: QuantizedLayer, state: LayerState, x: Residues, y: Residues): void {
    let failed = -1;
    if (this.variant === 'preprocessed') failed = firstFailingPreprocessed(state.map, x, y, this.secretsOf(state));
    else {
      const check = this.variant === 'fresh' ? checkFresh : checkBatched;
      for (let rep = 0; rep < this.repetitions && failed < 0; rep++) if (!check(state.map, x, y, this.sampleSet)) failed = rep;
    }
    if (failed >= 0) this.fail(layer, state, failed);
  }

  private fail(layer: QuantizedLayer, state: LayerState, rep: number): never {
    if (this.variant === 'preprocessed') {
      this.forget(state);
      state.secrets = undefined;
      state.draw++;
    }
    throw new IntegrityError(`the accelerator's result failed Freivalds' check (${this.variant}, repetition ${rep + 1} of ${this.repetitions})`, {
      layer: layer.name,
      variant: this.variant,
      repetition: rep + 1,
    });
  }

  /** ⟨x_n, T⟩ for both fused secrets per item. */
  private inputDots(x: Residues, item: number, r: ResidentDraw): Uint32Array {
    const out = new Uint32Array(2 * (x.length / item));
    const [ta, tb] = [u32(r.ta, item), u32(r.tb, item)];
    for (let n = 0; 2 * n < out.length; n++) out.set(dots2(x.subarray(n * item, (n + 1) * item), ta, tb), 2 * n);
    return out;
  }

  private stateOf(layer: QuantizedLayer): LayerState {
    const state = this.layers.get(layer.name);
    if (state === undefined) throw new InvalidArgumentError(`layer '${layer.name}' is not registered with the verifier`);
    return state;
  }

  private secretsOf(state: LayerState): PreprocessedSecret[] {
    state.secrets ??= Array.from({ length: this.repetitions }, () => drawPreprocessedSecret(state.map, this.sampleSet));
    return state.secrets;
  }

  private residentOf(state: LayerState): ResidentDraw {
    if (state.resident !== undefined && state.resident.draw === state.draw) return state.resident;
    this.forget(state);
    const [a, b] = [this.secretsOf(state)[0]!, this.secretsOf(state)[1] ?? this.secretsOf(state)[0]!];
    const upload = (v: Uint32Array): Region => {
      const region = alloc(v.byteLength);
      u32(region, v.length).set(v);
      return region;
    };
    state.resident = { draw: state.draw, ta: upload(a.t), tb: upload(b.t), sa: upload(a.weights), sb: upload(b.weights) };
    return state.resident;
  }

  private forget(state: LayerState): void {
    const r = state.resident;
    if (r === undefined) return;
    for (const region of [r.ta, r.tb, r.sa, r.sb]) release(region);
    state.resident = undefined;
  }
}
