/**
 * What the accelerator service may keep loaded (repository.ts; issue 20: uploads under fresh names
 * were unlimited, ~0.5 MB each, 400 in 4 s). At most `maxLayers` layers of at most `maxBytes` bytes
 * together, a layer counted as BYTES_PER_WEIGHT bytes per weight. A load that does not fit may evict layers the same client loaded, least recently used
 * first, but only idle ones — never another client's, nor one loaded at start-up, nor one in use;
 * else it is refused: 507 Insufficient Storage, or 503 + Retry-After when the client's busy layers
 * would make room once idle.
 */
import { sizeOf } from '../../tensor/tensor.js';
import type { LayerDescription } from './export.js';

/**
 * What a loaded layer holds per weight, at most, over the backends: measured with 400 layers of 131k
 * weights each, the onnxruntime backend grew the server by ~21 bytes per weight (the float64 weights,
 * the int32 initializer, the session's float64 copy of it), the reference backend by ~8.
 */
export const BYTES_PER_WEIGHT = 24;

/** Bytes a loaded layer counts for. */
export function loadedBytes(d: LayerDescription): number {
  return BYTES_PER_WEIGHT * sizeOf(d.wDims);
}

/** A loaded layer, as eviction sees it. */
export interface Resident {
  /** The client that loaded it; undefined for a layer loaded at start-up. */
  readonly owner?: string;
  readonly bytes: number;
  /** When it was last asked for (a monotonic clock). */
  readonly lastUsed: number;
  /** Requests queued or running, or a load or unload pending. */
  readonly busy: boolean;
}

export interface Limits {
  readonly maxBytes: number;
  readonly maxLayers: number;
}

export type RoomPlan<R> =
  | { readonly kind: 'fits'; readonly evict: readonly R[] }
  | { readonly kind: 'busy' | 'full'; readonly reason: string };

/** Room for a layer of `bytes` loaded by `client`, with `held` (layers and bytes) already taken, among `residents`. */
export function planRoom<R extends Resident>(bytes: number, client: string | undefined, held: { bytes: number; layers: number }, limits: Limits, residents: Iterable<R>): RoomPlan<R> {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const fits = (b: number, n: number): boolean => b + bytes <= limits.maxBytes && n + 1 <= limits.maxLayers;
  if (bytes > limits.maxBytes) return { kind: 'full', reason: `a layer of ${mib(bytes)} is larger than this server's limit on loaded layers (${mib(limits.maxBytes)})` };
  if (fits(held.bytes, held.layers)) return { kind: 'fits', evict: [] };
  const own = client === undefined ? [] : [...residents].filter((r) => r.owner === client).sort((a, b) => a.lastUsed - b.lastUsed);
  const evict: R[] = [];
  let b = held.bytes;
  let n = held.layers;
  for (const r of own) {
    if (fits(b, n)) break;
    if (r.busy) continue;
    evict.push(r);
    b -= r.bytes;
    n--;
  }
  if (fits(b, n)) return { kind: 'fits', evict };
  const used = `${held.layers} layers, ${mib(held.bytes)} of at most ${limits.maxLayers} layers, ${mib(limits.maxBytes)}`;
  const busy = own.filter((r) => r.busy);
  if (busy.length > 0 && fits(b - busy.reduce((s, r) => s + r.bytes, 0), n - busy.length)) {
    return { kind: 'busy', reason: `the server is full (${used}) and this client's other layers are in use; retry later` };
  }
  return { kind: 'full', reason: `the server is full (${used}) and this client has no idle layer to make room; unload some first` };
}
