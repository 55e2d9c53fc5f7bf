/**
 * Load test of the accelerator service (issue 5): many trusted clients, two accelerators, loopback only.
 *
 *   npx tsx bench/loadtest.ts [--clients 4] [--inferences 40] [--seconds 60] [--accel-seconds 5] [--out bench/LOADTEST.md]
 *
 * Starts `slalom accelerator serve` twice per scenario (child processes on 127.0.0.1, port 0) and runs
 * N trusted clients in this process — each its own SlalomModel, trusted state, pad store and HttpBackend
 * over both accelerators — doing M Fashion-MNIST inferences each (at most T seconds per scenario),
 * every result's logits compared bit for bit with the baseline (the whole model in the trusted runtime):
 *
 * 1. private+verified and verified, with server-side batching (--max-batch 8) and without (--max-batch 1);
 * 2. accelerator only: 16 concurrent raw layer requests for S seconds, batching on and off — what batching
 *    does to the accelerator's own throughput, without the trusted side's work in the way;
 * 3. private+verified with one of the two accelerators SIGKILLed once half the inferences are done:
 *    every inference must still complete, correctly (0 lost, 0 wrong).
 *
 * Prints throughput, p50/p99 latency, errors, wrong results, failovers and the accelerators' batch sizes
 * (GET /v2/slalom/stats) and writes them to --out. Every loop is bounded by a count and a deadline;
 * every process it starts is killed by pid when it ends, whatever happens.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HttpBackend } from '../src/accel/http/client.js';
import type { ServerStats } from '../src/accel/http/protocol.js';
import { modelIdOf } from '../src/accel/http/protocol.js';
import { PadStore } from '../src/blind/pad-store.js';
import { precomputePads } from '../src/runtime/precompute.js';
import { TrustedState } from '../src/blind/trusted-state.js';
import { P } from '../src/field/prime.js';
import { loadFashionMnist } from '../src/io/idx.js';
import { createExactKernels } from '../src/kernels/exact-linear.js';
import { SlalomModel } from '../src/runtime/model.js';
import { openProtocol, publicLayers, type OpenedProtocol } from '../src/runtime/session.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { killAll, startAccelerator, stopAccelerator, type Accelerator } from './lib/accelerator-service.js';
import { fmtCount, mdTable, textTable } from './lib/stats.js';

const USAGE = `usage: npx tsx bench/loadtest.ts [--clients N] [--inferences M] [--seconds T] [--accel-seconds S] [--out file]`;
const { values: argv } = parseArgs({
  options: {
    clients: { type: 'string', default: '4' },
    inferences: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '60' },
    'accel-seconds': { type: 'string', default: '5' },
    out: { type: 'string', default: 'bench/LOADTEST.md' },
    help: { type: 'boolean', default: false },
  },
});
if (argv.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const int = (text: string, flag: string, max: number): number => {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new Error(`--${flag} must be an integer in [1, ${max}], got '${text}'\n${USAGE}`);
  return v;
};
const CLIENTS = int(argv.clients, 'clients', 64);
const INFERENCES = int(argv.inferences, 'inferences', 10_000);
const SECONDS = int(argv.seconds, 'seconds', 3600);
const ACCEL_SECONDS = int(argv['accel-seconds'], 'accel-seconds', 600);
const MODEL = 'models/fashion-mnist.onnx';
const IMAGES = 100;
const BATCHED = 8;
const ACCEL_LOOPS = 16;
const CLIENT_TIMEOUT_MS = 10_000;
/** Inferences per client before the measured ones in each scenario (first-run costs: sessions, JIT); checked, not timed. */
const WARMUP = 2;

const log = (line: string): void => void process.stderr.write(`[loadtest] ${line}\n`);

// ---- accelerators (child processes)

async function serverStats(a: Accelerator): Promise<ServerStats | undefined> {
  try {
    const res = await fetch(`${a.url}/v2/slalom/stats`, { signal: AbortSignal.timeout(3_000) });
    return res.ok ? ((await res.json()) as ServerStats) : undefined;
  } catch {
    return undefined;
  }
}

interface BatchSummary {
  requests: number;
  items: number;
  batches: number;
  computeMs: number;
  rejected503: number;
  histogram: Map<number, number>;
}

function summarize(stats: readonly (ServerStats | undefined)[]): BatchSummary {
  const s: BatchSummary = { requests: 0, items: 0, batches: 0, computeMs: 0, rejected503: 0, histogram: new Map() };
  for (const st of stats) {
    if (st === undefined) continue;
    s.rejected503 += st.totals.rejected['503'] ?? 0;
    for (const m of Object.values(st.models)) {
      s.requests += m.requests;
      s.items += m.items;
      s.batches += m.batches;
      s.computeMs += m.computeMs;
      for (const [size, n] of Object.entries(m.batchSizes)) s.histogram.set(Number(size), (s.histogram.get(Number(size)) ?? 0) + n);
    }
  }
  return s;
}

