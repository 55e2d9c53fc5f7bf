/**
 * Prometheus metrics for both servers (issue 15, deliverables 4 and 7), with prom-client: each server
 * owns a Registry (two servers in one process never share counters), the process's default metrics
 * under the server's prefix, and the HTTP layer's own: responses by status and request durations by
 * route. `GET /metrics` answers the registry in the Prometheus text exposition format.
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Latency buckets in seconds: 1 ms to 60 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface HttpMetrics {
  readonly registry: Registry;
  readonly responses: Counter<'status'>;
  readonly duration: Histogram<'route'>;
}

/** A registry with the default process metrics and the HTTP layer's, every name starting with `prefix`_. */
export function createHttpMetrics(prefix: string): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `${prefix}_` });
  return {
    registry,
    responses: new Counter({ name: `${prefix}_http_responses_total`, help: 'HTTP responses sent, by status code', labelNames: ['status'], registers: [registry] }),
    duration: new Histogram({ name: `${prefix}_http_request_duration_seconds`, help: 'Time from a request arriving to its response finishing, by route', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers: [registry] }),
  };
}
