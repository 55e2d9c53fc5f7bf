/**
 * The trusted runtime's integrity gate (DESIGN.md §3): checks every outsourced linear result with k
 * repetitions of the configured Freivalds variant and throws IntegrityError (naming the layer) on
 * the first failed repetition. Preprocessed secrets are drawn from the CSPRNG when the verifier is
 * prepared, never leave this object, and are re-drawn for a layer whose check failed (a failure tells
 * the accelerator something about them).
 */
import { IntegrityError, InvalidArgumentError } from '../errors.js';
import { FIELD_SET, sampleSetSize, type SampleSet } from '../field/random.js';
import type { QuantizedLayer } from '../quant/quantize-graph.js';
import { checkBatched, checkFresh, drawPreprocessedSecret, firstFailingPreprocessed, outputSumsFor, type OutputSums, type PreprocessedSecret } from './freivalds.js';
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

interface LayerState {
  readonly map: LinearMap;
  secrets?: PreprocessedSecret[];
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
    for (const layer of layers) this.layers.set(layer.name, { map: linearMap(layer) });
  }

  /** Draws every layer's preprocessed secrets now, so no inference pays for it. Returns the milliseconds spent. */
  prepare(): number {
    const start = performance.now();
    if (this.variant === 'preprocessed') for (const state of this.layers.values()) this.secretsOf(state);
    return performance.now() - start;
  }

  /**
   * For the preprocessed variant: an OutputSums that the validation of this layer's next reply fills
   * as it reads it (boundary/accept.ts), for check() to use. Undefined for the other variants.
   */
  outputSums(layer: QuantizedLayer): OutputSums | undefined {
    if (this.variant !== 'preprocessed') return undefined;
    const state = this.stateOf(layer);
    return outputSumsFor(state.map, this.secretsOf(state));
  }

  /**
   * Accepts y as f(x) or throws IntegrityError. x and y are canonical residues of the whole batch;
   * `known`, from outputSums(), saves reading y again when it was filled from this very y.
   */
  check(layer: QuantizedLayer, x: Float64Array, y: Float64Array, known?: OutputSums): void {
    const state = this.stateOf(layer);
    const failed = this.firstFailure(state, x, y, known);
    if (failed < 0) return;
    if (this.variant === 'preprocessed') state.secrets = undefined;
    throw new IntegrityError(`the accelerator's result failed Freivalds' check (${this.variant}, repetition ${failed + 1} of ${this.repetitions})`, {
      layer: layer.name,
      variant: this.variant,
      repetition: failed + 1,
    });
  }

  private stateOf(layer: QuantizedLayer): LayerState {
    const state = this.layers.get(layer.name);
    if (state === undefined) throw new InvalidArgumentError(`layer '${layer.name}' is not registered with the verifier`);
    return state;
  }

  /** The first repetition that fails, or −1. */
  private firstFailure(state: LayerState, x: Float64Array, y: Float64Array, known: OutputSums | undefined): number {
    if (this.variant === 'preprocessed') return firstFailingPreprocessed(state.map, x, y, this.secretsOf(state), known);
    const check = this.variant === 'fresh' ? checkFresh : checkBatched;
    for (let rep = 0; rep < this.repetitions; rep++) if (!check(state.map, x, y, this.sampleSet)) return rep;
    return -1;
  }

  private secretsOf(state: LayerState): PreprocessedSecret[] {
    state.secrets ??= Array.from({ length: this.repetitions }, () => drawPreprocessedSecret(state.map, this.sampleSet));
    return state.secrets;
  }
}
