/**
 * Attention's products of two activations (QKᵀ, softmax·V) on the accelerator, in the clear, with
 * integrity only (docs/design.md §9; modes `outsourced` and `verified`, never the private ones: both
 * operands are activations, and a pad cannot hide them). Each product A·B (A: m×k, B: k×n, one per
 * head and batch item) is quantized per tensor, B is registered with the accelerator as a per-request
 * layer and A sent (as verified training does, train/products.ts), the exact product over Z_p comes
 * back, is checked with Freivalds (verify/dense-product.ts: C·s ≡ A·(B·s), O(m·k + k·n + m·n) instead
 * of O(m·k·n)) when checking, and is dequantized; the graph goes on in float64.
 *
 * Exactness bound: with |ã| ≤ L and |b̃| ≤ L, every entry of Ã·B̃ is a sum of k terms of magnitude
 * ≤ L², so L = ⌊√((p − 1)/2 / k)⌋ keeps it within (−p/2, p/2), where its centered residue is the
 * integer itself (k = 64: L = 362, 9.5 bits a side; k = 512: L = 128). The accelerator's kernels
 * also need (p − 1)·Σ|b̃| < 2^53 per output (field/prime.ts): (p − 1)·k·L ≤ 2^24·√(2^23·k) < 2^53 for
 * any k < 2^35. A fan-in that leaves fewer than MIN_LEVELS levels a side (k > 2048), or an operand with
 * a non-finite value, cannot be made exact at a useful precision: that product runs in the trusted
 * runtime in float64, as without the offload, and the execution log says so.
 *
 * A failed check or a malformed reply: `abort` throws (no result); `recompute` computes the same
 * integer product in the trusted runtime (so the bits do not change), records the incident, and the
 * protocol distrusts the accelerator for the rest of the run.
 */
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';
import { acceptResidues } from '../boundary/accept.js';
import { hasErrorCode, IntegrityError, InvalidArgumentError, type SlalomError } from '../errors.js';
import { HALF_P, P } from '../field/prime.js';
import { applyExactSync } from '../kernels/exact-linear.js';
import { matmul, matmulPlan } from '../kernels/float/matmul.js';
import type { Tensor } from '../tensor/tensor.js';
import { denseProductHolds } from '../verify/dense-product.js';
import { TRUSTED_REASONS, type ExecutionLog } from './execution.js';
import type { Mode } from './modes.js';

/** Where attention's activation products run: the trusted runtime (default), or the accelerator (integrity only). */
export type AttentionPlace = 'trusted' | 'accelerator';
export const ATTENTION_PLACES: readonly AttentionPlace[] = ['trusted', 'accelerator'];

/**
 * Accelerator layer ids of activation products, above any model layer's index: each ActivationProducts
 * (one per protocol, so per session or serving lane) owns a range of SLICE_IDS ids, one per head and
 * batch item, so two sessions sharing an accelerator never overwrite each other's registered operand.
 */
export const ACTIVATION_LAYER_BASE = 1 << 24;
const SLICE_IDS = 1 << 12;
let instances = 0;
/** Why the private modes refuse `attention: 'accelerator'`. */
export const ATTENTION_PRIVATE_REFUSAL = "--attention accelerator is refused in the private modes: it would send attention's activations to the accelerator in the clear (use outsourced or verified)";

/** `place` checked for `mode`: 'accelerator' only in `outsourced` and `verified` (the CLI asks before loading a model). */
export function attentionPlaceFor(mode: Mode, place: string | undefined): AttentionPlace {
  const p = place ?? 'trusted';
  if (!(ATTENTION_PLACES as readonly string[]).includes(p)) throw new InvalidArgumentError(`--attention must be one of ${ATTENTION_PLACES.join(', ')}, got '${p}'`);
  if (p === 'accelerator' && (mode === 'private' || mode === 'private+verified')) throw new InvalidArgumentError(ATTENTION_PRIVATE_REFUSAL);
  if (p === 'accelerator' && mode === 'baseline') throw new InvalidArgumentError('--attention accelerator needs an accelerator: mode outsourced or verified, not baseline');
  return p as AttentionPlace;
}

/** Fewer integer levels a side than this (k > 2048) is too coarse: the product stays in float64 in the trusted runtime. */
export const MIN_LEVELS = 64;

export interface ActivationProductOptions {
  readonly accelerator: AcceleratorBackend;
  /** Freivalds repetitions per product; 0: unchecked (mode `outsourced`). */
  readonly repetitions: number;
  readonly onFailure: 'abort' | 'recompute';
  /** A prefix of request ids unique to this trusted runtime, and a counter. */
  readonly nextRequestId: () => string;
}

/** How one inference runs its activation products (the protocol decides whether the accelerator may be asked). */
export interface ActivationRun {
  /** Why the accelerator is not to be asked now, or undefined when it may be. */
  readonly trustedBecause: () => string | undefined;
  /** A refused reply under 'recompute': report it and stop asking the accelerator. */
  readonly refused: (layer: string, error: SlalomError) => void;
  readonly execution: ExecutionLog;
  /** Milliseconds spent waiting for the accelerator (the trusted thread idle), as they pass. */
  readonly waited?: (ms: number) => void;
}

/** L: the largest integer magnitude a side for an exact product of fan-in k. */
export function levelsFor(k: number): number {
  return Math.floor(Math.sqrt(HALF_P / Math.max(1, k)));
}

