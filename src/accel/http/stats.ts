/**
 * What the accelerator service counts (server.ts): per layer model, requests, items, batches and
 * their sizes, rejections, compute and queue time — served as `GET /v2/slalom/stats`, as Triton's
 * statistics extension (`GET /v2/models/stats`), and as Prometheus metrics (`GET /metrics`: queue
 * depth, batch sizes, compute and queue-wait histograms, rejections by reason, memory in flight).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../../http/metrics.js';
import type { Totals } from '../../http/service.js';
import { MODEL_VERSION, type ModelStats, type ServerStats } from './protocol.js';
import type { ModelSlot } from './repository.js';

const PREFIX = 'slalom_accelerator';

export type RejectReason = 'queue_full' | 'invalid' | 'timeout' | 'failed';

/** Client ids counted one by one per layer model; requests of the rest are summed under OTHER_CLIENTS. */
export const MAX_TRACKED_CLIENTS = 64;
export const OTHER_CLIENTS = '(other)';

/**
 * Answered requests per client id, for the MAX_TRACKED_CLIENTS most recently seen ids; an id pushed
 * out adds its count to OTHER_CLIENTS (issue 20: 20 000 fresh ids grew the server by 47 MB).
 */
export class ClientCounts {
  private readonly counts = new Map<string, number>();
  private others = 0;

  constructor(private readonly cap = MAX_TRACKED_CLIENTS) {}

  get tracked(): number {
    return this.counts.size;
  }

  add(client: string): void {
    const n = this.counts.get(client);
    if (n !== undefined) this.counts.delete(client); // re-inserted below: the most recent
    else if (this.counts.size >= this.cap) {
      const [oldest, count] = this.counts.entries().next().value!;
      this.counts.delete(oldest);
      this.others += count;
    }
    this.counts.set(client, (n ?? 0) + 1);
  }

  toJSON(): Record<string, number> {
    const out = Object.fromEntries(this.counts);
    if (this.others > 0) out[OTHER_CLIENTS] = (out[OTHER_CLIENTS] ?? 0) + this.others;
    return out;
  }
}

export class MutableStats {
  requests = 0;
  items = 0;
  batches = 0;
  runs = 0;
  batchSizes: Record<string, number> = {};
  batchRequests: Record<string, number> = {};
  rejectedQueueFull = 0;
  rejectedInvalid = 0;
  timedOut = 0;
  failed = 0;
  computeMs = 0;
  queueNs = 0;
  lastInference = 0;
  readonly clients = new ClientCounts();
  /** Per batch size: count and compute ns (statistics extension). */
  batchCompute = new Map<number, { count: number; ns: number }>();
}

/** What the metrics read when scraped. */
export interface StatsSource {
  slots(): Iterable<ModelSlot>;
  inflightBytes(): number;
}

/** The accelerator's Prometheus metrics; the live ones are fed by record*(), the gauges read the source at scrape time. */
export class AcceleratorMetrics {
  private readonly requests: Counter<'model'>;
  private readonly items: Counter<'model'>;
  private readonly rejected: Counter<'model' | 'reason'>;
  private readonly batchItems: Histogram;
  private readonly batchRequests: Histogram;
  private readonly compute: Histogram;
  private readonly queueWait: Histogram;

