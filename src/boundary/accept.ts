/**
 * The one way in (docs/design.md §1) for everything from outside the trusted runtime:
 * - accelerator replies: the reply answers this request for this layer, has the expected shape and
 *   length, is a Uint32Array (or, from a service speaking FP64, a Float64Array) on memory of its own
 *   (not a SharedArrayBuffer, which its sender could still write), and every value is a residue in
 *   [0, p); anything else — a reply its backend could not even read (broken framing, oversized) included —
 *   is a MalformedResponseError naming the layer; nothing partially valid is
 *   used. The reply is read once, by the layer's boundary pass (docs/design.md §7), which computes
 *   everything the layer's owners need from it in the same read: where it arrived (memory of its
 *   own that only this runtime holds — transferred from the worker, or received from the socket — so
 *   nothing can change it while it is read), or, unfused or as doubles, from a copy in trusted memory; then the decisions, in a fixed order — the range flag, the
 *   check (IntegrityError), the magnitudes (OverflowError) — and only then does anything the pass
 *   wrote (the float outputs, the next layer's request) leave this module. On a failure it is all
 *   released and nothing else has changed (the reply, u, r′), so a retry or a recomputation sees
 *   the state it would have seen without the pass;
 * - pads from the pad store: well-formed, one record per layer with the right size, and each record
 *   authenticated by AES-GCM against its binding (weights, store, layer, index, epoch) before use;
 *   anything else is a PadAuthError; the store's manifest: the identity it claims, well-formed.
 * This is the only caller of the shared loop (simd/boundary.ts): for replies, for results the
 * trusted runtime computed itself (the same pass, without a check), and for floats entering the
 * field (a layer whose input comes from a non-linear layer).
 */
import type { LinearReply } from './linear-messages.js';
import { STORE_ID_RE, WEIGHTS_HASH_RE } from '../blind/ledger-keys.js';
import { decodePad, type PadRecord } from '../blind/pad-format.js';
import { MANIFEST_FORMAT } from '../blind/pad-store.js';
import { openResidues, type PadBinding } from '../blind/seal.js';
import { hasErrorCode, MalformedResponseError, PadAuthError } from '../errors.js';
import { firstNonResidue, type Residues } from '../field/residues.js';
import { alloc, f64, isResident, release, u32, type Region } from '../simd/arena.js';
import { boundaryPass, type PassPlan, type PassResult } from '../simd/boundary.js';
import { residuesFromF64 } from '../simd/residues.js';
import { formatDims, sameDims, sizeOf, type Tensor } from '../tensor/tensor.js';
import type { BoundaryPlan, Crossing, ExpectedReply, NextRequest, PhaseSink, RequestPlan, Sendable } from './pass-plan.js';
import { revealForValidation, type Untrusted } from './untrusted.js';

/** The reply's values after the envelope checks: still unread. */
function envelope(reply: Untrusted<LinearReply>, expected: ExpectedReply): Uint32Array | Float64Array {
  const raw = revealForValidation(reply) as Partial<Record<keyof LinearReply, unknown>> | null;
  const fail = (why: string): never => {
    throw new MalformedResponseError(`invalid accelerator response: ${why}`, { layer: expected.layerName });
  };
  if (raw === null || typeof raw !== 'object') fail('not an object');
  if (raw!.unreadable !== undefined) fail(typeof raw!.unreadable === 'string' ? raw!.unreadable : 'unreadable');
  if (raw!.requestId !== expected.requestId) fail(`it answers request ${describeRequestId(raw!.requestId, expected.requestId)}, not ${expected.requestId}`);
  if (raw!.layerId !== expected.layerId) fail(`it is for layer ${String(raw!.layerId)}, not ${expected.layerId}`);
  const dims = raw!.dims;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d))) fail('dims are missing or not integers');
  if (!sameDims(dims as number[], expected.dims)) fail(`shape ${formatDims(dims as number[])}, expected ${formatDims(expected.dims)}`);
  const data = raw!.data;
  if (!(data instanceof Uint32Array || data instanceof Float64Array)) fail(`data is ${Object.prototype.toString.call(data)}, expected a Uint32Array (or a Float64Array)`);
  const values = data as Uint32Array | Float64Array;
  // Memory its sender can still write to (a worker may post a SharedArrayBuffer and keep writing)
  // could change while it is copied: refused, never copied silently.
  if (values.buffer instanceof SharedArrayBuffer) fail('data lies in a SharedArrayBuffer, which its sender can still modify');
  if (values.length !== sizeOf(expected.dims)) fail(`${values.length} values, expected ${sizeOf(expected.dims)}`);
  return values;
}