/** Per-tensor quantization to |q| ≤ levels: q = round(x·scale). Undefined when a value is not finite. */
function quantize(x: Float64Array, levels: number): { q: Float64Array; scale: number } | undefined {
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const v = Math.abs(x[i]!);
    if (!Number.isFinite(v)) return undefined;
    if (v > max) max = v;
  }
  const scale = max === 0 ? 1 : levels / max;
  const q = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) q[i] = Math.round(x[i]! * scale);
  return { q, scale };
}

function residues(q: Float64Array): Uint32Array {
  const out = new Uint32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i]! < 0 ? q[i]! + P : q[i]!;
  return out;
}

export class ActivationProducts {
  private readonly firstId = ACTIVATION_LAYER_BASE + (instances++ % SLICE_IDS) * SLICE_IDS;

  constructor(private readonly o: ActivationProductOptions) {}

  /** A·B (numpy.matmul semantics) for the node `name`, as the offload computes it; recorded in `run.execution`. */
  async multiply(name: string, a: Tensor, b: Tensor, run: ActivationRun): Promise<Tensor> {
    const plan = matmulPlan(a.dims, b.dims);
    const { m, k, n } = plan;
    const levels = levelsFor(k);
    const slices = plan.aOffsets.length;
    const qa = levels < MIN_LEVELS || slices > SLICE_IDS ? undefined : quantize(a.data, levels);
    const qb = qa === undefined ? undefined : quantize(b.data, levels);
    if (qa === undefined || qb === undefined) {
      const why =
        levels < MIN_LEVELS ? `a fan-in of ${k} leaves fewer than ${MIN_LEVELS} levels a side for an exact product over Z_p` : slices > SLICE_IDS ? `more than ${SLICE_IDS} heads × batch items` : 'an operand holds a non-finite value';
      run.execution.trusted(`${name} (activation product)`, `${why}: computed in float64`);
      return matmul(a, b);
    }
    const ares = residues(qa.q);
    const parts = Array.from({ length: slices }, (_, t) => ({
      a: ares.subarray(plan.aOffsets[t]!, plan.aOffsets[t]! + m * k),
      b: qb.q.subarray(plan.bOffsets[t]!, plan.bOffsets[t]! + k * n),
    }));
    const label = `${name} (activation product)`;
    const why = run.trustedBecause();
    const products = why === undefined ? await this.fromAccelerator(label, parts, m, k, n, run) : why;
    if (typeof products === 'string') run.execution.trusted(label, products);
    else run.execution.accelerator(label, this.o.repetitions > 0);
    const out = new Float64Array(slices * m * n);
    const unscale = 1 / (qa.scale * qb.scale);
    for (let t = 0; t < slices; t++) {
      const c = typeof products !== 'string' ? products[t]! : trustedProduct(parts[t]!.a, parts[t]!.b, m, k, n);
      for (let i = 0; i < m * n; i++) {
        const v = c[i]!;
        out[t * m * n + i] = (v > HALF_P ? v - P : v) * unscale;
      }
    }
    return { dims: plan.out, data: out };
  }

  /** Every slice's product from the accelerator, accepted and checked; after a refused reply under 'recompute', why the trusted runtime computes them. */
  private async fromAccelerator(label: string, parts: readonly { a: Uint32Array; b: Float64Array }[], m: number, k: number, n: number, run: ActivationRun): Promise<Uint32Array[] | string> {
    const { accelerator } = this.o;
    // A slice of a larger buffer on memory of its own: structured clone copies a view's whole buffer.
    const own = (b: Float64Array): Float64Array => (b.length === b.buffer.byteLength / 8 ? b : b.slice());
    const layers: PublicLayer[] = parts.map((p, t) => ({ id: this.firstId + t, name: `${label} [${t}]`, op: 'Gemm', wDims: [k, n], w: { dims: [k, n], data: own(p.b) } }));
    const start = performance.now();
    await accelerator.loadWeights(layers);
    const ids = parts.map(() => this.o.nextRequestId());
    const replies = await Promise.all(parts.map((p, t) => accelerator.linear({ requestId: ids[t]!, layerId: layers[t]!.id, dims: [m, k], x: p.a }).then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }))));
    run.waited?.(performance.now() - start);
    const out: Uint32Array[] = [];
    let failure: SlalomError | undefined;
    for (let t = 0; t < parts.length; t++) {
      const reply = replies[t]!;
      try {
        if (failure !== undefined) continue;
        if (!reply.ok) throw reply.e;
        const c = acceptResidues(reply.r, { requestId: ids[t]!, layerId: layers[t]!.id, layerName: layers[t]!.name, dims: [m, n] });
        if (this.o.repetitions > 0 && !denseProductHolds(parts[t]!.a, parts[t]!.b, c, m, k, n, this.o.repetitions)) {
          throw new IntegrityError(`Freivalds' check failed: the accelerator's activation product is wrong`, { layer: layers[t]!.name });
        }
        out.push(c);
      } catch (e) {
        if (this.o.onFailure === 'abort' || !hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED')) throw e;
        accelerator.reportFailure?.(ids[t]!, e as Error);
        failure = e as SlalomError;
      } finally {
        accelerator.recycle?.(ids[t]!);
      }
    }
    if (failure === undefined) return out;
    run.refused(label, failure);
    return TRUSTED_REASONS.recomputed(failure.code);
  }
}

/** One slice's integer product in the trusted runtime (a recomputation, or when the accelerator is not asked). */
function trustedProduct(a: Uint32Array, b: Float64Array, m: number, k: number, n: number): Uint32Array {
  return applyExactSync({ op: 'Gemm', wDims: [k, n], w: { dims: [k, n], data: b } }, [m, k], a);
}
