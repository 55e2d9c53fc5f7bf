/**
 * The two exact schemes of the WebGPU tiled kernels side by side (src/accel/webgpu/kernel-path.ts):
 * 12-bit limbs on i32 against packed 4×8-bit dot products, on VGG16's layer shapes (3×3 convolutions
 * with its channel counts, at a spatial size of your choosing so a software adapter finishes, and a
 * fully connected layer batched onto the tiled kernel and alone on the small-batch one). Weights are random in ±2^11 (the zoo's range),
 * inputs random residues; each layer's outputs are first compared between the schemes (they must be
 * bit-identical), then each scheme's kernels are timed alone (WebGpuEngine.kernelMs: input on the
 * device, median of three submissions of --repeats executions).
 *
 *   npx tsx bench/gpu/schemes.ts [--adapter gpu|auto|software] [--size 14] [--repeats 3] [--batch 32]
 */
import { resolve } from 'node:path';
import { ADAPTER_CHOICES, type AdapterChoice } from '../../src/accel/webgpu/device.js';
import { WebGpuEngine } from '../../src/accel/webgpu/engine.js';
import { P } from '../../src/field/prime.js';
import type { ExactLinearLayer } from '../../src/kernels/exact-linear.js';
import { tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';

interface Shape {
  readonly name: string;
  readonly layer: ExactLinearLayer;
  readonly inDims: number[];
  readonly macs: number;
}

const SAME_3X3 = { strides: [1, 1] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], dilations: [1, 1] as [number, number], group: 1 };

function vggShapes(size: number, batch: number, rng: Rng): Shape[] {
  const weights = (n: number): Float64Array => Float64Array.from({ length: n }, () => (rng.nextI32() % 2049));
  const conv = (name: string, c: number, m: number): Shape => ({
    name: `${name} (${c}→${m}, 3×3, ${size}×${size})`,
    layer: { op: 'Conv', conv: SAME_3X3, wDims: [m, c, 3, 3], w: tensor([m, c, 3, 3], weights(m * c * 9)) },
    inDims: [1, c, size, size],
    macs: size * size * m * c * 9,
  });
  const fc2: ExactLinearLayer = { op: 'Gemm', wDims: [4096, 4096], w: tensor([4096, 4096], weights(4096 * 4096)) };
  return [
    conv('conv1_2', 64, 64),
    conv('conv2_2', 128, 128),
    conv('conv3_3', 256, 256),
    conv('conv4_3', 512, 512),
    { name: `fc2 (4096→4096, batch ${batch})`, layer: fc2, inDims: [batch, 4096], macs: batch * 4096 * 4096 },
    { name: 'fc2 (4096→4096, batch 1: the small-batch kernel)', layer: fc2, inDims: [1, 4096], macs: 4096 * 4096 },
  ];
}

async function main(argv: readonly string[]): Promise<void> {
  const get = (flag: string, def: string): string => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
  };
  const adapter = get('--adapter', 'gpu') as AdapterChoice;
  if (!ADAPTER_CHOICES.includes(adapter)) throw new RangeError(`--adapter must be one of ${ADAPTER_CHOICES.join(', ')}`);
  const [size, repeats, batch] = ['--size', '--repeats', '--batch'].map((f, i) => Number(get(f, ['14', '3', '32'][i]!)));
  for (const v of [size, repeats, batch]) if (!Number.isInteger(v) || v! < 1) throw new RangeError('--size, --repeats and --batch must be positive integers');
  const rng = new Rng(24);
  const limbs = await WebGpuEngine.open({ adapter, kernel: 'limbs' });
  const dot4 = await WebGpuEngine.open({ adapter, kernel: 'dot4' });
  try {
    process.stdout.write(`adapter: ${limbs.adapter.name}\ntile: ${JSON.stringify(limbs.kernelConfig.tile)}, ${repeats} executions per timing\n\n`);
    process.stdout.write('| layer | MACs | 12-bit limbs ms | GMAC/s | dot4 ms | GMAC/s | dot4 / limbs time |\n|---|---:|---:|---:|---:|---:|---:|\n');
    for (const s of vggShapes(size!, batch!, rng)) {
      const a = limbs.register(s.layer, s.name);
      const b = dot4.register(s.layer, s.name);
      try {
        const x = Uint32Array.from({ length: s.inDims.reduce((p, d) => p * d, 1) }, () => (rng.nextI32() >>> 0) % P);
        const [ya, yb] = [await limbs.run(a, s.inDims, x), await dot4.run(b, s.inDims, x)];
        if (!ya.data.every((v, i) => v === yb.data[i])) throw new Error(`${s.name}: the two schemes differ`);
        const msA = await limbs.kernelMs(a, s.inDims, 'exact', repeats!);
        const msB = await dot4.kernelMs(b, s.inDims, 'exact', repeats!);
        const g = (ms: number): string => (s.macs / ms / 1e6).toFixed(2);
        process.stdout.write(`| ${s.name} | ${(s.macs / 1e6).toFixed(0)} M | ${msA.toFixed(1)} | ${g(msA)} | ${msB.toFixed(1)} | ${g(msB)} | ${(msB / msA).toFixed(2)}× |\n`);
      } finally {
        limbs.release(a);
        dot4.release(b);
      }
    }
  } finally {
    await limbs.close();
    await dot4.close();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`bench/gpu/schemes: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
