/**
 * Load test of the trusted inference service (issue 15): clients → `slalom serve` → `slalom
 * accelerator serve`, every process on 127.0.0.1, every loop bounded by a count and a deadline.
 *
 *   npx tsx bench/loadtest-serve.ts [--clients 8] [--inferences 10] [--lanes 4] [--seconds 300] [--out bench/LOADTEST-SERVE.md]
 *
 * N TypeScript clients (src/client: attestation checked, requests sealed with HPKE, receipts
 * verified) each run M Fashion-MNIST inferences in private+verified mode; every result's logits are
 * compared bit for bit with `baseline` (the whole model in the trusted runtime). Scenarios:
 * 1. pipelining: one `slalom serve` with --lanes 1 (one request at a time) and with --lanes L, side by side;
 * 2. two `slalom serve` processes sharing one accelerator;
 * 3. the accelerator killed once half the requests are done (--accelerator-fallback local: the rest
 *    run their linear layers in the trusted runtime) — 0 errors, 0 wrong;
 * 4. a lying accelerator (a proxy in this process that adds 1 to one value of every reply of one
 *    layer) beside an honest one, --on-failure abort: every request that met a lie gets an error,
 *    none a result; the rest are correct.
 * Pads are precomputed before each scenario (--no-refill), so refills do not skew the comparison.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ServerStats } from '../src/accel/http/protocol.js';
import { PadStore } from '../src/blind/pad-store.js';
import { TrustedState } from '../src/blind/trusted-state.js';
import { SlalomClient } from '../src/client/client.js';
import { P } from '../src/field/prime.js';
import { loadFashionMnist } from '../src/io/idx.js';
import { createExactKernels } from '../src/kernels/exact-linear.js';
import { SlalomModel } from '../src/runtime/model.js';
import { precomputePads } from '../src/runtime/precompute.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { killAll, startAccelerator, startService, stopAccelerator, type Accelerator } from './lib/accelerator-service.js';
import { mdTable } from './lib/stats.js';

const { values: argv } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    inferences: { type: 'string', default: '10' },
    lanes: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '300' },
    out: { type: 'string', default: 'bench/LOADTEST-SERVE.md' },
  },
});
const int = (text: string, flag: string, max: number): number => {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new Error(`--${flag} must be an integer in [1, ${max}], got '${text}'`);
  return v;
};
const CLIENTS = int(argv.clients, 'clients', 64);
const INFERENCES = int(argv.inferences, 'inferences', 1000);
const LANES = int(argv.lanes, 'lanes', 32);
const SECONDS = int(argv.seconds, 'seconds', 3600);
const MODEL = 'models/fashion-mnist.onnx';
const log = (line: string): void => void process.stderr.write(`[loadtest-serve] ${line}\n`);

interface Run {
  readonly name: string;
  readonly planned: number;
  readonly ok: number;
  readonly wrong: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly wallMs: number;
  readonly latencies: number[];
  readonly acceleratorMs: number;
  readonly note: string;
}

const sameBits = (a: Float64Array, b: Float64Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
const percentile = (sorted: readonly number[], q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);

async function acceleratorComputeMs(accelerators: readonly Accelerator[]): Promise<number> {
  let ms = 0;
  for (const a of accelerators) {
    try {
      const s = (await (await fetch(`${a.url}/v2/slalom/stats`, { signal: AbortSignal.timeout(3000) })).json()) as ServerStats;
      for (const m of Object.values(s.models)) ms += m.computeMs;
    } catch {
      return NaN; // a killed accelerator has no stats
    }
  }
  return ms;
}

/** N clients, each M sequential encrypted inferences against urls[i % urls.length]. */
async function runClients(name: string, urls: readonly string[], images: readonly Tensor[], baselines: readonly Float64Array[], accelerators: readonly Accelerator[], onDone?: (done: number) => void, note = ''): Promise<Run> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => SlalomClient.connect(urls[i % urls.length]!, { policy: { allowDevelopment: true }, clientId: `client-${i}`, timeoutMs: 120_000 })));
  const model = clients[0]!.document.models[0]!.name;
  const computeBefore = await acceleratorComputeMs(accelerators);
  const deadline = performance.now() + SECONDS * 1000;
  const latencies: number[] = [];
  const errorCodes: Record<string, number> = {};
  let ok = 0;
  let wrong = 0;
  let errors = 0;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    clients.map(async (client, i) => {
      for (let j = 0; j < INFERENCES && performance.now() < deadline; j++) {
        const k = (i * INFERENCES + j) % images.length;
        const t0 = performance.now();
        try {
          const r = await client.infer(model, images[k]!);
          latencies.push(performance.now() - t0);
          if (sameBits(r.outputs[r.outputNames[0]!]!.data, baselines[k]!) && r.mode === 'private+verified') ok++;
          else wrong++;
        } catch (e) {
          errors++;
          const code = (e as { code?: string }).code ?? 'other';
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        }
        onDone?.(++done);
      }
    }),
  );
  const wallMs = performance.now() - start;
  const acceleratorMs = (await acceleratorComputeMs(accelerators)) - computeBefore;
  latencies.sort((a, b) => a - b);
  log(`${name}: ${ok} ok, ${wrong} wrong, ${errors} errors in ${(wallMs / 1000).toFixed(1)} s`);
  return { name, planned: CLIENTS * INFERENCES, ok, wrong, errors, errorCodes, wallMs, latencies, acceleratorMs, note };
}

