/**
 * The accelerator's exactness tax per kernel path, side by side in one run: for each distinct linear
 * layer shape of VGG16 and ResNet-50 (224×224, batch 1; the zoo builds these architectures), the
 * CPU time (best of the runs) of each exact path of src/kernels/ort-exact.ts (forced one by one, where this CPU's
 * probe allows it, and 'auto') over onnxruntime fp32 on the same layer alone (one-node Conv/Gemm,
 * float32 weights as initializers, one intra-op thread). A model's tax is Σ count·exact / Σ count·fp32
 * over its layers, each shape counted as often as the model has it. Inputs are uniform residues in
 * [0, p) (what a blinded request carries); weights are random integers of the width slalom's
 * quantizer gives the zoo models (|w| ≤ 511 by default: VGG16's quantized layers reach 218–939) and,
 * for comparison, int8 weights (|w| ≤ 127: one weight limb). Runs alternate between the paths, so load
 * that drifts over the measurement hits all of them alike.
 *
 * Run: npm run bench:exact-tax -- [--models vgg16,resnet50] [--reps N] [--quick] [--out file.json]
 *   --quick: only the layers at 56×56 and below (VGG16's first four convolutions left out).
 */
import { writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { P } from '../src/field/prime.js';
import { convOutputDims } from '../src/kernels/conv.js';
import type { ConvAttrs } from '../src/kernels/names.js';
import { ORT_KERNEL_PATHS, OrtExactKernels, type OrtKernelPath } from '../src/kernels/ort-exact.js';
import { OnnxBuilder } from '../src/onnx/build.js';
import { Rng } from '../src/util/seeded-rng.js';
import { cpuFeatures } from './lib/cpu.js';

/**
 * The process's CPU time (user + system, every thread: onnxruntime's included) over one call, in ms.
 * On a machine shared with other jobs, wall time mostly measures the others; CPU time of a
 * single-threaded run measures the work (still inflated by shared caches, hence the best of the runs).
 */
async function cpuMs(f: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  await f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

interface LayerShape {
  readonly name: string;
  readonly count: number;
  /** Conv: x [1, C, H, W], w [M, C, k, k]; Gemm: x [1, K], w [K, N]. */
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly attrs?: ConvAttrs;
}

const conv = (name: string, count: number, c: number, h: number, m: number, k: number, stride = 1): LayerShape => ({
  name,
  count,
  x: [1, c, h, h],
  w: [m, c, k, k],
  attrs: { strides: [stride, stride], pads: Array(4).fill((k - 1) >> 1) as [number, number, number, number], dilations: [1, 1], group: 1 },
});
const fc = (name: string, k: number, n: number): LayerShape => ({ name, count: 1, x: [1, k], w: [k, n] });

const MODELS: Record<string, readonly LayerShape[]> = {
  vgg16: [
    conv('conv1_1 3→64 @224', 1, 3, 224, 64, 3),
    conv('conv1_2 64→64 @224', 1, 64, 224, 64, 3),
    conv('conv2_1 64→128 @112', 1, 64, 112, 128, 3),
    conv('conv2_2 128→128 @112', 1, 128, 112, 128, 3),
    conv('conv3_1 128→256 @56', 1, 128, 56, 256, 3),
    conv('conv3_2,3 256→256 @56', 2, 256, 56, 256, 3),
    conv('conv4_1 256→512 @28', 1, 256, 28, 512, 3),
    conv('conv4_2,3 512→512 @28', 2, 512, 28, 512, 3),
    conv('conv5_x 512→512 @14', 3, 512, 14, 512, 3),
    fc('fc6 25088→4096', 25088, 4096),
    fc('fc7 4096→4096', 4096, 4096),
    fc('fc8 4096→1000', 4096, 1000),
  ],
  resnet50: [
    conv('conv1 3→64 7×7/2 @224', 1, 3, 224, 64, 7, 2),
    conv('l1 1×1 64→64 @56', 1, 64, 56, 64, 1),
    conv('l1 3×3 64→64 @56', 3, 64, 56, 64, 3),
    conv('l1 1×1 64→256 @56 (+ds)', 4, 64, 56, 256, 1),
    conv('l1 1×1 256→64 @56', 2, 256, 56, 64, 1),
    conv('l2 1×1 256→128 @56', 1, 256, 56, 128, 1),
    conv('l2 3×3/2 128→128 @56', 1, 128, 56, 128, 3, 2),
    conv('l2 ds 1×1/2 256→512 @56', 1, 256, 56, 512, 1, 2),
    conv('l2 1×1 128→512 @28', 4, 128, 28, 512, 1),
    conv('l2 1×1 512→128 @28', 3, 512, 28, 128, 1),
    conv('l2 3×3 128→128 @28', 3, 128, 28, 128, 3),
    conv('l3 1×1 512→256 @28', 1, 512, 28, 256, 1),
    conv('l3 3×3/2 256→256 @28', 1, 256, 28, 256, 3, 2),
    conv('l3 ds 1×1/2 512→1024 @28', 1, 512, 28, 1024, 1, 2),
    conv('l3 1×1 256→1024 @14', 6, 256, 14, 1024, 1),
    conv('l3 1×1 1024→256 @14', 5, 1024, 14, 256, 1),
    conv('l3 3×3 256→256 @14', 5, 256, 14, 256, 3),
    conv('l4 1×1 1024→512 @14', 1, 1024, 14, 512, 1),
    conv('l4 3×3/2 512→512 @14', 1, 512, 14, 512, 3, 2),
    conv('l4 ds 1×1/2 1024→2048 @14', 1, 1024, 14, 2048, 1, 2),
    conv('l4 1×1 512→2048 @7', 3, 512, 7, 2048, 1),
    conv('l4 1×1 2048→512 @7', 2, 2048, 7, 512, 1),
    conv('l4 3×3 512→512 @7', 2, 512, 7, 512, 3),
    fc('fc 2048→1000', 2048, 1000),
  ],
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const models = (arg('--models') ?? 'vgg16,resnet50').split(',');
const reps = Number(arg('--reps') ?? 3);
const quick = process.argv.includes('--quick');
const out = arg('--out');
const WIDE = 511;

const size = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);
const macsOf = (l: LayerShape): number => (l.attrs ? size(convOutputDims(l.x, l.w, l.attrs)) * size(l.w.slice(1)) : size(l.w));

function fp32Model(l: LayerShape, w: Float64Array): Uint8Array {
  const b = new OnnxBuilder('fp32');
  const wf = Float32Array.from(w, (v) => v / 1024);
  b.input('x', [...l.x]).output('y', l.attrs ? convOutputDims(l.x, l.w, l.attrs) : [1, l.w[1]!]).initializer('w', [...l.w], wf);
  if (l.attrs) b.node('Conv', ['x', 'w'], ['y'], { kernel_shape: [l.w[2]!, l.w[3]!], strides: [...l.attrs.strides], pads: [...l.attrs.pads], dilations: [1, 1], group: 1 });
  else b.node('Gemm', ['x', 'w'], ['y']);
  return b.toBytes();
}

/** One column of the table: what runs, and how. */
interface Column {
  readonly label: string;
  readonly run: (l: LayerShape, x: Float64Array, w8: Float64Array, wWide: Float64Array) => Promise<unknown>;
}

const rng = new Rng(0x7a5);
const randomInts = (n: number, max: number): Float64Array => {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.nextI32() >>> 0) % (2 * max + 1) - max;
  return a;
};

const kernels = new Map<OrtKernelPath | 'auto', OrtExactKernels>();
kernels.set('auto', await OrtExactKernels.create());
const unavailable: string[] = [];
for (const path of ORT_KERNEL_PATHS) {
  try {
    kernels.set(path, await OrtExactKernels.create({ path }));
  } catch {
    unavailable.push(path);
  }
}
const apply = (k: OrtExactKernels, l: LayerShape, x: Float64Array, w: Float64Array): Promise<unknown> =>
  l.attrs ? k.convField({ dims: [...l.x], data: x }, { dims: [...l.w], data: w }, l.attrs) : k.gemmField({ dims: [...l.x], data: x }, { dims: [...l.w], data: w });

const wideLabel = `w${Math.ceil(Math.log2(WIDE + 1)) + 1}`;
const columns: Column[] = [];
const column = (path: OrtKernelPath | 'auto', wide: boolean): void => {
  const k = kernels.get(path);
  if (k !== undefined) columns.push({ label: `${path} ${wide ? wideLabel : 'w8'}`, run: (l, x, w8, ww) => apply(k, l, x, wide ? ww : w8) });
};
column('auto', true);
column('int-gemm', false);
column('int-gemm', true);
column('int-gemm-7', true);
column('byte-planes', false); // int8 weights only: wider ones go to float64
column('f64', true);

const cpu = cpuFeatures();
console.log(`# Exactness tax per kernel path\n`);
console.log(`CPU: ${cpu.model}; SIMD: ${cpu.simd.filter((f) => /avx|amx|vnni/.test(f)).join(' ')}; onnxruntime-node ${ort.env.versions.node ?? ''}; one thread; CPU time (user + system), best of ${reps} runs per layer; the machine was shared with other jobs.`);
console.log(`Paths whose probe fails here: ${unavailable.join(', ') || 'none'}. 'auto' chose ${kernels.get('auto')!.path}. Weights: w8 = |w| ≤ 127, w10 = |w| ≤ ${WIDE}.\n`);

const results: Record<string, unknown> = { cpu, reps, unavailable, auto: kernels.get('auto')!.path, models: {} };
for (const model of models) {
  const layers = (MODELS[model] ?? []).filter((l) => !quick || l.x.length === 2 || l.x[2]! <= 56);
  const rows: { name: string; count: number; macs: number; fp32: number; exact: number[]; auto?: string }[] = [];
  console.log(`## ${model}${quick ? ' (quick: layers at 56×56 and below)' : ''}\n`);
  console.log(`| layer | × | GMAC | fp32 CPU ms (GMAC/s) | ${columns.map((c) => c.label).join(' | ')} |`);
  console.log(`|---|---:|---:|---:|${columns.map(() => '---:').join('|')}|`);
  for (const l of layers) {
    const x = new Float64Array(size(l.x));
    for (let i = 0; i < x.length; i++) x[i] = (rng.nextI32() >>> 0) % P;
    const w8 = randomInts(size(l.w), 127);
    const wide = randomInts(size(l.w), WIDE);
    const session = await ort.InferenceSession.create(fp32Model(l, wide), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const feeds = { x: new ort.Tensor('float32', Float32Array.from(x, (v) => v / P), [...l.x]) };
    const fp32 = (): Promise<unknown> => session.run(feeds);
    await fp32();
    for (let i = 0; i < 2; i++) for (const c of columns) await c.run(l, x, w8, wide); // warm-up: sessions, weight packing, 'auto''s timing
    const times: number[][] = [[], ...columns.map(() => [])];
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i <= columns.length; i++) times[i]!.push(await cpuMs(() => (i === 0 ? fp32() : columns[i - 1]!.run(l, x, w8, wide))));
    }
    await session.release();
    const [f, ...exact] = times.map((t) => Math.min(...t)) as [number, ...number[]];
    const macs = macsOf(l);
    const autoChose = kernels.get('auto')!.chosen(wide);
    rows.push({ name: l.name, count: l.count, macs, fp32: f, exact, ...(autoChose ? { auto: autoChose } : {}) });
    for (const k of kernels.values()) {
      k.release(w8);
      k.release(wide);
    }
    console.log(`| ${l.name}${autoChose ? ` (auto: ${autoChose})` : ''} | ${l.count} | ${(macs / 1e9).toFixed(3)} | ${f.toFixed(1)} (${(macs / f / 1e6).toFixed(1)}) | ${exact.map((e) => `${e.toFixed(1)} (${(e / f).toFixed(2)}×)`).join(' | ')} |`);
  }
  const fp32Total = rows.reduce((s, r) => s + r.count * r.fp32, 0);
  const macsTotal = rows.reduce((s, r) => s + r.count * r.macs, 0);
  const taxes = columns.map((_, i) => rows.reduce((s, r) => s + r.count * r.exact[i]!, 0) / fp32Total);
  console.log(`| **${model} total** | | ${(macsTotal / 1e9).toFixed(2)} | ${fp32Total.toFixed(0)} (${(macsTotal / fp32Total / 1e6).toFixed(1)}) | ${taxes.map((t) => `**${t.toFixed(2)}×**`).join(' | ')} |\n`);
  (results['models'] as Record<string, unknown>)[model] = { quick, columns: columns.map((c) => c.label), rows, fp32Ms: fp32Total, macs: macsTotal, tax: Object.fromEntries(columns.map((c, i) => [c.label, taxes[i]])) };
}
for (const k of kernels.values()) await k.close();
if (out !== undefined) writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
