/**
 * The contract of one layer boundary (docs/design.md §7): what runtime/ assembles, per linear layer,
 * from what verify/, quant/ and blind/ contribute, and what boundary/accept.ts runs — one read of
 * the reply, one write of the next request — and then decides, in a fixed order: the gate's range
 * flag (MalformedResponseError), the check (IntegrityError), the magnitudes (OverflowError). Each
 * owner keeps its math and its decision; only the loop is shared. Contract only, no code.
 */
import type { LinearRequest } from './linear-messages.js';
import type { Residues } from '../field/residues.js';
import type { Region } from '../simd/arena.js';
import type { FieldTensor } from '../tensor/field-tensor.js';
import type { Tensor } from '../tensor/tensor.js';

/** What a reply must look like to be this request's answer (the gate's part). */
export interface ExpectedReply {
  readonly requestId: LinearRequest['requestId'];
  readonly layerId: number;
  readonly layerName: string;
  readonly dims: readonly number[];
}

/** How a layer's outputs are read: rows of rowLen values (a Conv's output planes, a Gemm's items). */
export interface RowLayout {
  readonly rows: number;
  readonly rowLen: number;
}

/**
 * Freivalds' output side of this layer's check (verify/): two secrets' weights per position in a
 * row, and the decision over the row sums the pass computed (or, for a check that needs the whole
 * output, over the accepted values themselves).
 */
export interface OutputSide {
  /** Weights (u32 residues, rowLen each); absent for a check that reads the whole output. */
  readonly weights?: { readonly sa: Region; readonly sb: Region };
  /** Throws IntegrityError (and retires the secrets the failure exposed) unless the output matches the input side. */
  decide(found: { readonly sums?: Uint32Array; readonly y: Residues }): void;
}

/** Freivalds' input side of the next layer's check (verify/): T of two secrets per position in an item. */
export interface InputSide {
  readonly ta: Region;
  readonly tb: Region;
  /** Values per item. */
  readonly item: number;
  /** Which draw of the secrets T belongs to: the next layer's check compares only against the same draw. */
  readonly draw: number;
}

/** Requantization (quant/): how integer outputs become the next layer's values, and its magnitude decisions. */
export interface RequantTerm {
  /** Bias residues (i32), per row (mod channels) or, perColumn, per position in a row. */
  readonly bias: Region;
  readonly perColumn: boolean;
  readonly channels: number;
  /** The clamp in integer units (±2^30: none). */
  readonly lo: number;
  readonly hi: number;
  /** A 2×2 max pool (stride 2) on planes of this width; 0: none. */
  readonly poolWidth: number;
  /** ≥ 0: a right shift onto the next layer's grid; −1: float outputs. */
  readonly shift: number;
  /** 2^−(lx+lw). */
  readonly dequant: number;
  /** A residual Add's other operand (resident, one per output) and whether a ReLU follows. */
  readonly addend?: { readonly values: Float64Array; readonly relu: boolean };
  /** Dims of the float outputs, when they are kept (for non-linear consumers). */
  readonly floatDims?: readonly number[];
  /** Throws OverflowError when the largest output magnitude `worst` may have wrapped mod p. */
  decide(worst: number): void;
}

/** The next layer's request, as this pass writes it. */
export interface NextRequest {
  readonly layerName: string;
  readonly dims: readonly number[];
  /** 2^lx′, when the next values come from floats (a residual Add's output, a float source). */
  readonly quantScale?: number;
  readonly check?: InputSide;
  /** Keystream bytes of the next layer's pad (blind/): x′ + r′ leaves, never x′. */
  readonly pad?: Region;
  /** A transport's request buffer (outside the arena) the pass writes the request into as well: no copy before it leaves. */
  readonly wire?: Uint32Array;
  /** Throws OverflowError when the next layer's inputs leave (−p/2, p/2) or did not round. */
  decide(nextMax: number, inexact: boolean): void;
}

export interface BoundaryPlan {
  readonly reply: ExpectedReply;
  readonly layout: RowLayout;
  /** Packed unblinding factor u (3 bytes per output value; blind/). */
  readonly unblind?: Region;
  readonly check?: OutputSide;
  readonly requant: RequantTerm;
  readonly next?: NextRequest;
  /** false: the owners' steps as separate passes (each timed on its own), for the per-owner report. */
  readonly fuse: boolean;
}

/** A request ready to leave for `layerName`: x (resident; x + r in the private modes) and its input side. */
export interface Sendable {
  readonly layerName: string;
  readonly x: FieldTensor;
  /** max |x̃| before any pad: what the layer's wrap-around bound needs. */
  readonly maxAbs: number;
  /** ⟨x_n, T⟩ for two secrets per item, and the draw of T they were taken with. */
  readonly dots?: { readonly values: Uint32Array; readonly draw: number };
  /** The same values as x in the transport's request buffer (NextRequest.wire), to send as they are. */
  readonly wire?: Uint32Array;
}

/** What an accepted boundary gives: the float outputs (resident) and/or the next layer's request. */
export interface Crossing {
  readonly floats?: Tensor;
  readonly next?: Sendable;
}

/** A float value onto the first linear layer's grid (quant/ and the next layer's owners, as NextRequest). */
export interface RequestPlan {
  readonly next: NextRequest;
  readonly fuse: boolean;
}

/** How the boundary reports the time of its passes: one `boundary` phase fused, per-owner phases apart. */
export type PhaseSink = (phase: string, ms: number) => void;
