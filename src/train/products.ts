/**
 * Every linear product of a training step, outsourced and checked (docs/design.md §3, §8). A product is
 * C = A·B of small signed integers (A: rows×inner, B: inner×cols, the quantized operands of
 * train/quantize.ts); the accelerator computes it over Z_p and the trusted runtime accepts it only
 * after Freivalds' check, before anything is computed from it.
 *
 * Exactness bound: the inner dimension is split into chunks, each chunk one product, so that every
 * chunk's true entries satisfy |c| ≤ (p − 1)/2 and the centered lift of its residue is the integer
 * itself; the chunks are summed in doubles (exact: < 2^53 for any count of chunks below 2^29). The
 * worst case, inner·maxA·maxB ≤ (p − 1)/2, needs no split; otherwise `chunkPlan` grows each chunk
 * term by term while the smallest of three bounds on |c_rj| = |Σ_k a_rk·b_kj| over the chunk stays
 * within (p − 1)/2: max_r Σ_k |a_rk| · max |b|, max |a| · max_j Σ_k |b_kj|, and Σ_k max_r |a_rk| ·
 * max_j |b_kj|. Quantized gradients and activations are mostly far below their maximum, so chunks are
 * many times longer than the worst case's kc = ⌊((p − 1)/2) / (maxA·maxB)⌋ (520 at 8 bits): fewer
 * chunks to register, send and check. The accelerator's kernels take A as
 * residues and B (|b| ≤ 2^15) as the layer's weights: (p − 1)·Σ|b| < 2^53 (field/prime.ts) holds for
 * any kc here, and the host checks it again when the chunk is registered.
 *
 * The check (verify/dense-product.ts): s uniform in Z_p^cols from the OS CSPRNG, fresh for every chunk
 * and repetition (W changes every step, so the W-side vector B·s is recomputed: O(inner·cols)); accept
 * iff C·s ≡ A·(B·s) (mod p) row by row, A·(B·s) from the chunk's signed integers read in place (they
 * are congruent to the residues sent). A wrong C passes one repetition with probability ≤ 1/p
 * (one-sided), k repetitions ≤ p^−k, a step of n chunks ≤ n·p^−k (union bound).
 *
 * On a failed check or a malformed reply: `abort` throws (IntegrityError / MalformedResponseError,
 * nothing computed from the product, so the weights of that step never change); `recompute`
 * computes that chunk in the trusted runtime (kernels/exact-linear.ts) and records the incident.
 */
import { randomBytes } from 'node:crypto';
import type { AcceleratorBackend, PublicLayer } from '../accel/backend.js';
import { acceptResidues } from '../boundary/accept.js';
import { hasErrorCode, IntegrityError, OverflowError } from '../errors.js';
import { HALF_P, P } from '../field/prime.js';
import { applyExactSync } from '../kernels/exact-linear.js';
import { signedProductHolds } from '../verify/dense-product.js';
import { residuesOf } from './quantize.js';
import { f64Of, type StepScratch } from './scratch.js';

export type ProductKind = 'forward' | 'grad-input' | 'grad-weight';
export const PRODUCT_KINDS: readonly ProductKind[] = ['forward', 'grad-input', 'grad-weight'];
export type FailurePolicy = 'abort' | 'recompute';

/** Which product of which layer: names the accelerator's registered chunk and any error. */
export interface ProductSite {
  /** Index of the linear layer in the model (0-based). */
  readonly layer: number;
  readonly layerName: string;
  readonly kind: ProductKind;
}

const CHUNK_BITS = 12;

/** The accelerator layer id of chunk `chunk` of a site's product (stable across steps: a new step's chunk replaces the old one). */
export function productLayerId(layer: number, kind: ProductKind, chunk = 0): number {
  return ((layer * PRODUCT_KINDS.length + PRODUCT_KINDS.indexOf(kind)) << CHUNK_BITS) + chunk;
}

/** The inner-dimension chunk that keeps every entry of a chunk's product within (−p/2, p/2). */
export function chunkLength(inner: number, maxA: number, maxB: number): number {
  const perTerm = maxA * maxB;
  if (perTerm === 0) return Math.max(1, inner);
  const kc = Math.floor(HALF_P / perTerm);
  if (kc < 1) throw new OverflowError(`operands up to ${maxA} and ${maxB} overflow (−p/2, p/2) in a single product`);
  return Math.min(kc, Math.max(1, inner));
}

/** max_r Σ_k |a_rk| over the whole inner dimension (A rows×inner, read in its own order). */
function wholeRowBound(a: Float64Array, rows: number, inner: number): number {
  let peak = 0;
  for (let r = 0, at = 0; r < rows; r++) {
    let sum = 0;
    for (const end = at + inner; at < end; at++) sum += Math.abs(a[at]!);
    if (sum > peak) peak = sum;
  }
  return peak;
}