  constructor(registry: Registry, source: StatsSource) {
    const registers = [registry];
    this.requests = new Counter({ name: `${PREFIX}_requests_total`, help: 'Layer requests answered with a result', labelNames: ['model'], registers });
    this.items = new Counter({ name: `${PREFIX}_items_total`, help: 'Items (sum of batch axes) computed', labelNames: ['model'], registers });
    this.rejected = new Counter({ name: `${PREFIX}_rejected_total`, help: 'Layer requests refused or failed, by reason', labelNames: ['model', 'reason'], registers });
    const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];
    this.batchItems = new Histogram({ name: `${PREFIX}_batch_items`, help: 'Items per batch run', buckets: sizes, registers });
    this.batchRequests = new Histogram({ name: `${PREFIX}_batch_requests`, help: 'Requests merged per batch', buckets: sizes, registers });
    this.compute = new Histogram({ name: `${PREFIX}_compute_seconds`, help: 'Compute time per batch', buckets: LATENCY_BUCKETS, registers });
    this.queueWait = new Histogram({ name: `${PREFIX}_queue_wait_seconds`, help: 'Time a request waited in its layer queue', buckets: LATENCY_BUCKETS, registers });
    new Gauge({
      name: `${PREFIX}_queue_depth`,
      help: 'Requests waiting per layer model',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const s of source.slots()) this.set({ model: s.name }, s.queue.size);
      },
    });
    new Gauge({
      name: `${PREFIX}_models_loaded`,
      help: 'Layer models loaded',
      registers,
      collect() {
        let n = 0;
        for (const s of source.slots()) if (s.model !== undefined) n++;
        this.set(n);
      },
    });
    new Gauge({
      name: `${PREFIX}_inflight_bytes`,
      help: 'Bytes held by requests in flight (bodies, tensors, results, working memory)',
      registers,
      collect() {
        this.set(source.inflightBytes());
      },
    });
  }

  /** Requests of a batch leave the queue, having waited `waitMs` each. */
  recordWaits(slot: ModelSlot, waitsMs: readonly number[]): void {
    for (const w of waitsMs) {
      slot.stats.queueNs += w * 1e6;
      this.queueWait.observe(w / 1000);
    }
  }

  /** A batch of `items` items from `requests` requests ran in `computeMs`. */
  recordBatch(slot: ModelSlot, items: number, requests: number, computeMs: number): void {
    const st = slot.stats;
    st.batches++;
    st.items += items;
    st.computeMs += computeMs;
    st.lastInference = Date.now();
    st.batchSizes[items] = (st.batchSizes[items] ?? 0) + 1;
    st.batchRequests[requests] = (st.batchRequests[requests] ?? 0) + 1;
    const bc = st.batchCompute.get(items) ?? { count: 0, ns: 0 };
    bc.count++;
    bc.ns += computeMs * 1e6;
    st.batchCompute.set(items, bc);
    this.items.inc({ model: slot.name }, items);
    this.batchItems.observe(items);
    this.batchRequests.observe(requests);
    this.compute.observe(computeMs / 1000);
  }

  /** One request of `client` answered with a result. */
  recordAnswer(slot: ModelSlot, client: string): void {
    slot.stats.requests++;
    slot.stats.clients.add(client);
    this.requests.inc({ model: slot.name });
  }

  recordRejection(slot: ModelSlot, reason: RejectReason, count = 1): void {
    const st = slot.stats;
    if (reason === 'queue_full') st.rejectedQueueFull += count;
    else if (reason === 'invalid') st.rejectedInvalid += count;
    else if (reason === 'timeout') st.timedOut += count;
    else st.failed += count;
    this.rejected.inc({ model: slot.name, reason }, count);
  }
}

/** `GET /v2/slalom/stats`. */
export function serverStats(slots: Iterable<ModelSlot>, maxQueue: number, server: { startedAt: number; inflightBytes: number; backend: string; totals: Totals }): ServerStats {
  const models: Record<string, ModelStats> = {};
  for (const s of slots) {
    const m = s.stats;
    models[s.name] = {
      ready: s.model !== undefined,
      queueDepth: s.queue.size,
      queuedItems: s.queue.items,
      maxQueue,
      requests: m.requests,
      items: m.items,
      batches: m.batches,
      runs: m.runs,
      batchSizes: { ...m.batchSizes },
      batchRequests: { ...m.batchRequests },
      rejectedQueueFull: m.rejectedQueueFull,
      rejectedInvalid: m.rejectedInvalid,
      timedOut: m.timedOut,
      failed: m.failed,
      computeMs: m.computeMs,
      clients: m.clients.toJSON(),
    };
  }
  const mem = process.memoryUsage();
  const t = server.totals;
  return {
    uptimeMs: performance.now() - server.startedAt,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    inflightBytes: server.inflightBytes,
    backend: server.backend,
    totals: { requests: t.requests, ok: t.ok, rejected: { ...t.rejected } },
    models,
  };
}

/** One model of Triton's statistics extension. */
export function tritonStats(s: ModelSlot): unknown {
  const m = s.stats;
  const ns = Math.round(m.computeMs * 1e6);
  return {
    name: s.name,
    version: MODEL_VERSION,
    last_inference: m.lastInference,
    inference_count: m.items,
    execution_count: m.batches,
    inference_stats: {
      success: { count: m.requests, ns },
      fail: { count: m.failed + m.timedOut, ns: 0 },
      queue: { count: m.requests, ns: Math.round(m.queueNs) },
      compute_infer: { count: m.requests, ns },
    },
    batch_stats: [...m.batchCompute.entries()].sort((x, y) => x[0] - y[0]).map(([size, v]) => ({ batch_size: size, compute_infer: { count: v.count, ns: Math.round(v.ns) } })),
  };
}