/** What happened between two snapshots. */
function minus(after: BatchSummary, before: BatchSummary): BatchSummary {
  const histogram = new Map(after.histogram);
  for (const [size, n] of before.histogram) histogram.set(size, (histogram.get(size) ?? 0) - n);
  for (const [size, n] of histogram) if (n === 0) histogram.delete(size);
  return {
    requests: after.requests - before.requests,
    items: after.items - before.items,
    batches: after.batches - before.batches,
    computeMs: after.computeMs - before.computeMs,
    rejected503: after.rejected503 - before.rejected503,
    histogram,
  };
}

const histogramText = (h: Map<number, number>): string =>
  [...h.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([size, n]) => `${size}:${n}`)
    .join(' ');

// ---- trusted clients

interface Client {
  readonly index: number;
  readonly model: SlalomModel;
  readonly stateDir: string;
  readonly store: string;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const sameBits = (a: Float64Array, b: Float64Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

interface ScenarioResult {
  readonly name: string;
  readonly mode: 'private+verified' | 'verified';
  readonly maxBatch: number;
  readonly planned: number;
  readonly completed: number;
  readonly correct: number;
  readonly wrong: number;
  readonly errors: number;
  readonly errorSamples: string[];
  readonly wallMs: number;
  readonly latencies: number[];
  readonly failovers: number;
  readonly busy: number;
  readonly incidents: number;
  readonly batches: BatchSummary;
  readonly kill?: { readonly atMs: number; readonly completedBefore: number; readonly victim: string; readonly completedAfter: number };
  readonly perClient: number[];
}

async function scenario(
  name: string,
  clients: readonly Client[],
  images: readonly Tensor[],
  baselines: readonly Float64Array[],
  mode: 'private+verified' | 'verified',
  maxBatch: number,
  killOne = false,
): Promise<ScenarioResult> {
  log(`${name}: starting 2 accelerators (--max-batch ${maxBatch})`);
  const accelerators = [await startAccelerator('A', { maxBatch }), await startAccelerator('B', { maxBatch })];
  const urls = accelerators.map((a) => a.url);
  const protocols: OpenedProtocol[] = [];
  const backends: HttpBackend[] = [];
  try {
    for (const c of clients) {
      const backend = new HttpBackend({ urls, timeoutMs: CLIENT_TIMEOUT_MS, clientId: `client-${c.index}`, modelId: modelIdOf(c.model.name, c.model.weightsHash), maxSockets: 4 });
      backends.push(backend);
      protocols.push(await openProtocol(c.model, mode, { accelerator: backend, ...(mode === 'private+verified' ? { pads: { store: c.store, stateDir: c.stateDir, lowWater: 0 } } : {}) }));
    }
    const planned = clients.length * INFERENCES;
    const latencies: number[] = [];
    const errorSamples: string[] = [];
    const perClient = clients.map(() => 0);
    let completed = 0;
    let correct = 0;
    let wrong = 0;
    let errors = 0;
    let kill: ScenarioResult['kill'] | undefined;
    let victimStats: ServerStats | undefined;
    const start = performance.now();
    const deadline = start + SECONDS * 1000;
    log(`${name}: ${clients.length} clients × (${WARMUP} warm-up + ${INFERENCES}) inferences, mode ${mode}`);
    let warmupWrong = 0;
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = 0; i < WARMUP; i++) {
          const img = (images.length - 1 - i - k * WARMUP + images.length) % images.length;
          const r = await c.model.infer(images[img]!, { mode, protocol: protocols[k]! });
          if (!sameBits(r.logits, baselines[img]!)) warmupWrong++;
        }
      }),
    );
    if (warmupWrong > 0) throw new Error(`${name}: ${warmupWrong} warm-up inferences differ from the baseline`);
    const accelBefore = summarize(await Promise.all(accelerators.map(serverStats)));
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = 0; i < INFERENCES && performance.now() < deadline; i++) {
          const img = (k * INFERENCES + i) % images.length;
          const t0 = performance.now();
          try {
            const r = await c.model.infer(images[img]!, { mode, protocol: protocols[k]! });
            latencies.push(performance.now() - t0);
            if (sameBits(r.logits, baselines[img]!)) correct++;
            else wrong++;
          } catch (e) {
            errors++;
            if (errorSamples.length < 5) errorSamples.push(`client ${k}: ${(e as Error).message}`);
          }
          completed++;
          perClient[k]!++;
          if (killOne && kill === undefined && completed >= planned / 2) {
            const victim = accelerators[1]!;
            kill = { atMs: performance.now() - start, completedBefore: completed, victim: victim.url, completedAfter: 0 };
            // Its batch statistics so far; it has no chance to report them after SIGKILL.
            victimStats = await serverStats(victim);
            victim.child.kill('SIGKILL');
            log(`${name}: SIGKILL accelerator ${victim.name} (${victim.url}, pid ${victim.child.pid}) after ${completed} inferences`);
          }
        }
      }),
    );
    const wallMs = performance.now() - start;
    if (kill !== undefined) kill = { ...kill, completedAfter: completed - kill.completedBefore };
    const live = await Promise.all(accelerators.map((a) => (killOne && a === accelerators[1] ? Promise.resolve(victimStats) : serverStats(a))));
    const failovers = backends.reduce((s, b) => s + b.stats().accelerators.reduce((t, a) => t + a.failures, 0), 0);
    const busy = backends.reduce((s, b) => s + b.stats().accelerators.reduce((t, a) => t + a.busy, 0), 0);
    const incidents = protocols.reduce((s, p) => s + (p.incidents?.length ?? 0), 0);
    latencies.sort((a, b) => a - b);
    return { name, mode, maxBatch, planned, completed, correct, wrong, errors, errorSamples, wallMs, latencies, failovers, busy, incidents, batches: minus(summarize(live), accelBefore), perClient, ...(kill ? { kill } : {}) };
  } finally {
    for (const p of protocols) await p.close?.().catch(() => {});
    for (const a of accelerators) await stopAccelerator(a);
  }
}