/** max_j Σ_k |b_kj| over the whole inner dimension (B inner×cols, read in its own order). */
function wholeColumnBound(b: Float64Array, inner: number, cols: number): number {
  const sums = new Float64Array(cols);
  for (let k = 0, at = 0; k < inner; k++) for (let j = 0; j < cols; j++, at++) sums[j] += Math.abs(b[at]!);
  let peak = 0;
  for (let j = 0; j < cols; j++) if (sums[j]! > peak) peak = sums[j]!;
  return peak;
}

/**
 * Where the inner dimension's chunks start (ascending from 0, then `inner`): each chunk as long as the
 * bounds of the module comment keep every entry of its product within ±(p − 1)/2; one chunk without
 * the term-by-term walk where a whole-length bound already allows it (most forward products).
 * `knownRowSum`, where the caller has it, is max_r Σ_k |a_rk| (saves a pass over A). Deterministic in
 * the operands.
 */
export function chunkPlan(a: Float64Array, rows: number, inner: number, b: Float64Array, cols: number, maxA: number, maxB: number, knownRowSum?: number): number[] {
  if (chunkLength(inner, maxA, maxB) === inner || (knownRowSum ?? wholeRowBound(a, rows, inner)) * maxB <= HALF_P || maxA * wholeColumnBound(b, inner, cols) <= HALF_P) return [0, inner];
  const rowSum = new Float64Array(rows);
  const colSum = new Float64Array(cols);
  const starts = [0];
  let maxRowSum = 0, maxColSum = 0, chunkMaxA = 0, chunkMaxB = 0, diagonal = 0;
  for (let k = 0; k < inner; k++) {
    let ka = 0, kb = 0, rowPeak = maxRowSum, colPeak = maxColSum;
    for (let r = 0, at = k; r < rows; r++, at += inner) {
      const v = Math.abs(a[at]!);
      if (v > ka) ka = v;
      const sum = (rowSum[r] += v);
      if (sum > rowPeak) rowPeak = sum;
    }
    for (let j = 0, at = k * cols; j < cols; j++, at++) {
      const v = Math.abs(b[at]!);
      if (v > kb) kb = v;
      const sum = (colSum[j] += v);
      if (sum > colPeak) colPeak = sum;
    }
    if (ka * kb > HALF_P) throw new OverflowError(`operands up to ${ka} and ${kb} overflow (−p/2, p/2) in a single product`);
    const mA = Math.max(chunkMaxA, ka);
    const mB = Math.max(chunkMaxB, kb);
    if (k > starts[starts.length - 1]! && Math.min(rowPeak * mB, mA * colPeak, diagonal + ka * kb) > HALF_P) {
      // Term k starts the next chunk: the sums restart from its values alone.
      starts.push(k);
      rowPeak = colPeak = 0;
      for (let r = 0, at = k; r < rows; r++, at += inner) if ((rowSum[r] = Math.abs(a[at]!)) > rowPeak) rowPeak = rowSum[r]!;
      for (let j = 0, at = k * cols; j < cols; j++, at++) if ((colSum[j] = Math.abs(b[at]!)) > colPeak) colPeak = colSum[j]!;
      chunkMaxA = ka;
      chunkMaxB = kb;
      diagonal = ka * kb;
    } else {
      chunkMaxA = mA;
      chunkMaxB = mB;
      diagonal += ka * kb;
    }
    maxRowSum = rowPeak;
    maxColSum = colPeak;
  }
  starts.push(inner);
  return starts;
}

export interface ProductStats {
  products: number;
  chunks: number;
  /** Incidents recovered under `recompute`: `code@site` in order. */
  readonly incidents: string[];
  acceleratorMs: number;
  verifyMs: number;
  /** Multiply-accumulates the accelerator was asked for. */
  macs: number;
}

export interface ProductOptions {
  /** Absent: baseline, every chunk computed in the trusted runtime (nothing to check). */
  readonly backend: AcceleratorBackend | undefined;
  /** Freivalds repetitions per chunk (≥ 1). */
  readonly repetitions: number;
  readonly onFailure: FailurePolicy;
  /** Where a step's residues and products live (reset by the trainer each step); absent: fresh arrays. */
  readonly scratch?: StepScratch;
}

/** out += the centered lift of each residue of y (a chunk's checked product). */
function addCentered(out: Float64Array, y: Uint32Array): void {
  for (let i = 0; i < out.length; i++) {
    const v = y[i]!;
    out[i] += v > HALF_P ? v - P : v;
  }
}

/** A chunk computed in the trusted runtime (baseline, or a recomputed chunk). */
function trustedProduct(a: Uint32Array, w: Float64Array, rows: number, inner: number, cols: number): Uint32Array {
  return applyExactSync({ op: 'Gemm', wDims: [inner, cols], w: { dims: [inner, cols], data: w } }, [rows, inner], a);
}

/** An operand's canonical residues and max_r Σ_k |a_rk|, computed by whoever wrote it. */
export interface KnownOperand {
  readonly residues: Uint32Array;
  readonly maxRowSum: number;
}

