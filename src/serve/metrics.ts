/**
 * The trusted service's Prometheus metrics (issue 15, deliverable 4), besides the HTTP layer's
 * (http/metrics.ts): requests by outcome, latency histograms by phase (queue wait, the run, and each
 * trusted-runtime phase the run reports: blind, unseal, validate, verify, accelerator, …), integrity
 * failures, incidents, queue depth and inferences in flight, pads ready, precomputed and the
 * precompute rate, empty-pool events by policy, quarantined accelerators, refused encrypted requests.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../http/metrics.js';

const PREFIX = 'slalom_serve';

export type Outcome = 'ok' | 'invalid' | 'busy' | 'integrity' | 'malformed_reply' | 'pads_exhausted' | 'pad_auth' | 'overflow' | 'transport' | 'error';

/** What the gauges read at scrape time, per served model. */
export interface ServeGaugeSource {
  models(): Iterable<{
    readonly name: string;
    queueDepth(): number;
    inflight(): number;
    padsRemaining(): number | undefined;
    padsPerSecond(): number | undefined;
    quarantined(): number;
  }>;
}

export class ServeMetrics {
  readonly requests: Counter<'model' | 'outcome'>;
  readonly phases: Histogram<'model' | 'phase'>;
  readonly integrityFailures: Counter<'model'>;
  readonly incidents: Counter<'model' | 'code'>;
  readonly padsPrecomputed: Counter<'model'>;
  readonly padsExhausted: Counter<'model' | 'policy'>;
  readonly encrypted: Counter<'result'>;

  constructor(registry: Registry, source: ServeGaugeSource) {
    const registers = [registry];
    this.requests = new Counter({ name: `${PREFIX}_requests_total`, help: 'Inference requests by model and outcome', labelNames: ['model', 'outcome'], registers });
    this.phases = new Histogram({ name: `${PREFIX}_phase_seconds`, help: 'Latency of an inference request by phase (queue, run, total, and the trusted runtime phases of the run)', labelNames: ['model', 'phase'], buckets: LATENCY_BUCKETS, registers });
    this.integrityFailures = new Counter({ name: `${PREFIX}_integrity_failures_total`, help: 'Inferences refused because an accelerator reply failed its Freivalds check (IntegrityError)', labelNames: ['model'], registers });
    this.incidents = new Counter({ name: `${PREFIX}_incidents_total`, help: 'Failures recovered during inferences (recompute policy, skipped pads, local fallbacks), by code', labelNames: ['model', 'code'], registers });
    this.padsPrecomputed = new Counter({ name: `${PREFIX}_pads_precomputed_total`, help: 'Pads made in the background (the store\'s refill, or the memory pool\'s thread)', labelNames: ['model'], registers });
    this.padsExhausted = new Counter({ name: `${PREFIX}_pads_exhausted_total`, help: 'Inferences that found no pad ready, by the policy applied (wait, fail, local)', labelNames: ['model', 'policy'], registers });
    this.encrypted = new Counter({ name: `${PREFIX}_encrypted_requests_total`, help: 'Encrypted (HPKE) requests by result', labelNames: ['result'], registers });
    const gauge = (name: string, help: string, read: (m: ReturnType<ServeGaugeSource['models']> extends Iterable<infer M> ? M : never) => number | undefined): void => {
      new Gauge({
        name: `${PREFIX}_${name}`,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const m of source.models()) {
            const v = read(m);
            if (v !== undefined) this.set({ model: m.name }, v);
          }
        },
      });
    };
    gauge('queue_depth', 'Requests waiting for a lane', (m) => m.queueDepth());
    gauge('inflight', 'Inferences running (one per busy lane)', (m) => m.inflight());
    gauge('pads_remaining', 'Pads ready in the pad source', (m) => m.padsRemaining());
    gauge('precompute_pads_per_second', 'Pads per second of the last refill run (memory pool: of its last pad)', (m) => m.padsPerSecond());
    gauge('accelerators_quarantined', 'Accelerators this model no longer uses (a refused reply)', (m) => m.quarantined());
  }

  /** Records one run's phases (ms) and incidents. */
  recordRun(model: string, timings: Readonly<Record<string, number>>, incidents: readonly { code: string }[]): void {
    for (const [phase, ms] of Object.entries(timings)) this.phases.observe({ model, phase }, ms / 1000);
    for (const i of incidents) this.incidents.inc({ model, code: i.code });
  }
}
