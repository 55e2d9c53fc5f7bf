/**
 * The trusted inference service (issue 15): the trusted runtime as a long-running Open Inference
 * Protocol (KServe v2 REST) server for clients — what `slalom serve` runs. It holds, per served
 * model, a bounded fair queue and several sessions sharing one accelerator (served-model.ts), the
 * pads' background refill (refill.ts; an in-memory pool refills itself, memory-pad-source.ts), per-process keys (attest/keys.ts) published in an
 * attestation document, an HPKE channel with a replay guard, signed receipts, and Prometheus
 * metrics; the HTTP layer (limits, bounded JSON, framing, error replies, graceful shutdown) is
 * src/http/, shared with the accelerator service.
 *
 * Placement: serve/ sits above api/ (it runs sessions) and below cli/; it uses attest/ and http/,
 * which import no other folder.
 */
import { randomBytes } from 'node:crypto';
import { ReplayGuard } from '../attest/channel.js';
import { ServiceKeys } from '../attest/keys.js';
import { HttpService } from '../http/service.js';
import { ServeMetrics } from './metrics.js';
import { resolveTrustedOptions, type ResolvedTrustedOptions, type TrustedServerOptions } from './options.js';
import { ServeRoutes } from './routes.js';
import { ServedModel } from './served-model.js';

export type { TrustedServerOptions } from './options.js';

export class TrustedServer {
  readonly keys = ServiceKeys.generate();
  private readonly service: HttpService;
  private readonly metrics: ServeMetrics;
  private readonly models = new Map<string, ServedModel>();
  private readonly startedAt = performance.now();
  private readonly idPrefix = randomBytes(8).toString('hex');
  private requests = 0;
  private closed: Promise<void> | undefined;

  private constructor(readonly options: ResolvedTrustedOptions) {
    const o = options;
    const guard = new ReplayGuard(o.replayWindowMs);
    let routes: ServeRoutes | undefined;
    this.service = new HttpService(
      { port: o.port, host: o.host, maxHeaderBytes: o.maxHeaderBytes, requestTimeoutMs: o.requestTimeoutMs, maxConnections: o.maxConnections, metricsPrefix: 'slalom_serve' },
      (req, res) => routes!.route(req, res),
    );
    this.metrics = new ServeMetrics(this.service.metrics.registry, {
      models: () =>
        [...this.models.values()].map((m) => ({
          name: m.name,
          queueDepth: () => m.queueDepth(),
          inflight: () => m.inflight(),
          padsRemaining: () => m.pads?.remaining(),
          padsPerSecond: () => m.refill?.status().padsPerSecond,
          quarantined: () => m.quarantined(),
        })),
    });
    routes = new ServeRoutes({ options: o, service: this.service, models: this.models, keys: this.keys, guard, metrics: this.metrics, nextRequestId: () => `${this.idPrefix}-${++this.requests}`, stats: () => this.stats() });
  }

  /** Opens every model's sessions (and refills), then listens. */
  static async start(options: TrustedServerOptions): Promise<TrustedServer> {
    const server = new TrustedServer(resolveTrustedOptions(options));
    try {
      for (const config of server.options.models) {
        const admission = { onEvent: (e: { message: string }) => server.options.log(`${config.name ?? config.model.name}: ${e.message}`), ...config.admission };
        const served = await ServedModel.open({ ...config, admission, session: { top: server.options.top, ...config.session } }, server.metrics);
        server.models.set(served.name, served);
      }
      await server.service.listen();
    } catch (e) {
      await Promise.all([...server.models.values()].map((m) => m.close()));
      throw e;
    }
    server.options.log(`slalom serve: ${[...server.models.values()].map((m) => `${m.name} (${m.mode}${m.pads !== undefined ? `, pads: ${m.pads.kind}` : ''})`).join(', ')} on ${server.url}; attestation provider '${server.options.attestation.name}'${server.options.attestation.development ? ' (development only: signs nothing)' : ''}`);
    return server;
  }

  get port(): number {
    return this.service.port;
  }

  get url(): string {
    return this.service.url;
  }

  served(name: string): ServedModel | undefined {
    return this.models.get(name);
  }

  stats(): unknown {
    return {
      uptimeMs: performance.now() - this.startedAt,
      rssBytes: process.memoryUsage().rss,
      totals: { ...this.service.totals, rejected: { ...this.service.totals.rejected } },
      keyHash: this.keys.keyHash,
      models: Object.fromEntries(
        [...this.models.values()].map((m) => [m.name, { mode: m.mode, queueDepth: m.queueDepth(), inflight: m.inflight(), ...(m.pads !== undefined ? { pads: { source: m.pads.kind, ...(m.model.decoder !== undefined ? { per: 'token' } : {}), ...(m.refill?.status() ?? { remaining: m.pads.remaining() }) } } : {}), ...(m.admission !== undefined ? { accelerator: { admitted: m.admission.admitted(), readmissions: m.admission.readmissions, ...(m.admission.reason !== undefined ? { quarantinedFor: m.admission.reason.slice(0, 300) } : {}) } } : {}) }]),
      ),
    };
  }

  /** Graceful stop: not ready, queued and running requests finish (up to `graceMs`, then 503), then sessions, refills and accelerators close. */
  close(graceMs = 10_000): Promise<void> {
    this.closed ??= (async () => {
      const models = [...this.models.values()];
      await this.service.close(
        {
          finish: () => Promise.all(models.map((m) => m.idle())).then(() => undefined),
          abandon: () => models.forEach((m) => m.abandon()),
          release: () => Promise.all(models.map((m) => m.close())).then(() => undefined),
        },
        graceMs,
      );
      this.options.log('stopped');
    })();
    return this.closed;
  }
}

export function startTrustedServer(options: TrustedServerOptions): Promise<TrustedServer> {
  return TrustedServer.start(options);
}
