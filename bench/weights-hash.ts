/**
 * What computing the model identity (quant/content-hash.ts) costs at load: VGG16 (138 M weights) is
 * quantized once from the zoo, saved as an artifact, and the hash is timed on both forms, in this
 * process — the quantizer's float64 weights (loading ONNX) and the artifact's stored int8 weights
 * (loading an artifact, before any decoding) — next to reading the artifact (its checksum included),
 * its whole load, and SHA-256 over the stored weight bytes alone (the floor).
 *
 *   npx tsx bench/weights-hash.ts [--model vgg16] [--runs 3]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentHash, type IntegerBacked } from '../src/quant/content-hash.js';
import { readArtifact } from '../src/quant/artifact.js';
import { SlalomModel } from '../src/runtime/model.js';
import { sizeOf } from '../src/tensor/tensor.js';
import { buildZooModel, isZooModelName } from '../src/zoo/index.js';
import { cpuFeatures } from './lib/cpu.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const name = flag('--model') ?? 'vgg16';
const runs = Number(flag('--runs') ?? 3);
if (!isZooModelName(name)) throw new Error(`unknown zoo model ${name}`);

const best = (f: () => unknown): number => {
  let ms = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
};

const dir = mkdtempSync(join(tmpdir(), 'slalom-bench-hash-'));
try {
  const onnx = join(dir, `${name}.onnx`);
  writeFileSync(onnx, buildZooModel(name, { seed: 1 }));
  const model = await SlalomModel.load(onnx);
  const weights = model.quantized.layers.reduce((s, l) => s + sizeOf(l.w.dims), 0);
  const artifact = join(dir, `${name}.slalom`);
  model.save(artifact);
  const fromOnnx = best(() => contentHash(model.quantized));
  const loaded = readArtifact(artifact).quantized;
  const fromArtifact = best(() => contentHash(loaded));
  const stored = loaded.layers.map((l) => (l.w as unknown as IntegerBacked).storedIntegers()!);
  const floor = best(() => {
    const h = createHash('sha256');
    for (const s of stored) h.update(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
    return h.digest();
  });
  const read = best(() => readArtifact(artifact));
  const load = best(() => SlalomModel.load(artifact));
  const same = contentHash(model.quantized) === contentHash(loaded);
  const { model: cpu, simd } = cpuFeatures();
  process.stdout.write(`${cpu}; ${simd.join(' ')}\n`);
  process.stdout.write(`${name}: ${(weights / 1e6).toFixed(1)} M integer weights (stored as ${[...new Set(stored.map((s) => s.constructor.name))].join(', ')}); same hash from ONNX and artifact: ${same}\n`);
  process.stdout.write(`  weights hash, quantizer's float64 weights   ${fromOnnx.toFixed(0).padStart(6)} ms\n`);
  process.stdout.write(`  weights hash, artifact's stored integers    ${fromArtifact.toFixed(0).padStart(6)} ms\n`);
  process.stdout.write(`  SHA-256 of the stored weight bytes alone    ${floor.toFixed(0).padStart(6)} ms\n`);
  process.stdout.write(`  reading the artifact (with its checksum)    ${read.toFixed(0).padStart(6)} ms\n`);
  process.stdout.write(`  SlalomModel.load of the artifact (+ hash)   ${load.toFixed(0).padStart(6)} ms\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