/**
 * Accepts an accelerator's reply for the layer `plan` describes: the envelope, then the one pass
 * over its values (where they arrived, or a trusted copy), then the decisions. Returns what the
 * layer's consumers need (its float outputs, the next layer's request), all resident and owned by
 * the caller.
 */
export function acceptReply(reply: Untrusted<LinearReply>, plan: BoundaryPlan, time?: PhaseSink): Crossing {
  const values = envelope(reply, plan.reply);
  // u32 residues on memory of their own (the envelope refused shared memory): read where they are by
  // the fused pass, which its native implementation does without a copy (simd/boundary.ts).
  if (values instanceof Uint32Array && plan.fuse) return crossing({ reply: values }, values.length, plan, time);
  const z = alloc(4 * values.length);
  try {
    const copy = u32(z, values.length);
    if (values instanceof Uint32Array) copy.set(values);
    else if (!residuesFromF64(values, copy)) {
      // The copy's check failed: name the first value that is not a residue (reading the reply only for the message).
      const i = values.findIndex((v) => !(v >= 0 && v < 16_777_213 && Number.isInteger(v)));
      malformed(plan.reply, `value ${values[i]} at index ${i} is not a residue in [0, p)`);
    }
    return crossing({ at: z.at }, values.length, plan, time);
  } finally {
    release(z);
  }
}

/**
 * A reply's residues after the envelope and range checks, copied into memory of the caller's own:
 * for callers that read a reply whole, where no boundary pass runs — a service's canary request
 * compared with what the trusted runtime computed itself (serve/accelerator-admission.ts), and
 * verified training's products (train/products.ts).
 */
export function acceptResidues(reply: Untrusted<LinearReply>, expected: ExpectedReply): Residues {
  const values = envelope(reply, expected);
  const copy = new Uint32Array(values.length);
  if (values instanceof Uint32Array) copy.set(values);
  const bad = values instanceof Uint32Array ? firstNonResidue(copy) : residuesFromF64(values, copy) ? -1 : firstNonResidue(values);
  if (bad >= 0) malformed(expected, `value ${values[bad]} at index ${bad} is not a residue in [0, p)`);
  return copy;
}

/** The same pass over a result the trusted runtime computed itself (baseline, a recomputed layer): no reply to doubt, no check. */
export function acceptComputed(y: Residues, plan: BoundaryPlan, time?: PhaseSink): Crossing {
  const trusted = { ...plan, check: undefined };
  if (isResident(y)) return crossing({ at: y.byteOffset }, y.length, trusted, time);
  const z = alloc(4 * y.length);
  try {
    u32(z, y.length).set(y);
    return crossing({ at: z.at }, y.length, trusted, time);
  } finally {
    release(z);
  }
}

function malformed(expected: ExpectedReply, why: string): never {
  throw new MalformedResponseError(`invalid accelerator response: ${why}`, { layer: expected.layerName });
}

/** Regions a pass writes, released unless accepted. */
class Scratch {
  private readonly regions: Region[] = [];

  take(bytes: number): Region {
    const r = alloc(bytes);
    this.regions.push(r);
    return r;
  }

  /** Hands `r` to the caller: it is no longer released here. */
  keep(r: Region): void {
    this.regions.splice(this.regions.indexOf(r), 1);
  }

  releaseAll(): void {
    for (const r of this.regions.splice(0)) release(r);
  }
}

/** A layer's n outputs: a trusted copy in the arena, or (fused only) a reply read where it arrived. */
type Outputs = { readonly at: number } | { readonly reply: Uint32Array };