interface AccelOnlyResult {
  readonly layer: string;
  readonly maxBatch: number;
  readonly requests: number;
  readonly errors: number;
  readonly wallMs: number;
  readonly latencies: number[];
  readonly batches: BatchSummary;
}

/** ACCEL_LOOPS concurrent request loops of one layer against one accelerator, no trusted work. */
async function acceleratorOnly(model: SlalomModel, layerIndex: number, maxBatch: number): Promise<AccelOnlyResult> {
  const layer = model.quantized.layers[layerIndex]!;
  log(`accelerator only: ${layer.name}, --max-batch ${maxBatch}, ${ACCEL_LOOPS} concurrent loops for ${ACCEL_SECONDS} s`);
  const a = await startAccelerator('solo', { maxBatch });
  const layers = publicLayers(model.quantized);
  const backends = Array.from({ length: 4 }, (_, i) => new HttpBackend({ urls: [a.url], timeoutMs: CLIENT_TIMEOUT_MS, clientId: `raw-${i}`, modelId: modelIdOf(model.name, model.weightsHash), maxSockets: ACCEL_LOOPS / 4 }));
  try {
    for (const b of backends) await b.loadWeights(layers);
    const n = layer.inDims.reduce((x, y) => x * y, 1);
    const x = new Uint32Array(n);
    for (let i = 0; i < n; i++) x[i] = (i * 2_654_435_761) % P;
    const latencies: number[] = [];
    let requests = 0;
    let errors = 0;
    let id = 0;
    const start = performance.now();
    const deadline = start + ACCEL_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: ACCEL_LOOPS }, async (_, k) => {
        const b = backends[k % backends.length]!;
        while (performance.now() < deadline) {
          const t0 = performance.now();
          try {
            await b.linear({ requestId: `loadtest-${++id}`, layerId: layer.index, dims: layer.inDims, x });
            latencies.push(performance.now() - t0);
            requests++;
          } catch {
            errors++;
          }
        }
      }),
    );
    const wallMs = performance.now() - start;
    latencies.sort((p, q) => p - q);
    return { layer: `${layer.name} (${layer.op}, x [${layer.inDims.join(', ')}], ${fmtCount(layer.macs)} MACs)`, maxBatch, requests, errors, wallMs, latencies, batches: summarize([await serverStats(a)]) };
  } finally {
    for (const b of backends) await b.close();
    await stopAccelerator(a);
  }
}

// ---- main

/** The 1-minute load average when the run started: other work on the same cores skews every number. */
let loadAtStart = 0;