/** What a layer needs of the products: one exact integer product (VerifiedProducts, or a test's float stand-in). */
export type ProductMultiplier = Pick<VerifiedProducts, 'multiply'>;

export class VerifiedProducts {
  readonly stats: ProductStats = { products: 0, chunks: 0, incidents: [], acceleratorMs: 0, verifyMs: 0, macs: 0 };
  private readonly prefix = randomBytes(6).toString('hex');
  private requests = 0;

  constructor(private readonly o: ProductOptions) {}

  /** log2 of the probability that one wrong chunk passes its k repetitions. */
  get log2ErrorPerChunk(): number {
    return -this.o.repetitions * Math.log2(P);
  }

  /**
   * A·B exactly (integers as doubles, rows×cols), computed by the accelerator and checked chunk by
   * chunk; `a` rows×inner and `b` inner×cols hold integers with |a| ≤ maxA, |b| ≤ maxB. `known`:
   * what the caller computed of A while writing it (its residues, max_r Σ_k |a_rk|), not recomputed here.
   */
  async multiply(site: ProductSite, a: Float64Array, rows: number, inner: number, b: Float64Array, cols: number, maxA: number, maxB: number, known?: KnownOperand): Promise<Float64Array> {
    // The check reads A and B as signed integers of at most 16 bits (verify/dense-product.ts).
    if (maxA > 2 ** 15 || maxB > 2 ** 15) throw new OverflowError(`${site.layerName} ${site.kind}: operands up to ${Math.max(maxA, maxB)} exceed 2^15`);
    const starts = chunkPlan(a, rows, inner, b, cols, maxA, maxB, known?.maxRowSum);
    const chunks = starts.length - 1;
    if (chunks >= 2 ** CHUNK_BITS) throw new OverflowError(`${site.layerName} ${site.kind}: ${chunks} chunks; use a smaller --batch`);
    const name = `${site.layerName} ${site.kind}`;
    const parts: { a: Uint32Array; w: Float64Array; k0: number; len: number; id: number }[] = [];
    for (let c = 0; c < chunks; c++) {
      const k0 = starts[c]!;
      const len = starts[c + 1]! - k0;
      const ac = chunks === 1 && known !== undefined ? known.residues : (this.o.scratch?.u32(rows * len) ?? new Uint32Array(rows * len));
      if (chunks === 1) {
        if (known === undefined) residuesOf(a, ac);
      } else for (let r = 0; r < rows; r++) residuesOf(a.subarray(r * inner + k0, r * inner + k0 + len), ac.subarray(r * len, (r + 1) * len));
      parts.push({ a: ac, w: chunks === 1 ? b : b.slice(k0 * cols, (k0 + len) * cols), k0, len, id: productLayerId(site.layer, site.kind, c) });
    }
    const out = f64Of(this.o.scratch, rows * cols);
    const add = (y: Uint32Array): void => addCentered(out, y);
    this.stats.products++;
    this.stats.chunks += chunks;
    this.stats.macs += rows * inner * cols;
    const backend = this.o.backend;
    if (backend === undefined) {
      for (const p of parts) add(trustedProduct(p.a, p.w, rows, p.len, cols));
      return out;
    }
    const layers: PublicLayer[] = parts.map((p, c) => ({ id: p.id, name: `${name} [${c}]`, op: 'Gemm', wDims: [p.len, cols], w: { dims: [p.len, cols], data: p.w } }));
    const start = performance.now();
    await backend.loadWeights(layers);
    const ids = parts.map(() => `${this.prefix}-${++this.requests}`);
    const replies = await Promise.all(parts.map((p, c) => backend.linear({ requestId: ids[c]!, layerId: p.id, dims: [rows, p.len], x: p.a }).then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }))));
    this.stats.acceleratorMs += performance.now() - start;
    for (let c = 0; c < chunks; c++) {
      const p = parts[c]!;
      const reply = replies[c]!;
      let y: Uint32Array;
      const t0 = performance.now();
      try {
        if (!reply.ok) throw reply.e;
        y = acceptResidues(reply.r, { requestId: ids[c]!, layerId: p.id, layerName: layers[c]!.name, dims: [rows, cols] });
        if (!signedProductHolds(a, inner, p.k0, p.w, y, rows, p.len, cols, this.o.repetitions)) throw new IntegrityError(`Freivalds' check failed: the accelerator's product is wrong`, { layer: layers[c]!.name });
      } catch (e) {
        if (this.o.onFailure === 'abort' || !hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_MALFORMED', 'SLALOM_ERR_TRANSPORT')) throw e;
        backend.reportFailure?.(ids[c]!, e as Error);
        this.stats.incidents.push(`${(e as { code: string }).code}@${layers[c]!.name}`);
        y = trustedProduct(p.a, p.w, rows, p.len, cols);
      } finally {
        this.stats.verifyMs += performance.now() - t0;
      }
      backend.recycle?.(ids[c]!);
      add(y);
    }
    return out;
  }
}