/** The pass (or, unfused, the passes) over the n outputs, then the decisions. */
function crossing(outputs: Outputs, n: number, plan: BoundaryPlan, time?: PhaseSink): Crossing {
  const y = 'reply' in outputs ? outputs.reply : u32({ at: outputs.at, bytes: 4 * n }, n);
  const { layout, requant, next, check } = plan;
  const scratch = new Scratch();
  try {
    const outCount = requant.poolWidth > 0 ? n / 4 : n;
    const sums = check?.weights !== undefined ? scratch.take(8 * layout.rows) : undefined;
    const floats = requant.floatDims !== undefined ? scratch.take(8 * outCount) : undefined;
    const sink = next === undefined ? undefined : nextRegions(next, outCount, scratch);
    const base: PassPlan = {
      source: 'reply',
      ...('reply' in outputs ? { sourceAt: 0, reply: outputs.reply } : { sourceAt: outputs.at }),
      rows: layout.rows,
      rowLen: layout.rowLen,
      ...(sums !== undefined ? { checkOut: { sa: check!.weights!.sa.at, sb: check!.weights!.sb.at, sums: sums.at } } : {}),
      ...(plan.unblind !== undefined ? { unblindAt: plan.unblind.at } : {}),
      bias: { at: requant.bias.at, perColumn: requant.perColumn, channels: requant.channels },
      lo: requant.lo,
      hi: requant.hi,
      ...(requant.poolWidth > 0 ? { poolWidth: requant.poolWidth } : {}),
      shift: requant.shift,
      dequant: requant.dequant,
      ...(requant.addend !== undefined ? { addendAt: residentAt(requant.addend.values, scratch), relu: requant.addend.relu } : {}),
      ...(floats !== undefined ? { floatOutAt: floats.at } : {}),
      ...(sink?.pass ?? {}),
    };
    const result = plan.fuse ? timed(time, 'boundary', () => boundaryPass(base)) : apart(base, n, outCount, scratch, time);
    // The decisions, in their fixed order.
    if (result.bad) {
      const i = y.findIndex((v) => v >= 16_777_213);
      malformed(plan.reply, `value ${y[i]} at index ${i} is not a residue in [0, p)`);
    }
    check?.decide({ ...(sums !== undefined ? { sums: u32(sums, 2 * layout.rows) } : {}), y });
    requant.decide(result.worst);
    next?.decide(result.nextMax, result.inexact);
    const accepted: Crossing = {
      ...(floats !== undefined ? { floats: { dims: requant.floatDims!, data: f64(floats, outCount) } satisfies Tensor } : {}),
      ...(sink !== undefined ? { next: sink.accept(result.nextMax) } : {}),
    };
    if (floats !== undefined) scratch.keep(floats);
    return accepted;
  } finally {
    scratch.releaseAll();
  }
}

/** The owners' steps one pass each (fuse: false), each timed under its owner's phase: the same values as the fused pass. */
function apart(fused: PassPlan, n: number, count: number, scratch: Scratch, time?: PhaseSink): PassResult {
  const reply = { source: 'reply', sourceAt: fused.sourceAt, rows: fused.rows, rowLen: fused.rowLen } as const;
  const range = timed(time, 'validate', () => boundaryPass(reply));
  if (range.bad) return range;
  if (fused.checkOut !== undefined) timed(time, 'verify', () => boundaryPass({ ...reply, checkOut: fused.checkOut }));
  let sourceAt = fused.sourceAt;
  if (fused.unblindAt !== undefined) {
    // z − u alone: no bias, no clamp, the integer path with no shift (residues of the centered values).
    const y = scratch.take(4 * n);
    timed(time, 'unblind', () => boundaryPass({ ...reply, unblindAt: fused.unblindAt, shift: 0, nextAt: y.at, nextItem: n }));
    sourceAt = y.at;
  }
  const { checkIn, padAt, ...rest } = fused;
  const requantized = timed(time, 'requantize', () => boundaryPass({ ...rest, sourceAt, checkOut: undefined, unblindAt: undefined }));
  if (fused.nextAt === undefined) return requantized;
  const padBytes = residueSteps(fused.nextAt, count, fused.nextItem!, padAt, checkIn, time);
  return { ...requantized, padBytes };
}

