/**
 * The accelerator as a service (issue 5; docs/design.md §1): an untrusted Open Inference Protocol (KServe
 * v2) REST server on node:http, one OIP model per linear layer (protocol.ts fixes names and tensors).
 *
 * Endpoints: `GET /v2/health/live|ready`, `GET /v2` (server metadata), `GET /v2/models/{m}` (metadata),
 * `GET /v2/models/{m}/ready`, `POST /v2/models/{m}/infer` (JSON tensors and the binary tensor data
 * extension), the repository extension (`POST /v2/repository/index`, `…/models/{m}/load`, `…/unload`),
 * the statistics extension (`GET /v2/models/stats`, `GET /v2/models/{m}/stats`) and `GET /v2/slalom/stats`.
 * `/versions/1` may follow a model name.
 *
 * Backends, by name from accel/registry.ts (any registered backend that computes in-process), each
 * behind an AcceleratorHost: `onnxruntime` runs the layer's exact ONNX graph (export.ts) in an
 * InferenceSession (onnx-graph-kernels.ts), `reference` slalom's exact kernels (js or ort),
 * `webgpu` the exact WGSL kernels on a GPU. Either way the server runs
 * the graph it regenerates from the uploaded model's `slalom.layer` description and `W` initializer,
 * never an arbitrary uploaded graph: a load is parsed, checked against the exactness bound
 * ((p − 1)·Σ|w̃_row| < 2^53, field.ts) and refused if it fails, so an honest server never answers inexactly.
 *
 * Loads: a layer's model name ends with its content digest (protocol.ts); a load whose layer does
 * not match its name, or differs from what is loaded under that name, is refused with 409, and a load
 * of what is already loaded changes nothing (200). So no client can replace the layer another client
 * registered: the only layer a name can hold is the one whose digest it carries (a different layer
 * with the same 64-bit digest prefix would take ~2^64 hashes to find, and even then cannot replace a
 * loaded one). The layer's model id (model name and weightsHash prefix) is not checkable here (the
 * server never sees the whole model) and only keeps models apart.
 *
 * Memory: a request is admitted only if what it will hold — input, output, the copy of its input in
 * a batch, the backend's working memory (memory.ts) and a JSON reply's text — fits in the in-flight
 * budget (503 + Retry-After when it does not fit now, 413 when it never could); a batch whose working
 * memory would pass `maxWorkBytes` runs in pieces along the batch axis. onnxruntime sessions run
 * without a memory arena, so what a burst allocated is given back.
 *
 * Loaded layers: at most `maxLoadedLayers` holding `maxLoadedBytes` (capacity.ts); a load past the cap
 * evicts idle layers of the same client, least recently used first, else gets 507 (503 + Retry-After
 * while they are busy). Only the client that loaded a layer unloads it (403), unless the server has a
 * bearer `token`, which every load and unload must then carry (401) and whose holders may unload any.
 * Per-layer client statistics are bounded (stats.ts).
 *
 * Scheduling: requests for a layer wait in a bounded per-layer queue (503 + Retry-After when it is
 * full, or when the bytes held by all requests pass a budget) made of one FIFO per client (the
 * `X-Slalom-Client` header, else the remote address). A batch is formed round-robin over the clients
 * from requests with the same per-item shape, up to `maxBatch` items, once the oldest request waited
 * `maxDelayMs` or the batch is full; it runs once (concatenated on the batch axis) and is split back.
 * Batches run one at a time (`concurrency`), layers taking turns.
 *
 * Files: server-options.ts (options), runners.ts (backends), repository.ts (loads), batcher.ts
 * (scheduling), infer-request.ts and load-request.ts (request parsing), tensor-codec.ts (shared with the
 * client), routes.ts (endpoints), stats.ts (statistics and Prometheus metrics); the HTTP layer itself
 * (limits, bounded JSON, framing, error replies, graceful shutdown) is src/http/, shared with the
 * trusted service.
 *
 * Hardening: bodies are counted as they stream and refused with 413 past the limit (loads have their
 * own limit); no buffer is sized from a request header; JSON is pre-scanned for container count
 * before parsing; shapes, datatypes, binary sizes and every value (an integer in [0, p)) are checked;
 * every bad request gets a 4xx `{"error": "…"}` and the server keeps serving; requests that wait in a
 * queue past `requestTimeoutMs` get 503; node's own request and header timeouts apply.
 */
