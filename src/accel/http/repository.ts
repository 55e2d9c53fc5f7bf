/**
 * The layer models the accelerator service holds (server.ts), one slot per model name: loads from a
 * model repository (`slalom export`) or from the request, unloads, and the rule that binds a name to
 * its layer. A layer's model name ends with its content digest (protocol.ts); a load whose layer does
 * not match its name, or differs from what is loaded under that name, is refused with 409, and a load
 * of what is already loaded changes nothing (200). So no client can replace the layer another client
 * registered: the only layer a name can hold is the one whose digest it carries (a different layer
 * with the same 64-bit digest prefix would take ~2^64 hashes to find, and even then cannot replace a
 * loaded one). A slot without a loaded layer is dropped once nothing is pending on it, so hostile
 * names do not accumulate.
 *
 * Limits (capacity.ts): a load that would pass the cap on loaded layers and their bytes evicts idle
 * layers of the same client (least recently used first), else is refused (507, or 503 + Retry-After).
 * A layer is unloaded only by the client that loaded it (403 for another), unless the request
 * carries the server's token (routes.ts checks it); a layer loaded at start-up only with the token.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FairQueue } from '../../http/fair-queue.js';
import { busy, HttpError } from '../../http/http-error.js';
import type { Entry } from './batcher.js';
import { loadedBytes, planRoom } from './capacity.js';
import { EXPORT_INDEX_FILE, itemDims, layerDigest, parseLayerOnnx, type LayerDescription } from './export.js';
import { LOAD_FILE_PARAMETER, MODEL_VERSION, NAME_DIGEST_HEX, parseLayerModelName } from './protocol.js';
import type { Runner, RunnerFactory } from './runners.js';
import type { ResolvedServerOptions } from './server-options.js';
import { MutableStats } from './stats.js';

/** Model names a repository directory or a request may use. */
export const MODEL_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export interface LoadedModel {
  readonly name: string;
  /** The layer's content digest (export.ts layerDigest). */
  readonly digest: string;
  readonly description: LayerDescription;
  readonly input: readonly number[];
  readonly output: readonly number[];
  readonly runner: Runner;
  /** The client that loaded it (routes.ts clientOf); undefined when loaded at start-up. */
  readonly owner?: string;
  /** What it counts for against the cap (capacity.ts). */
  readonly bytes: number;
  /** When it was last loaded or asked for (performance.now()), for eviction. */
  lastUsed: number;
  /** Batches of this runner in flight; the runner is closed once it is retired and this is 0. */
  active: number;
  retired: boolean;
}

/** Who asks for a load or an unload: the client id, and whether it showed the server's token. */
export interface Requester {
  readonly client: string;
  readonly authorized: boolean;
}

export interface ModelSlot {
  readonly name: string;
  model?: LoadedModel;
  readonly queue: FairQueue<Entry>;
  readonly stats: MutableStats;
  /** Serialises loads and unloads of this name. */
  loading: Promise<unknown>;
  /** Loads and unloads queued on `loading`. */
  pending: number;
}

/** What the repository tells the scheduler: new work may run; a queued request is answered. */
export interface SlotScheduler {
  kick(): void;
  settle(entry: Entry, err: HttpError): void;
}

export class LayerRepository {
  readonly slots = new Map<string, ModelSlot>();
  /** Layers loaded or being loaded, and their bytes (capacity.ts). */
  private readonly held = { layers: 0, bytes: 0 };

  constructor(
    private readonly o: ResolvedServerOptions,
    private readonly factory: RunnerFactory,
    private readonly scheduler: SlotScheduler,
  ) {}