/** The next layer's pad, then its input side (the check is on what the accelerator sees), over residues in place. */
function residueSteps(at: number, count: number, item: number, padAt: number | undefined, checkIn: PassPlan['checkIn'], time?: PhaseSink): number {
  const residues = { source: 'residues', sourceAt: at, rows: count / item, rowLen: item, nextItem: item } as const;
  const padded = padAt === undefined ? undefined : timed(time, 'blind', () => boundaryPass({ ...residues, padAt, nextAt: at }));
  if (checkIn !== undefined) timed(time, 'verify', () => boundaryPass({ ...residues, checkIn }));
  return padded?.padBytes ?? 0;
}

function timed<T>(time: PhaseSink | undefined, phase: string, f: () => T): T {
  if (time === undefined) return f();
  const start = performance.now();
  try {
    return f();
  } finally {
    time(phase, performance.now() - start);
  }
}

/** The next layer's request regions (its x and, with a check, its input side), and how to hand them out once accepted. */
function nextRegions(next: NextRequest, count: number, scratch: Scratch): { pass: Partial<PassPlan>; accept(maxAbs: number): Sendable } {
  const x = scratch.take(4 * count);
  const items = next.check === undefined ? 0 : count / next.check.item;
  const dots = next.check === undefined ? undefined : scratch.take(8 * items);
  return {
    pass: {
      nextAt: x.at,
      nextItem: next.check?.item ?? count,
      ...(next.quantScale !== undefined ? { quantScale: next.quantScale } : {}),
      ...(next.check !== undefined ? { checkIn: { ta: next.check.ta.at, tb: next.check.tb.at, dots: dots!.at } } : {}),
      ...(next.pad !== undefined ? { padAt: next.pad.at } : {}),
      ...(next.wire !== undefined ? { wire: next.wire } : {}),
    },
    accept(maxAbs) {
      scratch.keep(x);
      return {
        layerName: next.layerName,
        x: { dims: next.dims, data: u32(x, count) },
        maxAbs,
        ...(dots !== undefined ? { dots: { values: u32(dots, 2 * items).slice(), draw: next.check!.draw } } : {}),
        ...(next.wire !== undefined ? { wire: next.wire } : {}),
      };
    },
  };
}

/** A float's resident address, or a scratch copy's. */
function residentAt(values: Float64Array, scratch: Scratch): number {
  if (isResident(values)) return values.byteOffset;
  const r = scratch.take(values.byteLength);
  f64(r, values.length).set(values);
  return r.at;
}

/**
 * Floats entering the field for a linear layer whose input comes from a non-linear layer (or the
 * model's input): rounded onto its grid, its check's input side and its pad, in one pass.
 */
export function prepareRequest(x: Tensor, plan: RequestPlan, time?: PhaseSink): Sendable {
  const { next } = plan;
  const count = x.data.length;
  const scratch = new Scratch();
  try {
    const sourceAt = residentAt(x.data, scratch);
    const sink = nextRegions(next, count, scratch);
    const item = sink.pass.nextItem!;
    const pass: PassPlan = { source: 'floats', sourceAt, rows: count / item, rowLen: item, ...sink.pass };
    let result: PassResult;
    if (plan.fuse) result = timed(time, 'boundary', () => boundaryPass(pass));
    else {
      result = timed(time, 'quantize', () => boundaryPass({ ...pass, checkIn: undefined, padAt: undefined }));
      residueSteps(pass.nextAt!, count, item, pass.padAt, pass.checkIn, time);
    }
    next.decide(result.nextMax, result.inexact);
    return sink.accept(result.nextMax);
  } finally {
    scratch.releaseAll();
  }
}

/**
 * An echoed request id that is not ours, for the message: request ids are `<runtime prefix>-<n>`
 * (runtime/protocols/accelerated.ts), so a reply meant for another trusted runtime shows as such.
 */
function describeRequestId(got: unknown, expected: string): string {
  const text = JSON.stringify(got)?.slice(0, 80) ?? String(got);
  const prefix = (id: string): string => id.slice(0, Math.max(0, id.lastIndexOf('-')));
  return typeof got === 'string' && prefix(got) !== prefix(expected) ? `${text}, a request of another client` : text;
}

/** What a pad must hold: one record per linear layer, with these element counts. */
export interface ExpectedPad {
  readonly index: number;
  readonly layers: readonly { readonly layer: number; readonly count: number }[];
}

