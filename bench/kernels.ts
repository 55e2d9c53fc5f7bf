/**
 * Micro-benchmark of the linear kernels (docs/design.md §6): the JS double conv (src/kernels/conv.ts),
 * the exact ORT backend (src/kernels/ort-exact.ts: each exact path this CPU allows, forced, and 'auto') and onnxruntime's own float32 Conv as the inexact speed reference, on a
 * VGG-like 3×3 layer and a 1×1 layer; plus the dense layer. Inputs are residues < p and 8-bit weights,
 * as the exact path sees them. Prints median and best milliseconds and GMAC/s (on the best time).
 *
 * Run: npx tsx bench/kernels.ts [--threads N] [--reps N]
 */
import * as ort from 'onnxruntime-node';
import { P } from '../src/field/prime.js';
import { conv2d, convOutputDims } from '../src/kernels/conv.js';
import { gemm } from '../src/kernels/gemm.js';
import type { ConvAttrs } from '../src/kernels/names.js';
import { ORT_KERNEL_PATHS, OrtExactKernels } from '../src/kernels/ort-exact.js';
import { singleNodeModel } from '../src/onnx/single-node.js';
import type { Tensor } from '../src/tensor/tensor.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const threads = arg('--threads', 1);
const reps = arg('--reps', 5);

let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32;
}
function randomTensor(dims: number[], lo: number, hi: number): Tensor {
  let n = 1;
  for (const d of dims) n *= d;
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + Math.floor(rand() * (hi - lo + 1));
  return { dims, data };
}

async function time(f: () => unknown): Promise<{ median: number; best: number }> {
  await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return { median: ts[Math.floor(ts.length / 2)]!, best: ts[0]! };
}

function report(label: string, macs: number, t: { median: number; best: number }): void {
  const gmacs = macs / (t.best * 1e6);
  console.log(`  ${label.padEnd(34)} ${t.median.toFixed(2).padStart(9)} ms median ${t.best.toFixed(2).padStart(9)} ms best ${gmacs.toFixed(2).padStart(7)} GMAC/s`);
}

/** An fp32 Conv session with symbolic shapes: onnxruntime's own speed, the yardstick. */
const convF32 = (attrs: Record<string, readonly number[]>): Promise<ort.InferenceSession> =>
  ort.InferenceSession.create(
    singleNodeModel({
      op: 'Conv',
      inputs: [
        { name: 'X', elemType: 'float', dims: ['n', 'c', 'h', 'w'] },
        { name: 'W', elemType: 'float', dims: ['m', 'cg', 'kh', 'kw'] },
      ],
      outputs: [{ name: 'Y', elemType: 'float', dims: ['n', 'm', 'oh', 'ow'] }],
      attrs,
    }),
    { intraOpNumThreads: threads, graphOptimizationLevel: 'all' },
  );
const convF32Session = await convF32({ pads: [1, 1, 1, 1], strides: [1, 1] });
const convF32Session1x1 = await convF32({});
const exactAuto = await OrtExactKernels.create({ threads });
/** Every exact path this CPU's probes allow, forced. */
const exactPaths: OrtExactKernels[] = [];
for (const path of ORT_KERNEL_PATHS) {
  try {
    exactPaths.push(await OrtExactKernels.create({ threads, path }));
  } catch (e) {
    console.log(`${path}: ${(e as Error).message}`);
  }
}

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  attrs: ConvAttrs;
  f32: ort.InferenceSession;
}
const cases: ConvCase[] = [
  {
    name: 'VGG-like 3×3: 1×64×56×56 → 64',
    x: [1, 64, 56, 56],
    w: [64, 64, 3, 3],
    attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 },
    f32: convF32Session,
  },
  {
    name: '1×1: 1×256×56×56 → 64',
    x: [1, 256, 56, 56],
    w: [64, 256, 1, 1],
    attrs: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
    f32: convF32Session1x1,
  },
];

console.log(`threads ${threads}, reps ${reps}, onnxruntime-node ${ort.env.versions.node ?? ''}, exact paths: ${exactPaths.map((k) => k.path).join(', ')}`);
for (const c of cases) {
  const x = randomTensor(c.x, 0, P - 1);
  const w = randomTensor(c.w, -128, 127);
  const od = convOutputDims(c.x, c.w, c.attrs);
  const macs = od[0]! * od[1]! * od[2]! * od[3]! * c.w[1]! * c.w[2]! * c.w[3]!;
  console.log(`${c.name} (${(macs / 1e6).toFixed(1)} M MAC)`);
  report('JS conv2d (double, exact)', macs, await time(() => conv2d(x, w, c.attrs)));
  for (const k of exactPaths) report(`OrtExact ${k.path} (exact)`, macs, await time(() => k.convField(x, w, c.attrs)));
  report('OrtExact auto (exact)', macs, await time(() => exactAuto.convField(x, w, c.attrs)));
  const xf = new ort.Tensor('float32', Float32Array.from(x.data, (v) => v / P), c.x);
  const wf = new ort.Tensor('float32', Float32Array.from(w.data, (v) => v / 128), c.w);
  report('ORT fp32 Conv (inexact reference)', macs, await time(() => c.f32.run({ X: xf, W: wf })));
}

{
  const [b, k, n] = [1, 4096, 4096];
  const x = randomTensor([b, k], 0, P - 1);
  const w = randomTensor([k, n], -128, 127);
  const macs = b * k * n;
  console.log(`Gemm ${b}×${k} · ${k}×${n} (${(macs / 1e6).toFixed(1)} M MAC)`);
  report('JS gemm (double, exact)', macs, await time(() => gemm(x, w)));
  for (const k of exactPaths) report(`OrtExact ${k.path} (exact)`, macs, await time(() => k.gemmField(x, w)));
}

for (const k of [exactAuto, ...exactPaths]) await k.close();
await convF32Session.release();
await convF32Session1x1.release();
