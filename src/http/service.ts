/**
 * The HTTP layer both servers stand on (issue 15, deliverable 7): the accelerator service
 * (accel/http/server.ts) and the trusted inference service (serve/server.ts). On node:http, which
 * keeps the streaming limits in our hands (body.ts counts every chunk; a framework that buffers
 * bodies first would not).
 *
 * What it holds: the server with its header limit (431 past it), request and header timeouts (408),
 * a connection limit; error replies (`{"error": "…"}` with the HttpError's status and headers, 500
 * for anything else, the connection closed after a body left unread); status counts; `GET /metrics`
 * (metrics.ts); a graceful shutdown that stops accepting, reports not-ready, lets the server finish
 * its work (up to a grace period), then closes every connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { TransportError } from '../errors.js';
import { discardRest } from './body.js';
import { HttpError } from './http-error.js';
import { createHttpMetrics, type HttpMetrics } from './metrics.js';

export interface HttpServiceOptions {
  readonly port: number;
  readonly host: string;
  /** Largest request head (more is 431). */
  readonly maxHeaderBytes: number;
  /** Longest a request may take to arrive (408). */
  readonly requestTimeoutMs: number;
  readonly maxConnections: number;
  /** Prefix of every metric name, e.g. `slalom_accelerator`. */
  readonly metricsPrefix: string;
}

export interface Totals {
  requests: number;
  ok: number;
  /** HTTP status → responses with it (4xx and 5xx). */
  rejected: Record<string, number>;
}

/** What a server does while the service shuts down: finish its work (resolving when idle), give up what is left after the grace period, then release its resources. */
export interface ShutdownHooks {
  finish(): Promise<void>;
  abandon(): void;
  release(): Promise<void>;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A request's path and method, as a router reads them (HttpService.routeRequest). */
export interface RouteRequest {
  readonly raw: string;
  readonly parts: readonly string[];
  readonly method: string;
  /** GET or HEAD. */
  readonly get: boolean;
  /** 405 unless `ok`, naming the methods allowed. */
  allow(ok: boolean, allowed: string): void;
}

export class HttpService {
  readonly metrics: HttpMetrics;
  readonly totals: Totals = { requests: 0, ok: 0, rejected: {} };
  private readonly http: Server;
  private readonly sockets = new Set<Socket>();
  private readonly routes = new WeakMap<ServerResponse, string>();
  private boundPort = 0;
  private closing = false;

  constructor(
    private readonly options: HttpServiceOptions,
    route: RouteHandler,
  ) {
    this.metrics = createHttpMetrics(options.metricsPrefix);
    this.http = createServer({ maxHeaderSize: options.maxHeaderBytes, requestTimeout: options.requestTimeoutMs, headersTimeout: Math.min(options.requestTimeoutMs, 10_000) }, (req, res) => {
      void this.handle(req, res, route);
    });
    this.http.maxConnections = options.maxConnections;
    this.http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.http.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      this.count(status);
      if (socket.writable) {
        const body = JSON.stringify({ error: status === 431 ? 'request header too large' : status === 408 ? 'request timeout' : 'malformed HTTP request' });
        socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroySoon?.();
    });
  }

  /** True once close() began: new work is refused, readiness is 503. */
  get draining(): boolean {
    return this.closing;
  }