import { HttpService } from '../../http/service.js';
import { Batcher } from './batcher.js';
import { MemoryBudget } from './memory.js';
import type { ServerStats } from './protocol.js';
import { LayerRepository, type ModelSlot } from './repository.js';
import { AcceleratorRoutes } from './routes.js';
import { createRunnerFactory, type RunnerFactory } from './runners.js';
import { resolveOptions, type AcceleratorServerOptions, type ResolvedServerOptions } from './server-options.js';
import { AcceleratorMetrics, serverStats } from './stats.js';

export type { AcceleratorServerOptions } from './server-options.js';

export class AcceleratorServer {
  private readonly service: HttpService;
  private readonly budget: MemoryBudget;
  private readonly startedAt = performance.now();
  private readonly batcher: Batcher;
  private readonly repository: LayerRepository;
  private closed: Promise<void> | undefined;

  private constructor(
    readonly options: ResolvedServerOptions,
    private readonly factory: RunnerFactory,
  ) {
    const o = options;
    this.budget = new MemoryBudget(o.maxInflightBytes);
    let routes: AcceleratorRoutes | undefined;
    this.service = new HttpService(
      { port: o.port, host: o.host, maxHeaderBytes: o.maxHeaderBytes, requestTimeoutMs: o.requestTimeoutMs, maxConnections: o.maxConnections, metricsPrefix: 'slalom_accelerator' },
      (req, res) => routes!.route(req, res),
    );
    const slots = (): Iterable<ModelSlot> => this.repository.slots.values();
    const metrics = new AcceleratorMetrics(this.service.metrics.registry, { slots, inflightBytes: () => this.budget.heldBytes });
    this.batcher = new Batcher(o, slots, metrics, () => this.service.draining);
    this.repository = new LayerRepository(o, factory, this.batcher);
    routes = new AcceleratorRoutes({ options: o, service: this.service, budget: this.budget, metrics, batcher: this.batcher, repository: this.repository, stats: () => this.stats() });
  }

  /** Starts a server (backend ready, repository preloaded when asked) listening on `options.port`. */
  static async start(options: AcceleratorServerOptions = {}): Promise<AcceleratorServer> {
    const o = resolveOptions(options);
    const server = new AcceleratorServer(o, await createRunnerFactory(o));
    if (o.preload && o.modelRepository !== undefined) {
      for (const name of server.repository.names()) {
        try {
          await server.repository.load(name, undefined);
        } catch (e) {
          o.log(`preload of ${name} failed: ${(e as Error).message}`);
        }
      }
    }
    try {
      await server.service.listen();
    } catch (e) {
      await server.repository.closeAll();
      await server.factory.close().catch(() => {});
      throw e;
    }
    o.log(`slalom accelerator (${server.factory.name}) listening on ${server.url}`);
    return server;
  }

  get port(): number {
    return this.service.port;
  }

  get url(): string {
    return this.service.url;
  }

  /** Names of the loaded models. */
  loadedModels(): string[] {
    return [...this.repository.slots.values()].filter((s) => s.model !== undefined).map((s) => s.name);
  }

  stats(): ServerStats {
    return serverStats(this.repository.slots.values(), this.options.maxQueue, { startedAt: this.startedAt, inflightBytes: this.budget.heldBytes, backend: this.factory.name, totals: this.service.totals });
  }

  /**
   * Graceful stop: not ready, no new connections; queued and running batches finish (up to `graceMs`,
   * then what is still queued gets 503); then connections close and sessions are released.
   */
  close(graceMs = 10_000): Promise<void> {
    this.closed ??= (async () => {
      this.options.log('shutting down: finishing queued requests');
      await this.service.close(
        {
          finish: () => {
            this.batcher.kick();
            return this.batcher.idle();
          },
          abandon: () => this.batcher.abandon(),
          release: async () => {
            await this.repository.closeAll();
            await this.factory.close().catch(() => {});
          },
        },
        graceMs,
      );
      this.options.log('stopped');
    })();
    return this.closed;
  }
}

/** Starts an accelerator server; see AcceleratorServerOptions. */
export function startAcceleratorServer(options: AcceleratorServerOptions = {}): Promise<AcceleratorServer> {
  return AcceleratorServer.start(options);
}