/** A proxy to `target` that adds 1 (mod p) to the first value of every binary reply of layer `.l<layer>.`; counts them. */
function lyingProxy(target: string, layer: number): Promise<{ url: string; server: Server; tampered: () => number }> {
  const t = new URL(target);
  let tampered = 0;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        const body: Buffer[] = [];
        r.on('data', (c: Buffer) => body.push(c));
        r.on('end', () => {
          let out = Buffer.concat(body);
          const h = Number(r.headers['inference-header-content-length']);
          if (r.statusCode === 200 && (req.url ?? '').includes(`.l${layer}.`) && (req.url ?? '').endsWith('/infer') && Number.isInteger(h) && out.length >= h + 8) {
            out = Buffer.from(out);
            out.writeDoubleLE((out.readDoubleLE(h) + 1) % P, h);
            tampered++;
          }
          res.writeHead(r.statusCode ?? 502, r.headers);
          res.end(out);
        });
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, tampered: () => tampered })));
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const work = mkdtempSync(join(tmpdir(), 'slalom-loadtest-serve-'));
  const running: Accelerator[] = [];
  const stop = async (a: Accelerator): Promise<void> => {
    await stopAccelerator(a);
    running.splice(running.indexOf(a), 1);
  };
  try {
    const model = await SlalomModel.load(MODEL);
    const artifact = join(work, 'fashion-mnist.slalom');
    model.save(artifact);
    const stateDir = join(work, 'state');
    let images: Tensor[];
    try {
      const data = loadFashionMnist('test', { limit: 40 });
      images = Array.from({ length: data.count }, (_, i) => tensor([1, 1, 28, 28], Float64Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - 0.286) / 0.353)));
    } catch {
      images = await Promise.all(['examples/fashion-mnist-0-boot.png', 'examples/fashion-mnist-1-pullover.png', 'examples/fashion-mnist-2-trouser.png'].map((p) => model.loadInput(p)));
    }
    const baselines: Float64Array[] = [];
    for (const x of images) baselines.push((await model.infer(x)).logits);
    const kernels = await createExactKernels('ort');
    let stores = 0;
    const padded = async (count: number): Promise<string> => {
      const store = join(work, `store-${stores++}`);
      await precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(store), count, kernels);
      return store;
    };
    const pads = CLIENTS * INFERENCES + 4;
    const serve = async (name: string, store: string, accelerators: string, extra: readonly string[] = []): Promise<Accelerator> => {
      const s = await startService(name, ['serve', '--model', artifact, '--mode', 'private+verified', '--store', store, '--state', stateDir, '--port', '0', '--accelerator', accelerators, '--no-refill', '--max-queue', '1024', '--quiet', ...extra]);
      running.push(s);
      return s;
    };
    const a1 = await startAccelerator('a1', { maxBatch: 8 });
    running.push(a1);
    const runs: Run[] = [];

    log('scenario 1: one request at a time (--lanes 1) vs pipelined');
    for (const lanes of [1, LANES]) {
      const s = await serve(`serve lanes=${lanes}`, await padded(pads), a1.url, ['--lanes', String(lanes)]);
      runs.push(await runClients(`1 × slalom serve, --lanes ${lanes}${lanes === 1 ? ' (one request at a time)' : ' (pipelined)'}`, [s.url], images, baselines, [a1]));
      await stop(s);
    }

    log('scenario 2: two slalom serve processes sharing one accelerator');
    const s1 = await serve('serve A', await padded(pads), a1.url, ['--lanes', String(LANES)]);
    const s2 = await serve('serve B', await padded(pads), a1.url, ['--lanes', String(LANES)]);
    runs.push(await runClients(`2 × slalom serve (--lanes ${LANES} each), one accelerator`, [s1.url, s2.url], images, baselines, [a1]));
    await stop(s1);
    await stop(s2);

    log('scenario 3: the accelerator killed half-way (fallback: the trusted runtime)');
    const doomed = await startAccelerator('a2', { maxBatch: 8 });
    running.push(doomed);
    const s3 = await serve('serve kill', await padded(pads), doomed.url, ['--lanes', String(LANES), '--accelerator-fallback', 'local', '--accelerator-timeout-ms', '5000']);
    let killed = false;
    runs.push(
      await runClients(`accelerator SIGKILLed after ${Math.floor((CLIENTS * INFERENCES) / 2)} requests (--accelerator-fallback local)`, [s3.url], images, baselines, [doomed], (done) => {
        if (!killed && done >= (CLIENTS * INFERENCES) / 2) {
          killed = true;
          doomed.child.kill('SIGKILL');
          log('accelerator a2 killed');
        }
      }),
    );
    running.splice(running.indexOf(doomed), 1);
    await stop(s3);

    log('scenario 4: a lying accelerator beside an honest one (--on-failure abort)');
    const proxy = await lyingProxy(a1.url, 2);
    const s4 = await serve('serve lying', await padded(pads), `${proxy.url},${a1.url}`, ['--lanes', String(LANES), '--on-failure', 'abort']);
    const lying = await runClients('one of two accelerators lies (adds 1 to a value of layer 2)', [s4.url], images, baselines, [a1]);
    runs.push({ ...lying, note: `${proxy.tampered()} replies tampered; ${lying.errorCodes['SLALOM_ERR_INTEGRITY'] ?? 0} requests answered IntegrityError` });
    await stop(s4);
    proxy.server.close();
    await kernels.close();
    report(runs, loadAtStart);
  } finally {
    for (const a of [...running]) await stopAccelerator(a).catch(() => {});
    killAll();
    rmSync(work, { recursive: true, force: true });
  }
}