  /** Model names in the repository, in the exported order when its index is there. */
  names(): string[] {
    const dir = this.o.modelRepository;
    if (dir === undefined) return [];
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && MODEL_NAME_RE.test(e.name))
        .map((e) => e.name);
    } catch {
      return [];
    }
    // In the exported order when the index is there, so that preload follows the model.
    try {
      const index = JSON.parse(readFileSync(join(dir, EXPORT_INDEX_FILE), 'utf8')) as { layers?: unknown };
      if (Array.isArray(index.layers)) {
        const order = new Map(index.layers.map((n, i) => [String(n), i]));
        names.sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || a.localeCompare(b));
      }
    } catch {
      names.sort();
    }
    return names;
  }

  private repositoryFile(name: string): string {
    const dir = this.o.modelRepository;
    if (dir === undefined) throw new HttpError(400, `no model repository is configured; send the model in the request (parameters["${LOAD_FILE_PARAMETER}"], base64) or as application/octet-stream`);
    const file = join(dir, name, MODEL_VERSION, 'model.onnx');
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new HttpError(404, `model '${name}' is not in the repository`);
    }
    if (size > this.o.maxLoadBytes) throw new HttpError(413, `model file of ${size} bytes exceeds the load limit of ${this.o.maxLoadBytes} bytes`);
    return file;
  }

  /** The slot of `name`, created empty if it has none. */
  slot(name: string): ModelSlot {
    let s = this.slots.get(name);
    if (s === undefined) {
      s = { name, queue: new FairQueue<Entry>(), stats: new MutableStats(), loading: Promise.resolve(), pending: 0 };
      this.slots.set(name, s);
    }
    return s;
  }

  /** Runs `op` after the loads and unloads queued on `s`; drops the slot afterwards if it holds nothing. */
  private serialize(s: ModelSlot, op: () => Promise<void> | void): Promise<void> {
    s.pending++;
    const run = s.loading.then(op);
    s.loading = run
      .catch(() => {})
      .finally(() => {
        s.pending--;
        this.dropIfEmpty(s);
      });
    return run;
  }

  private dropIfEmpty(s: ModelSlot): void {
    if (s.model === undefined && s.queue.size === 0 && s.pending === 0 && this.slots.get(s.name) === s) this.slots.delete(s.name);
  }

  /**
   * Loads model `name` from `bytes`, or from the repository when `bytes` is undefined, for `client`
   * (undefined: at start-up): 409 unless the layer is the one the name's digest names and nothing else
   * is loaded under it; nothing changes if it is loaded already; 507 or 503 when it does not fit.
   */
  load(name: string, bytes: Uint8Array | undefined, client?: string): Promise<void> {
    const claimed = parseLayerModelName(name);
    if (claimed === undefined) {
      return Promise.reject(new HttpError(400, `model '${name}': a layer's name must end with .l<index>.<first ${NAME_DIGEST_HEX} hex digits of the layer's digest> (as slalom export and the slalom client name layers)`));
    }
    const s = this.slot(name);
    return this.serialize(s, async () => {
      const onnx = bytes ?? readFileSync(this.repositoryFile(name));
      let parsed;
      try {
        parsed = parseLayerOnnx(onnx);
      } catch (e) {
        throw new HttpError(400, `model '${name}': ${(e as Error).message}`);
      }
      const d = parsed.description;
      const digest = layerDigest(d, parsed.weights);
      if (d.index !== claimed.index || !digest.startsWith(claimed.digest)) {
        throw new HttpError(409, `model '${name}': the uploaded layer (index ${d.index}, digest ${digest.slice(0, NAME_DIGEST_HEX)}) is not the layer this name is bound to`);
      }
      if (s.model !== undefined) {
        if (s.model.digest !== digest) throw new HttpError(409, `model '${name}' is loaded already, with other content; unload it first`);
        s.model.lastUsed = performance.now();
        return; // the very same layer: nothing to do
      }
      const size = loadedBytes(d);
      this.makeRoom(name, size, client);
      this.held.layers++;
      this.held.bytes += size;
      let runner: Runner;
      try {
        runner = await this.factory.create(parsed);
      } catch (e) {
        this.held.layers--;
        this.held.bytes -= size;
        throw new HttpError(400, `model '${name}' cannot be run: ${(e as Error).message}`);
      }
      const dims = itemDims(d);
      s.model = { name, digest, description: d, input: dims.input, output: dims.output, runner, ...(client !== undefined ? { owner: client } : {}), bytes: size, lastUsed: performance.now(), active: 0, retired: false };
      this.o.log(`loaded ${name} (${d.op} ${d.name}, W [${d.wDims.join(', ')}])${client !== undefined ? ` for ${client}` : ''}`);
      this.scheduler.kick();
    });
  }

  /** Makes room for a layer of `size` bytes that `client` loads (evicting its idle layers), or throws 507 / 503. */
  private makeRoom(name: string, size: number, client: string | undefined): void {
    const residents = [...this.slots.values()].flatMap((s) => (s.model === undefined ? [] : [{ slot: s, owner: s.model.owner, bytes: s.model.bytes, lastUsed: s.model.lastUsed, busy: s.model.active > 0 || s.queue.size > 0 || s.pending > 0 }]));
    const plan = planRoom(size, client, this.held, { maxBytes: this.o.maxLoadedBytes, maxLayers: this.o.maxLoadedLayers }, residents);
    if (plan.kind !== 'fits') throw plan.kind === 'busy' ? busy(`model '${name}': ${plan.reason}`) : new HttpError(507, `model '${name}': ${plan.reason}`);
    for (const r of plan.evict) {
      this.remove(r.slot, 'evicted');
      this.dropIfEmpty(r.slot);
    }
  }

  /** Unloads model `name` for `by`: 403 unless it loaded the layer or showed the server's token. */
  unload(name: string, by: Requester): Promise<void> {
    const s = this.slots.get(name);
    if (s === undefined || s.model === undefined) return Promise.reject(new HttpError(400, `model '${name}' is not loaded`));
    return this.serialize(s, () => {
      const owner = s.model?.owner;
      if (s.model !== undefined && !by.authorized && owner !== by.client) {
        throw new HttpError(403, owner === undefined ? `model '${name}' was loaded at start-up: only a request with the server's token may unload it` : `model '${name}' was loaded by another client: only that client (or a request with the server's token) may unload it`);
      }
      this.remove(s, 'unloaded');
    });
  }

  /** Takes the layer out of its slot: queued requests get 404, the runner closes once idle. */
  private remove(s: ModelSlot, what: 'unloaded' | 'evicted'): void {
    const old = s.model;
    if (old === undefined) return;
    s.model = undefined;
    this.held.layers--;
    this.held.bytes -= old.bytes;
    for (const e of s.queue.drain()) this.scheduler.settle(e, new HttpError(404, `model '${s.name}' was ${what}`));
    old.retired = true;
    if (old.active === 0) void old.runner.close().catch(() => {});
    this.o.log(`${what} ${s.name}`);
  }

  /** Closes every loaded runner (at shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => (s.model ? s.model.runner.close().catch(() => {}) : undefined)));
  }
}
