/**
 * Attention's products of two activations for one head (d 64) at several sequence lengths n: in the
 * trusted runtime in float64 (QKᵀ then softmax·V, graph/ops' MatMul kernel), against offloading both
 * to the embedded accelerator (runtime/attention-offload.ts, as `--attention accelerator --mode
 * verified` runs them: quantize, register V or Kᵀ and send Q or P, Freivalds with k repetitions,
 * dequantize). The offload's trusted time is its wall time less the time spent waiting for the
 * accelerator (the trusted thread is idle then); its wall time is shown too. Reports the shortest n
 * from which the offload's trusted time wins.
 *
 *   npx tsx bench/attention-offload.ts [--lengths 16,64,128,256,512] [--runs n] [--repetitions k]
 */
import type { AcceleratorBackend, LinearRequest, PublicLayer } from '../src/accel/backend.js';
import { resolveBackend } from '../src/accel/registry.js';
import { matmul } from '../src/kernels/float/matmul.js';
import { ActivationProducts } from '../src/runtime/attention-offload.js';
import { ExecutionLog } from '../src/runtime/execution.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/seeded-rng.js';
import { cpuFeatures } from './lib/cpu.js';
import { median, textTable } from './lib/stats.js';

const D = 64;
const WARMUP = 3;

function args(): { lengths: number[]; runs: number; repetitions: number } {
  const a = process.argv.slice(2);
  const get = (flag: string): string | undefined => {
    const i = a.indexOf(flag);
    return i < 0 ? undefined : a[i + 1];
  };
  return { lengths: (get('--lengths') ?? '16,64,128,256,512').split(',').map(Number), runs: Number(get('--runs') ?? 15), repetitions: Number(get('--repetitions') ?? 2) };
}

/** The backend, with the milliseconds the caller spent awaiting it (after each call's synchronous part: copying and posting, trusted work). */
function timedBackend(inner: AcceleratorBackend): AcceleratorBackend & { waitMs: number } {
  const waited = async <T>(p: Promise<T>, self: { waitMs: number }): Promise<T> => {
    const t = performance.now();
    try {
      return await p;
    } finally {
      self.waitMs += performance.now() - t;
    }
  };
  const self = {
    name: inner.name,
    waitMs: 0,
    loadWeights: (layers: readonly PublicLayer[]) => waited(inner.loadWeights(layers), self),
    linear: (r: LinearRequest) => waited(inner.linear(r), self),
    recycle: (id: string) => inner.recycle?.(id),
    close: () => inner.close(),
  };
  return self;
}

function softmaxRows(s: Tensor): Tensor {
  const [n, m] = [s.dims[0]!, s.dims[1]!];
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < m; j++) max = Math.max(max, s.data[i * m + j]!);
    let sum = 0;
    for (let j = 0; j < m; j++) sum += out[i * m + j] = Math.exp(s.data[i * m + j]! - max);
    for (let j = 0; j < m; j++) out[i * m + j]! /= sum;
  }
  return tensor([n, m], out);
}

const { lengths, runs, repetitions } = args();
const backend = timedBackend((await resolveBackend([{ name: 'worker', options: { kernels: 'ort' } }])).backend);
let ids = 0;
const products = new ActivationProducts({ accelerator: backend, repetitions, onFailure: 'abort', nextRequestId: () => `bench-${++ids}` });
const rng = new Rng(1);
const rows: string[][] = [];
let wins: number | undefined;
for (const n of lengths) {
  const q = tensor([n, D], Float64Array.from({ length: n * D }, () => rng.normal()));
  const kt = tensor([D, n], Float64Array.from({ length: n * D }, () => rng.normal()));
  const v = tensor([n, D], Float64Array.from({ length: n * D }, () => rng.normal()));
  const p = softmaxRows(tensor([n, n], matmul(q, kt).data.map((x) => x / Math.sqrt(D))));
  const float: number[] = [];
  const trusted: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < runs + WARMUP; r++) {
    let t = performance.now();
    matmul(q, kt);
    matmul(p, v);
    const f = performance.now() - t;
    backend.waitMs = 0;
    const run = { trustedBecause: () => undefined, refused: () => undefined, execution: new ExecutionLog() };
    t = performance.now();
    await products.multiply('qk', q, kt, run);
    await products.multiply('pv', p, v, run);
    const w = performance.now() - t;
    if (r < WARMUP) continue;
    float.push(f);
    wall.push(w);
    trusted.push(w - backend.waitMs);
  }
  const [f, t, w] = [median(float), median(trusted), median(wall)];
  if (wins === undefined && t < f) wins = n;
  rows.push([String(n), f.toFixed(3), t.toFixed(3), w.toFixed(3), (f / t).toFixed(2)]);
}
await backend.close();
console.log(`attention products of one head, d ${D}; Freivalds k = ${repetitions}; median of ${runs}; ${cpuFeatures().model} (${cpuFeatures().simd.join(" ")})`);
console.log(textTable(['n', 'trusted fp64 ms', 'offload trusted ms', 'offload wall ms', 'fp64 / offload trusted'], rows));
console.log(wins === undefined ? 'the offload did not win at any length measured' : `the offload's trusted time wins from n = ${wins}`);
