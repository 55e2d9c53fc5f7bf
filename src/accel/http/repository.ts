/**
 * The layer models the accelerator service holds (server.ts), one slot per model name: loads from a
 * model repository (`slalom export`) or from the request, unloads, and the rule that binds a name to
 * its layer. A layer's model name ends with its content digest (protocol.ts); a load whose layer does
 * not match its name, or differs from what is loaded under that name, is refused with 409, and a load
 * of what is already loaded changes nothing (200). So no client can replace the layer another client
 * registered: the only layer a name can hold is the one whose digest it carries (a different layer
 * with the same 64-bit digest prefix would take ~2^64 hashes to find, and even then cannot replace a
 * loaded one). A failed first load leaves no slot behind, so hostile names do not accumulate.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FairQueue } from '../../http/fair-queue.js';
import { HttpError } from '../../http/http-error.js';
import type { Entry } from './batcher.js';
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
  /** Batches of this runner in flight; the runner is closed once it is retired and this is 0. */
  active: number;
  retired: boolean;
}

export interface ModelSlot {
  readonly name: string;
  model?: LoadedModel;
  readonly queue: FairQueue<Entry>;
  readonly stats: MutableStats;
  /** Serialises loads and unloads of this name. */
  loading: Promise<unknown>;
}

/** What the repository tells the scheduler: new work may run; a queued request is answered. */
export interface SlotScheduler {
  kick(): void;
  settle(entry: Entry, err: HttpError): void;
}

export class LayerRepository {
  readonly slots = new Map<string, ModelSlot>();

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
      s = { name, queue: new FairQueue<Entry>(), stats: new MutableStats(), loading: Promise.resolve() };
      this.slots.set(name, s);
    }
    return s;
  }

  /**
   * Loads model `name` from `bytes`, or from the repository when `bytes` is undefined: 409 unless the
   * layer is the one the name's digest names and nothing else is loaded under it; nothing changes if
   * it is loaded already.
   */
  load(name: string, bytes: Uint8Array | undefined): Promise<void> {
    const claimed = parseLayerModelName(name);
    if (claimed === undefined) {
      return Promise.reject(new HttpError(400, `model '${name}': a layer's name must end with .l<index>.<first ${NAME_DIGEST_HEX} hex digits of the layer's digest> (as slalom export and the slalom client name layers)`));
    }
    const s = this.slot(name);
    const run = s.loading.then(async () => {
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
        return; // the very same layer: nothing to do
      }
      const runner = await this.factory.create(parsed).catch((e: unknown) => {
        throw new HttpError(400, `model '${name}' cannot be run: ${(e as Error).message}`);
      });
      const dims = itemDims(d);
      if (this.slots.get(name) !== s) this.slots.set(name, s); // a failed load before this one may have dropped the slot
      s.model = { name, digest, description: d, input: dims.input, output: dims.output, runner, active: 0, retired: false };
      this.o.log(`loaded ${name} (${d.op} ${d.name}, W [${d.wDims.join(', ')}])`);
      this.scheduler.kick();
    });
    s.loading = run.catch(() => {
      // A failed first load leaves no trace (hostile names must not accumulate).
      if (s.model === undefined && s.queue.size === 0 && s.stats.requests === 0 && this.slots.get(name) === s) this.slots.delete(name);
    });
    return run;
  }

  async unload(name: string): Promise<void> {
    const s = this.slots.get(name);
    if (s === undefined || s.model === undefined) throw new HttpError(400, `model '${name}' is not loaded`);
    await (s.loading = s.loading.then(() => {
      const old = s.model;
      s.model = undefined;
      for (const e of s.queue.drain()) this.scheduler.settle(e, new HttpError(404, `model '${name}' was unloaded`));
      if (old) this.retire(old);
      this.o.log(`unloaded ${name}`);
    }));
  }

  private retire(m: LoadedModel): void {
    m.retired = true;
    if (m.active === 0) void m.runner.close().catch(() => {});
  }

  /** Closes every loaded runner (at shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => (s.model ? s.model.runner.close().catch(() => {}) : undefined)));
  }
}
