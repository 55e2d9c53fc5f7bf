/**
 * The one pass per layer boundary (assembly/boundary.ts, docs/design.md §7) as a typed call: the plan's
 * addresses are resident regions (arena.ts), written into the kernel's plan block
 * (boundary-fields.ts); the pass's findings come back as a PassResult. This module only runs the
 * pass: boundary/accept.ts is its one caller for a reply, and decides what the findings mean.
 *
 * Two implementations run the one plan block, with the same results bit for bit: the native
 * addon (native.ts; AVX-512 or AVX2, as the CPU allows) where it loads, else the WebAssembly
 * module. SLALOM_BOUNDARY picks one: wasm, native (its best path), native-avx512,
 * native-avx2 or native-portable.
 */
import { InvalidArgumentError } from '../errors.js';
import { alloc, f64, release, u32, type Region } from './arena.js';
import * as F from './boundary-fields.js';
import { simd } from './module.js';
import { forceNativePath, nativeBest, nativeBoundaryPass, nativeUnavailable, NATIVE_PATHS, type NativePath } from './native.js';

/** Freivalds' output side: row sums of two secrets' weights (u32, one per position in a row), into 2 u32 per row. */
export interface OutputSideAt {
  readonly sa: number;
  readonly sb: number;
  readonly sums: number;
}

/** Freivalds' input side of the next layer: T of two secrets (u32, one per position in an item), into 2 u32 per item. */
export interface InputSideAt {
  readonly ta: number;
  readonly tb: number;
  readonly dots: number;
}

export interface PassPlan {
  readonly source: 'reply' | 'floats' | 'residues';
  /** Where the source lies in the module's memory; unused (0) with `reply`. */
  readonly sourceAt: number;
  /**
   * A reply's values where they arrived (source 'reply'; a buffer outside the module's memory that
   * only the trusted runtime holds, so nothing changes it during the pass): read there by the native
   * pass — the reply then crosses memory once — and copied into the module's memory for the
   * WebAssembly pass, which can address nothing else.
   */
  readonly reply?: Uint32Array;
  readonly rows: number;
  readonly rowLen: number;
  readonly checkOut?: OutputSideAt;
  /** Packed u (3 bytes per value). */
  readonly unblindAt?: number;
  readonly bias?: { readonly at: number; readonly perColumn: boolean; readonly channels: number };
  readonly lo?: number;
  readonly hi?: number;
  /** A fused 2×2 max pool: rows are planes of this width. */
  readonly poolWidth?: number;
  /** ≥ 0: shift onto the next grid; −1: float outputs. */
  readonly shift?: number;
  readonly dequant?: number;
  readonly addendAt?: number;
  readonly relu?: boolean;
  readonly floatOutAt?: number;
  /** 2^lx′ for floats onto the next grid. */
  readonly quantScale?: number;
  readonly nextAt?: number;
  readonly nextItem?: number;
  readonly checkIn?: InputSideAt;
  /** Keystream bytes of the next layer's pad. */
  readonly padAt?: number;
  /**
   * The request buffer that leaves (a transport's, outside the module's memory; at least the next
   * values long): the next layer's values are written there too, so no copy into a message follows.
   * The native pass writes it in the same pass; the WebAssembly pass cannot address memory outside
   * its own, so its values are copied there after it.
   */
  readonly wire?: Uint32Array;
}

export interface PassResult {
  /** Some reply value was not a residue (the sums and outputs then mean nothing). */
  readonly bad: boolean;
  /** max |z| before the clamp, over every output. */
  readonly worst: number;
  /** max |x′| over the next layer's inputs. */
  readonly nextMax: number;
  /** Some float did not round to an int32 (NaN, ±∞, ≥ 2^31 in magnitude). */
  readonly inexact: boolean;
  /** Keystream bytes the pad used. */
  readonly padBytes: number;
}

/** Clamp bounds no centered value (< 2^23) reaches. */
export const UNBOUNDED = 2 ** 30;

export type BoundaryImplementation = 'wasm' | `native-${NativePath}`;
export const BOUNDARY_IMPLEMENTATIONS: readonly BoundaryImplementation[] = ['wasm', ...NATIVE_PATHS.map((p) => `native-${p}` as const)];

let implementation: BoundaryImplementation | undefined;

/**
 * Runs the boundary pass with `name` from now on ('native': the addon's best path); throws when it
 * is unknown or cannot run here (no addon, or a CPU without the path's instructions).
 */
export function useBoundaryImplementation(name: string): BoundaryImplementation {
  const wanted = name === 'native' ? `native-${nativeBest() ?? 'avx512'}` : name;
  if (!(BOUNDARY_IMPLEMENTATIONS as readonly string[]).includes(wanted)) {
    throw new InvalidArgumentError(`unknown boundary implementation '${name}' (expected native, ${BOUNDARY_IMPLEMENTATIONS.join(', ')})`);
  }
  if (wanted !== 'wasm') {
    const path = wanted.slice('native-'.length) as NativePath;
    const missing = nativeUnavailable();
    if (missing !== '') throw new InvalidArgumentError(`boundary implementation '${name}' is not available: the native addon did not load (${missing})`);
    if (!forceNativePath(path)) throw new InvalidArgumentError(`boundary implementation '${name}' is not available: this CPU lacks ${path} (best: ${nativeBest()})`);
  }
  implementation = wanted as BoundaryImplementation;
  return implementation;
}

