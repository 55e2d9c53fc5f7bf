/**
 * Model loading, ONNX (import + calibrate on onnxruntime + quantize, what every command did before
 * artifacts) against a quantized artifact (`slalom quantize`), side by side on this machine:
 * wall time of `SlalomModel.load` and the process's peak RSS, each in a fresh process, plus the
 * time and peak RSS once every layer's weights are decoded (what opening a session does first).
 *
 *   npm run bench:load -- [--models resnet50,vgg16] [--out bench/out]
 *
 * Each measurement runs in its own child (`--child <model> <path>`), so peaks do not mix.
 */
import { execFileSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlalomModel } from '../src/runtime/model.js';
import { buildZooModel, isZooModelName } from '../src/zoo/index.js';

interface Measure {
  readonly loadMs: number;
  readonly loadPeakRssMiB: number;
  readonly decodedMs: number;
  readonly decodedPeakRssMiB: number;
}

const MiB = 2 ** 20;

async function child(path: string): Promise<void> {
  const start = performance.now();
  const model = await SlalomModel.load(path);
  const loadMs = performance.now() - start;
  const loadPeakRssMiB = (process.resourceUsage().maxRSS * 1024) / MiB;
  let sum = 0;
  for (const l of model.quantized.layers) sum += l.w.data.length; // decodes an artifact's weights
  const decodedMs = performance.now() - start;
  const decodedPeakRssMiB = (process.resourceUsage().maxRSS * 1024) / MiB;
  process.stdout.write(`${JSON.stringify({ loadMs, loadPeakRssMiB, decodedMs, decodedPeakRssMiB, weights: sum })}\n`);
}

function measure(path: string): Measure {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/load.ts', '--child', path], { encoding: 'utf8', maxBuffer: 2 ** 20 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') return child(argv[1]!);
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : argv[i + 1];
  };
  const models = (flag('--models') ?? 'resnet50,vgg16').split(',');
  const outDir = flag('--out') ?? 'bench/out';
  const work = mkdtempSync(join(tmpdir(), 'slalom-bench-load-'));
  const rows = [];
  try {
    for (const name of models) {
      if (!isZooModelName(name)) throw new Error(`unknown zoo model ${name}`);
      const onnx = join(work, `${name}.onnx`);
      writeFileSync(onnx, buildZooModel(name, { seed: 1 }));
      const artifact = join(work, `${name}.slalom`);
      (await SlalomModel.load(onnx)).save(artifact);
      const fromOnnx = measure(onnx);
      const fromArtifact = measure(artifact);
      rows.push({ model: name, onnxMiB: statSync(onnx).size / MiB, artifactMiB: statSync(artifact).size / MiB, onnx: fromOnnx, artifact: fromArtifact });
      process.stderr.write(
        `${name}: ONNX load ${(fromOnnx.loadMs / 1000).toFixed(2)} s, peak ${fromOnnx.loadPeakRssMiB.toFixed(0)} MiB; ` +
          `artifact load ${(fromArtifact.loadMs / 1000).toFixed(3)} s, peak ${fromArtifact.loadPeakRssMiB.toFixed(0)} MiB ` +
          `(weights decoded: ${(fromArtifact.decodedMs / 1000).toFixed(2)} s, ${fromArtifact.decodedPeakRssMiB.toFixed(0)} MiB)\n`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  mkdirSync(outDir, { recursive: true });
  const report = { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, rows };
  writeFileSync(join(outDir, 'load.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main(process.argv.slice(2));