async function main(): Promise<void> {
  loadAtStart = loadavg()[0]!;
  const work = mkdtempSync(join(tmpdir(), 'slalom-loadtest-'));
  try {
    log(`loading ${CLIENTS} SlalomModel instances of ${MODEL}`);
    const clients: Client[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push({ index: i, model: await SlalomModel.load(MODEL), stateDir: join(work, `state-${i}`), store: join(work, `store-${i}`) });
    const data = loadFashionMnist('test', { limit: IMAGES });
    const images = Array.from({ length: data.count }, (_, i) => tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353)));
    log(`baseline logits of ${images.length} test images (the whole model in the trusted runtime)`);
    const baselines: Float64Array[] = [];
    for (const x of images) baselines.push((await clients[0]!.model.infer(x)).logits);

    const privateScenarios = 3;
    const padsPerClient = privateScenarios * (INFERENCES + WARMUP) + 2;
    log(`precomputing ${padsPerClient} pads for each of ${CLIENTS} clients (${padsPerClient * CLIENTS} in all)`);
    const padStart = performance.now();
    const kernels = await createExactKernels('ort');
    for (const c of clients) await precomputePads(c.model.quantized, c.model, TrustedState.open(c.stateDir), new PadStore(c.store), padsPerClient, kernels);
    await kernels.close();
    const padMs = performance.now() - padStart;

    const results: ScenarioResult[] = [];
    results.push(await scenario('private+verified, batching', clients, images, baselines, 'private+verified', BATCHED));
    results.push(await scenario('private+verified, no batching', clients, images, baselines, 'private+verified', 1));
    results.push(await scenario('verified, batching', clients, images, baselines, 'verified', BATCHED));
    results.push(await scenario('verified, no batching', clients, images, baselines, 'verified', 1));
    const q = clients[0]!.model.quantized.layers;
    const largest = q.reduce((best, l) => (l.macs > best.macs ? l : best)).index;
    const smallest = q.reduce((best, l) => (l.macs < best.macs ? l : best)).index;
    const accel: AccelOnlyResult[] = [];
    for (const layer of [largest, smallest]) for (const b of [BATCHED, 1]) accel.push(await acceleratorOnly(clients[0]!.model, layer, b));
    const killRun = await scenario('private+verified, SIGKILL one of two', clients, images, baselines, 'private+verified', BATCHED, true);
    results.push(killRun);

    report({ results, accel, padMs, padCount: padsPerClient * CLIENTS });
    const failed = results.some((r) => r.errors > 0 || r.wrong > 0 || r.completed < r.planned);
    process.exitCode = failed ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '—');