/**
 * Parses a pad file from the untrusted store into its records, one per expected layer. A missing,
 * malformed, incomplete or surplus pad is a PadAuthError; authenticity is checked per record by
 * acceptPadRecord when the record is used.
 */
export function acceptPadFile(bytes: Untrusted<Uint8Array> | undefined, expected: ExpectedPad): Map<number, PadRecord> {
  const raw = bytes === undefined ? undefined : revealForValidation(bytes);
  if (!(raw instanceof Uint8Array)) throw new PadAuthError(`pad ${expected.index} is missing from the pad store`, { padIndex: expected.index });
  const records = decodePad(raw, expected.index);
  const byLayer = new Map(records.map((r) => [r.layer, r]));
  if (byLayer.size !== records.length || records.length !== expected.layers.length) {
    throw new PadAuthError(`pad ${expected.index} holds ${records.length} records, expected one for each of ${expected.layers.length} layers`, { padIndex: expected.index });
  }
  for (const { layer, count } of expected.layers) {
    const r = byLayer.get(layer);
    if (r === undefined || r.count !== count) throw new PadAuthError(`pad ${expected.index} lacks a record of ${count} values for layer ${layer}`, { padIndex: expected.index });
  }
  return byLayer;
}

/**
 * Authenticates and opens one record: the unblinding factor u as residues packed 3 bytes each
 * (checked < p) in a region of the trusted runtime's memory the caller releases, or PadAuthError.
 */
export function acceptPadRecord(record: PadRecord, key: Uint8Array, binding: PadBinding, layerName: string): Region {
  try {
    return openResidues(key, binding, record);
  } catch (e) {
    if (hasErrorCode(e, 'SLALOM_ERR_PAD_AUTH')) throw new PadAuthError(e.message, { layer: layerName, ...(e.padIndex !== undefined ? { padIndex: e.padIndex } : {}), cause: e });
    throw e;
  }
}

/** What a pad store's manifest claims, once validated. */
export type StoreClaim =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly why: string }
  | { readonly kind: 'store'; readonly storeId: string; readonly weightsHash: string; readonly model?: string; readonly bytesPerInference?: number };

/**
 * The store's manifest (its text): 'none' when it has none (a fresh store), 'invalid' with the reason
 * when it is malformed (unreadable, not JSON) or written by an older slalom, else the identity and
 * model it claims. A claim only routes the trusted runtime to a ledger of its own; the identity is
 * then bound into every key and seal, so a false claim costs pads (they fail authentication), never privacy.
 */
export function acceptStoreManifest(manifest: Untrusted<string> | undefined): StoreClaim {
  if (manifest === undefined) return { kind: 'none' };
  const text = revealForValidation(manifest);
  let raw: Record<string, unknown> | null;
  try {
    raw = typeof text === 'string' ? (JSON.parse(text) as Record<string, unknown> | null) : null;
  } catch {
    return { kind: 'invalid', why: 'its manifest.json is malformed (not JSON)' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { kind: 'invalid', why: 'its manifest.json is malformed (not a JSON object)' };
  if (raw.format !== MANIFEST_FORMAT) {
    return { kind: 'invalid', why: raw.format === undefined && typeof raw.modelHash === 'string' ? 'it was written by an older slalom (its manifest names no store identity)' : `its manifest.json has an unknown format ${JSON.stringify(raw.format)?.slice(0, 40)}` };
  }
  if (typeof raw.storeId !== 'string' || !STORE_ID_RE.test(raw.storeId)) return { kind: 'invalid', why: 'its manifest.json has no valid store identity' };
  if (typeof raw.weightsHash !== 'string' || !WEIGHTS_HASH_RE.test(raw.weightsHash)) return { kind: 'invalid', why: 'its manifest.json has no valid weights hash' };
  return {
    kind: 'store',
    storeId: raw.storeId,
    weightsHash: raw.weightsHash,
    ...(typeof raw.model === 'string' ? { model: raw.model.slice(0, 200) } : {}),
    ...(Number.isSafeInteger(raw.bytesPerInference) ? { bytesPerInference: raw.bytesPerInference as number } : {}),
  };
}