  /** Listens on the configured port; TransportError when it cannot. */
  async listen(): Promise<void> {
    const { port, host } = this.options;
    try {
      await new Promise<void>((resolve, reject) => {
        this.http.once('error', reject);
        this.http.listen(port, host, () => {
          this.http.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw new TransportError(`cannot listen on ${host}:${port}: ${(e as Error).message}`, { cause: e });
    }
    this.boundPort = (this.http.address() as AddressInfo).port;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.options.host;
    const h = host.includes(':') ? `[${host}]` : host;
    return `http://${h === '0.0.0.0' ? '127.0.0.1' : h}:${this.boundPort}`;
  }

  /** Names the route a response answers, for the duration histogram (default 'other'). */
  label(res: ServerResponse, route: string): void {
    this.routes.set(res, route);
  }

  send(res: ServerResponse, status: number, body: string | Buffer | readonly Buffer[], headers: Record<string, string | number> = {}): void {
    if (res.headersSent || res.destroyed) return;
    this.count(status);
    const parts = Array.isArray(body) ? body : [typeof body === 'string' ? Buffer.from(body) : (body as Buffer)];
    const length = parts.reduce((a, p) => a + p.length, 0);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': length, ...(this.closing ? { Connection: 'close' } : {}), ...headers });
    // The last part goes with end(): one write for the common one-part answer.
    for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
    res.end(parts[parts.length - 1]);
  }

  sendJson(res: ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
    this.send(res, status, JSON.stringify(obj), headers);
  }

  /** `{"error": …}` with the error's status (500 for anything that is not an HttpError); closes the connection after a body left unread. */
  sendError(res: ServerResponse, req: IncomingMessage, err: unknown): void {
    const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error)?.message ?? String(err)}`);
    // A body left unread (refused before reading, or cut off at a limit) is not drained: close the connection.
    const unread = !req.complete && (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0');
    this.sendJson(res, e.status, { error: e.message, ...(e.code !== undefined ? { code: e.code } : {}) }, e.headers);
    if (unread) res.once('finish', () => discardRest(req));
  }

  /** The registry in Prometheus text format. */
  async sendMetrics(res: ServerResponse): Promise<void> {
    const registry = this.metrics.registry;
    this.send(res, 200, await registry.metrics(), { 'Content-Type': registry.contentType });
  }

  /**
   * The start every router shares: the request's path segments and method, and `GET /metrics`
   * answered here (both servers have it). Undefined when the request has been answered.
   */
  async routeRequest(req: IncomingMessage, res: ServerResponse): Promise<RouteRequest | undefined> {
    const raw = req.url ?? '/';
    const parts = pathSegments(raw);
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    const allow = (ok: boolean, allowed: string): void => allowMethod(ok, method, allowed);
    if (parts.length === 1 && parts[0] === 'metrics') {
      allow(get, 'GET');
      this.label(res, 'metrics');
      await this.sendMetrics(res);
      return undefined;
    }
    return { raw, parts, method, get, allow };
  }

  /**
   * Graceful stop: not ready, no new connections; the server finishes its work (up to `graceMs`, then
   * abandons what is left); responses just written get a moment to flush; then every connection is
   * closed and the server releases its resources.
   */
  async close(hooks: ShutdownHooks, graceMs: number): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([hooks.finish(), new Promise<void>((r) => (graceTimer = setTimeout(r, graceMs)))]);
    clearTimeout(graceTimer);
    hooks.abandon();
    await new Promise((r) => setTimeout(r, 50));
    this.http.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await stopped;
    await hooks.release();
  }

  private count(status: number): void {
    this.metrics.responses.inc({ status: String(status) });
    if (status < 400) this.totals.ok++;
    else this.totals.rejected[status] = (this.totals.rejected[status] ?? 0) + 1;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, route: RouteHandler): Promise<void> {
    this.totals.requests++;
    const stop = this.metrics.duration.startTimer();
    res.once('close', () => stop({ route: this.routes.get(res) ?? 'other' }));
    try {
      await route(req, res);
    } catch (err) {
      this.sendError(res, req, err);
    }
  }
}

/** The path of a request URL as decoded segments (400 for a malformed escape). */
function pathSegments(raw: string): string[] {
  const q = raw.indexOf('?');
  try {
    return (q < 0 ? raw : raw.slice(0, q)).split('/').filter((p) => p !== '').map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'malformed URL');
  }
}

/** 405 with Allow unless `ok`. */
function allowMethod(ok: boolean, method: string, allowed: string): void {
  if (!ok) throw new HttpError(405, `method ${method} not allowed here (use ${allowed})`, { Allow: allowed });
}