function report({ results, accel, padMs, padCount }: { results: ScenarioResult[]; accel: AccelOnlyResult[]; padMs: number; padCount: number }): void {
  const header = ['scenario', 'max batch', 'done / planned', 'errors', 'wrong', 'inf/s', 'p50 ms', 'p99 ms', 'failovers', '503s', 'accel requests', 'mean batch', 'batch sizes (items:count)', 'accel items / compute-s'];
  const rows = results.map((r) => [
    r.name,
    String(r.maxBatch),
    `${r.completed} / ${r.planned}`,
    String(r.errors),
    String(r.wrong),
    f1((r.completed - r.errors) / (r.wallMs / 1000)),
    f1(percentile(r.latencies, 0.5)),
    f1(percentile(r.latencies, 0.99)),
    String(r.failovers),
    String(r.busy),
    String(r.batches.requests),
    r.batches.batches ? (r.batches.items / r.batches.batches).toFixed(2) : '—',
    histogramText(r.batches.histogram),
    r.batches.computeMs ? f1(r.batches.items / (r.batches.computeMs / 1000)) : '—',
  ]);
  const right = header.map((_, i) => i > 0 && i !== 12);
  const accelHeader = ['layer', 'max batch', 'requests', 'errors', 'requests/s', 'p50 ms', 'p99 ms', 'mean batch', 'batch sizes (items:count)', 'items / compute-s'];
  const accelRows = accel.map((a) => [
    a.layer,
    String(a.maxBatch),
    String(a.requests),
    String(a.errors),
    f1(a.requests / (a.wallMs / 1000)),
    f1(percentile(a.latencies, 0.5)),
    f1(percentile(a.latencies, 0.99)),
    a.batches.batches ? (a.batches.items / a.batches.batches).toFixed(2) : '—',
    histogramText(a.batches.histogram),
    a.batches.computeMs ? f1(a.batches.items / (a.batches.computeMs / 1000)) : '—',
  ]);
  const accelRight = accelHeader.map((_, i) => i !== 0 && i !== 8);
  const killRun = results.find((r) => r.kill !== undefined);
  const k = killRun?.kill;
  const killText = killRun && k
    ? `accelerator ${k.victim} SIGKILLed at ${(k.atMs / 1000).toFixed(2)} s after ${k.completedBefore} of ${killRun.planned} inferences; ${k.completedAfter} more completed on the survivor. ` +
      `Completed ${killRun.completed}/${killRun.planned}: ${killRun.correct} bit-identical to baseline, ${killRun.wrong} wrong, ${killRun.errors} lost (errors); ${killRun.failovers} failed attempts were retried on the other accelerator with the same blinded bytes.`
    : 'not run';
  const errors = results.flatMap((r) => r.errorSamples.map((e) => `${r.name}: ${e}`));
  const rate = (a: AccelOnlyResult | undefined): number => (a && a.batches.computeMs > 0 ? a.batches.items / a.batches.computeMs : NaN);
  const rps = (a: AccelOnlyResult | undefined): number => (a ? a.requests / a.wallMs : NaN);
  const gains = [...new Set(accel.map((a) => a.layer))].map((layer) => {
    const on = accel.find((a) => a.layer === layer && a.maxBatch > 1);
    const off = accel.find((a) => a.layer === layer && a.maxBatch === 1);
    return `- ${layer}: items per compute-second × ${(rate(on) / rate(off)).toFixed(2)}, requests per second × ${(rps(on) / rps(off)).toFixed(2)} with batching (mean batch ${on && on.batches.batches ? (on.batches.items / on.batches.batches).toFixed(2) : '—'}).`;
  });

  process.stdout.write(`\n${textTable(header, rows, right)}\n\naccelerator only (${ACCEL_LOOPS} concurrent requests of one layer, ${ACCEL_SECONDS} s each):\n${textTable(accelHeader, accelRows, accelRight)}\n\nkill run: ${killText}\n`);
  if (errors.length) process.stdout.write(`errors:\n${errors.map((e) => `  ${e}`).join('\n')}\n`);

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const md = `# Load test: the accelerator service (issue 5)

Written by \`bench/loadtest.ts\` (\`npm run loadtest\`) on ${new Date().toISOString()}: ${cpus().length} CPU cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version};
1-minute load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end (the cores were ${loadAtStart > 1 || loadavg()[0]! > 3 ? 'shared with other work: expect noise of tens of percent between runs' : 'otherwise idle'}).
Everything on 127.0.0.1: two \`slalom accelerator serve\` child processes (onnxruntime backend, 1 thread, \`--max-delay-ms 2\`)
and ${CLIENTS} trusted clients in the load-test process, each its own \`SlalomModel\` (Fashion-MNIST), trusted state, pad store
and \`HttpBackend\` over both accelerators (keep-alive, round robin, failover). Each client runs up to ${INFERENCES} inferences
back to back (deadline ${SECONDS} s), after ${WARMUP} warm-up inferences each (checked, not timed), on Fashion-MNIST test images; every result's logits are compared bit for bit with
the baseline (the whole model in the trusted runtime). Pads for the private runs were precomputed first: ${padCount} pads in
${(padMs / 1000).toFixed(1)} s, not counted below. The trusted clients and both accelerators share the same cores, so the
numbers are CPU-bound and say more about relative effects than about a GPU server.

## Trusted clients × accelerators

${mdTable(header, rows, right)}

- *failovers*: attempts that failed in transport (timeout, refused or reset connection, HTTP error) and were retried on the
  other accelerator with the same request bytes; *503s*: back-pressure answers (retried after Retry-After).
- *accel requests*, *mean batch*, *batch sizes*: from both accelerators' \`GET /v2/slalom/stats\` (items = batch-axis
  entries merged into one computation); *accel items / compute-s*: items per second of the accelerators' compute time,
  all five layers together (so it moves with the mix of layers as much as with batching).
- Latencies are per inference as a client sees it (trusted work + transfers + waiting); the clients' trusted work runs
  on one thread of this process, so end-to-end throughput is bound by it and by the two shared cores, not by the
  accelerators — batching matters where the accelerator is the bottleneck, which the next section isolates.

## Batching and the accelerator's own throughput

${ACCEL_LOOPS} concurrent request loops (4 client ids, binary tensors, keep-alive) send one layer — the model's largest and
its smallest — to one accelerator for ${ACCEL_SECONDS} s, with no trusted-side work in between (the load generator still
shares the cores with the accelerator):

${mdTable(accelHeader, accelRows, accelRight)}

${gains.join('\n')}

## Kill one of two accelerators mid-way

${killText}

${errors.length ? `## Errors\n\n${errors.map((e) => `- ${e}`).join('\n')}\n` : 'No errors in any scenario.\n'}`;
  writeFileSync(argv.out, md);
  log(`wrote ${argv.out}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`loadtest failed: ${(e as Error)?.stack ?? String(e)}\n`);
  killAll();
  process.exitCode = 1;
});
