/**
 * The one way in (DESIGN.md §1) for everything from outside the trusted runtime:
 * - accelerator replies: the reply answers this request for this layer, has the expected shape and
 *   length, is a Float64Array on memory of its own (not a SharedArrayBuffer, which its sender could
 *   still write), and every value is an integer residue in [0, p); anything else is a
 *   MalformedResponseError naming the layer; nothing partially valid is returned;
 * - pads from the pad store: well-formed, one record per layer with the right size, and each record
 *   authenticated by AES-GCM against its binding (weights, store, layer, index, epoch) before use;
 *   anything else is a PadAuthError; the store's manifest: the identity it claims, well-formed.
 */
import type { LinearReply } from './linear-messages.js';
import { STORE_ID_RE, WEIGHTS_HASH_RE } from '../blind/ledger-keys.js';
import { decodePad, type PadRecord } from '../blind/pad-format.js';
import { MANIFEST_FORMAT } from '../blind/pad-store.js';
import { openResidues, type PadBinding } from '../blind/seal.js';
import { hasErrorCode, MalformedResponseError, PadAuthError } from '../errors.js';
import { P } from '../field/prime.js';
import { allResidues } from '../simd/kernels.js';
import { formatDims, sameDims, sizeOf } from '../tensor/tensor.js';
import type { OutputSums } from '../verify/freivalds.js';
import { revealForValidation, type Untrusted } from './untrusted.js';

export interface ExpectedReply {
  readonly requestId: string;
  readonly layerId: number;
  readonly layerName: string;
  readonly dims: readonly number[];
}

/**
 * With `outputSums` (a Freivalds check's output side, verify/freivalds.ts), the one pass that
 * validates the values also computes the check's sums over them, so the check does not read the
 * reply again; the values are validated either way.
 */
export function acceptLinearOutput(reply: Untrusted<LinearReply>, expected: ExpectedReply, outputSums?: OutputSums): Float64Array {
  const raw = revealForValidation(reply) as Partial<Record<keyof LinearReply, unknown>> | null;
  const fail = (why: string): never => {
    throw new MalformedResponseError(`invalid accelerator response: ${why}`, { layer: expected.layerName });
  };
  if (raw === null || typeof raw !== 'object') fail('not an object');
  if (raw!.requestId !== expected.requestId) fail(`it answers request ${describeRequestId(raw!.requestId, expected.requestId)}, not ${expected.requestId}`);
  if (raw!.layerId !== expected.layerId) fail(`it is for layer ${String(raw!.layerId)}, not ${expected.layerId}`);
  const dims = raw!.dims;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d))) fail('dims are missing or not integers');
  if (!sameDims(dims as number[], expected.dims)) fail(`shape ${formatDims(dims as number[])}, expected ${formatDims(expected.dims)}`);
  const data = raw!.data;
  if (!(data instanceof Float64Array)) fail(`data is ${Object.prototype.toString.call(data)}, expected a Float64Array`);
  const values = data as Float64Array;
  // Memory its sender can still write to (a worker may post a SharedArrayBuffer and keep writing)
  // could change after this validation and after Freivalds' check: refused, never copied silently.
  if (values.buffer instanceof SharedArrayBuffer) fail('data lies in a SharedArrayBuffer, which its sender can still modify');
  if (values.length !== sizeOf(expected.dims)) fail(`${values.length} values, expected ${sizeOf(expected.dims)}`);
  // One SIMD pass; only a reply that fails it is searched for the value to name.
  if (!(outputSums === undefined ? allResidues(values) : outputSums.read(values))) {
    const i = values.findIndex((v) => !(v >= 0 && v < P && Number.isInteger(v)));
    fail(`value ${values[i]} at index ${i} is not a residue in [0, p)`);
  }
  return values;
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

/** Authenticates and opens one record: the unblinding factor u as residues packed 3 bytes each (checked < p), or PadAuthError. */
export function acceptPadRecord(record: PadRecord, key: Uint8Array, binding: PadBinding, layerName: string): Uint8Array {
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
 * The store's manifest: 'none' when it has none (a fresh store), 'invalid' with the reason when it
 * is unreadable or written by an older slalom, else the identity and model it claims. A claim only
 * routes the trusted runtime to a ledger of its own; the identity is then bound into every key and
 * seal, so a false claim costs pads (they fail authentication), never privacy.
 */
export function acceptStoreManifest(manifest: Untrusted<unknown> | undefined): StoreClaim {
  if (manifest === undefined) return { kind: 'none' };
  const raw = revealForValidation(manifest) as Record<string, unknown> | undefined;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { kind: 'invalid', why: 'its manifest.json is not a JSON object' };
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