function report(runs: readonly Run[], loadAtStart: number): void {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const rows = runs.map((r) => [
    r.name,
    `${r.ok + r.wrong + r.errors}/${r.planned}`,
    String(r.ok),
    String(r.wrong),
    r.errors === 0 ? '0' : `${r.errors} (${Object.entries(r.errorCodes).map(([c, n]) => `${c.replace('SLALOM_ERR_', '')} ${n}`).join(', ')})`,
    ((1000 * r.ok) / r.wallMs).toFixed(2),
    percentile(r.latencies, 0.5).toFixed(0),
    percentile(r.latencies, 0.99).toFixed(0),
    Number.isNaN(r.acceleratorMs) ? 'n/a' : `${((100 * r.acceleratorMs) / r.wallMs).toFixed(0)} %`,
    r.note,
  ]);
  const table = mdTable(['scenario', 'done', 'correct', 'wrong', 'errors', 'inferences/s', 'p50 ms', 'p99 ms', 'accelerator busy', 'note'], rows, [false, true, true, true, false, true, true, true, true, false]);
  const [one, pipelined] = runs;
  const text = [
    '# Load test: clients → slalom serve → slalom accelerator serve',
    '',
    `\`npx tsx bench/loadtest-serve.ts --clients ${CLIENTS} --inferences ${INFERENCES} --lanes ${LANES}\` on ${cpu} (${cpus().length} cores), load average ${loadAtStart.toFixed(2)} at the start: a shared machine, other work skews every number. Fashion-MNIST, private+verified, requests sealed with HPKE and every receipt verified by the client; each result compared bit for bit with baseline.`,
    '',
    table,
    '',
    one !== undefined && pipelined !== undefined ? `Pipelining: ${((1000 * pipelined.ok) / pipelined.wallMs).toFixed(2)} inferences/s with --lanes ${LANES} against ${((1000 * one.ok) / one.wallMs).toFixed(2)} one request at a time (${(one.wallMs / pipelined.wallMs).toFixed(2)}×). "accelerator busy" is the accelerator's compute time over the wall time.` : '',
    '',
  ].join('\n');
  writeFileSync(argv.out, text);
  process.stdout.write(`${text}\n`);
}

main().catch((e) => {
  killAll();
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