/**
 * The implementation the pass runs with: SLALOM_BOUNDARY's, else the native addon's AVX-512 or AVX2
 * path where it loads, else wasm (whose 128-bit SIMD outruns the portable C path, which runs only
 * when asked for).
 */
export function boundaryImplementation(): BoundaryImplementation {
  if (implementation !== undefined) return implementation;
  const asked = process.env.SLALOM_BOUNDARY;
  if (asked !== undefined && asked !== '') return useBoundaryImplementation(asked);
  const best = nativeBest();
  return (implementation = best === undefined || best === 'portable' ? 'wasm' : `native-${best}`);
}

let block: Region | undefined;

export function boundaryPass(plan: PassPlan): PassResult {
  block ??= alloc(8 * F.FIELDS);
  const b = f64(block, F.FIELDS);
  b.fill(0);
  b[F.SOURCE] = plan.source === 'reply' ? F.SOURCE_REPLY : plan.source === 'floats' ? F.SOURCE_FLOATS : F.SOURCE_RESIDUES;
  b[F.SOURCE_AT] = plan.sourceAt;
  b[F.ROWS] = plan.rows;
  b[F.ROW_LEN] = plan.rowLen;
  if (plan.checkOut !== undefined) {
    b[F.CHECK_SA] = plan.checkOut.sa;
    b[F.CHECK_SB] = plan.checkOut.sb;
    b[F.CHECK_SUMS] = plan.checkOut.sums;
  }
  b[F.UNBLIND_AT] = plan.unblindAt ?? 0;
  if (plan.bias !== undefined) {
    b[F.BIAS_AT] = plan.bias.at;
    b[F.BIAS_PER_COLUMN] = plan.bias.perColumn ? 1 : 0;
    b[F.CHANNELS] = plan.bias.channels;
  }
  b[F.LO] = plan.lo ?? -UNBOUNDED;
  b[F.HI] = plan.hi ?? UNBOUNDED;
  b[F.POOL_WIDTH] = plan.poolWidth ?? 0;
  b[F.SHIFT] = plan.shift ?? -1;
  b[F.DEQUANT] = plan.dequant ?? 1;
  b[F.ADDEND_AT] = plan.addendAt ?? 0;
  b[F.RELU] = plan.relu ? 1 : 0;
  b[F.FLOAT_OUT_AT] = plan.floatOutAt ?? 0;
  b[F.QUANT_SCALE] = plan.quantScale ?? 0;
  b[F.NEXT_AT] = plan.nextAt ?? 0;
  b[F.NEXT_ITEM] = plan.nextItem ?? 0;
  if (plan.checkIn !== undefined) {
    b[F.CHECK_TA] = plan.checkIn.ta;
    b[F.CHECK_TB] = plan.checkIn.tb;
    b[F.CHECK_DOTS] = plan.checkIn.dots;
  }
  b[F.PAD_AT] = plan.padAt ?? 0;
  if (plan.reply !== undefined && (plan.source !== 'reply' || plan.sourceAt !== 0)) throw new RangeError('boundary pass: a reply read in place names no other source');
  if (boundaryImplementation() !== 'wasm') nativeBoundaryPass(block.at, plan.wire, plan.reply); // which checks both itself
  else {
    const wire = plan.wire === undefined ? undefined : wireFor(plan, plan.wire);
    if (wire !== undefined && plan.reply !== undefined && overlap(wire, plan.reply)) throw new RangeError('boundary pass: the request buffer overlaps the reply');
    const copy = plan.reply === undefined ? undefined : replyCopy(plan.reply, plan.rows * plan.rowLen);
    try {
      if (copy !== undefined) b[F.SOURCE_AT] = copy.at;
      simd().kernels.boundaryPass(block.at);
    } finally {
      if (copy !== undefined) release(copy);
    }
    if (wire !== undefined) wire.set(u32({ at: plan.nextAt!, bytes: 0 }, nextCount(plan)));
  }
  return { bad: b[F.OUT_BAD] === 1, worst: b[F.OUT_WORST]!, nextMax: b[F.OUT_NEXT_MAX]!, inexact: b[F.OUT_INEXACT] === 1, padBytes: b[F.OUT_PAD_BYTES]! };
}

function overlap(a: Uint32Array, b: Uint32Array): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** The reply's n values copied into the module's memory, for the WebAssembly pass. */
function replyCopy(reply: Uint32Array, n: number): Region {
  if (reply.length < n || reply.buffer === simd().memory.buffer) throw new RangeError('boundary pass: the reply is not a Uint32Array of every value outside the memory');
  const copy = alloc(4 * n);
  u32(copy, n).set(reply.subarray(0, n));
  return copy;
}

/** The wire of a plan, once it is known to hold every next value outside the memory (as native/addon.c checks it). */
function wireFor(plan: PassPlan, wire: Uint32Array): Uint32Array {
  if (plan.nextAt === undefined || wire.length < nextCount(plan) || wire.buffer === simd().memory.buffer) {
    throw new RangeError('boundary pass: the request buffer is not a Uint32Array of every next value outside the memory');
  }
  return wire;
}

/** Values the pass writes for the next layer (a fused 2×2 pool keeps one of four). */
function nextCount(plan: PassPlan): number {
  const n = plan.rows * plan.rowLen;
  return (plan.poolWidth ?? 0) > 0 ? n / 4 : n;
}
