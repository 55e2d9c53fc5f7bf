/**
 * Verified training measured (issue 25, docs/design.md §8): the Fashion-MNIST CNN (or, with --arch,
 * the ViT of scripts/train_vit_fashion_mnist.py or the VGG-style vgg-fashion-mnist) trained from scratch,
 * every product on the embedded accelerator and checked, against the same training in PyTorch fp32
 * on one thread (scripts/train_reference.py) from the same initial weights on the same batches, and
 * against the same steps computed entirely in the trusted runtime (baseline). Reports test accuracy
 * (the trained weights in onnxruntime fp32), time per step, the trusted side's share of it (wall time
 * less the wait on the accelerator, and the trusted thread's CPU time), and the accelerator's.
 *
 *   node --import tsx bench/train.ts [--arch fashion-mnist-cnn|vit-fashion-mnist|vgg-fashion-mnist] [--train-limit 2048] [--batch 64] [--epochs 1]
 *                                    [--optimizer sgd] [--lr 0.05] [--test-limit 2000] [--baseline-steps 4] [--json out.json]
 * Needs Debian's dataset-fashion-mnist, and python3-torch and python3-onnx for the float reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveBackend } from '../src/accel/registry.js';
import { loadFashionMnist } from '../src/io/idx.js';
import { createReferenceSession } from '../src/reference/ort-session.js';
import { checkArchitecture, modelToOnnx, seededModel } from '../src/train/model.js';
import { OPTIMIZERS, type OptimizerName } from '../src/train/optimizer.js';
import { SeededStream } from '../src/train/stream.js';
import { batchIndices, train, type Hyperparameters, type StepReport, type TrainingData } from '../src/train/trainer.js';

const { values: a } = parseArgs({
  options: {
    arch: { type: 'string', default: 'fashion-mnist-cnn' },
    'train-limit': { type: 'string', default: '2048' },
    batch: { type: 'string', default: '64' },
    epochs: { type: 'string', default: '1' },
    optimizer: { type: 'string', default: 'sgd' },
    lr: { type: 'string', default: '0.05' },
    'test-limit': { type: 'string', default: '2000' },
    'baseline-steps': { type: 'string', default: '4' },
    json: { type: 'string' },
  },
});
const NORMALIZE = { mean: 0.286, std: 0.353 };
function oneOptimizer(name: string): OptimizerName {
  if (!(OPTIMIZERS as readonly string[]).includes(name)) throw new Error(`--optimizer must be one of ${OPTIMIZERS.join(', ')}`);
  return name as OptimizerName;
}
const h: Hyperparameters = { architecture: checkArchitecture(a.arch), epochs: Number(a.epochs), batch: Number(a.batch), steps: null, optimizer: oneOptimizer(a.optimizer), lr: Number(a.lr), momentum: 0.9, weightDecay: 0, bits: { activation: 8, weight: 8, gradient: 8 }, repetitions: 2, seed: 1 };
const split = loadFashionMnist('train', { limit: Number(a['train-limit']) });
const data: TrainingData = { images: split.images, labels: split.labels, count: split.count, rows: 28, cols: 28, normalize: NORMALIZE };
const testSplit = loadFashionMnist('test', { limit: Number(a['test-limit']) });

const work = mkdtempSync(join(tmpdir(), 'slalom-bench-train-'));
const stream = new SeededStream(SeededStream.keyOfSeed(h.seed!));
writeFileSync(join(work, 'init.onnx'), modelToOnnx(seededModel(h.architecture, stream)));
const steps = h.epochs * Math.ceil(data.count / h.batch);
const orders = new Map<number, Uint32Array>();
const batches = Array.from({ length: steps }, (_, s) => Array.from(batchIndices(stream, data, h.batch, s, orders)));
writeFileSync(join(work, 'plan.json'), JSON.stringify({ hyperparameters: h, normalize: NORMALIZE, batches, testLimit: testSplit.count }));

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
/** CPU time of this (the trusted) thread in ms, from Linux's per-thread accounting (10 ms ticks); null elsewhere. */
function threadCpuMs(): number | null {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}
/** Means over steps after the first (warm-up). */
function perStep(reports: readonly StepReport[]): { stepMs: number; acceleratorMs: number; verifyMs: number; trustedMs: number } {
  const r = reports.length > 1 ? reports.slice(1) : reports;
  const stepMs = mean(r.map((x) => x.stepMs));
  const acceleratorMs = mean(r.map((x) => x.acceleratorMs));
  return { stepMs, acceleratorMs, verifyMs: mean(r.map((x) => x.verifyMs)), trustedMs: stepMs - acceleratorMs };
}

async function testAccuracy(onnx: Uint8Array): Promise<number> {
  const session = await createReferenceSession(onnx, { threads: 1 });
  let correct = 0;
  const size = 784;
  for (let at = 0; at < testSplit.count; at += 500) {
    const n = Math.min(500, testSplit.count - at);
    const x = new Float64Array(n * size);
    for (let i = 0; i < n * size; i++) x[i] = (testSplit.images[at * size + i]! / 255 - NORMALIZE.mean) / NORMALIZE.std;
    const logits = [...(await session.run([{ dims: [n, 1, 28, 28], data: x }])).values()][0]!.data;
    for (let r = 0; r < n; r++) {
      let best = 0;
      for (let j = 1; j < 10; j++) if (logits[r * 10 + j]! > logits[r * 10 + best]!) best = j;
      if (best === testSplit.labels[at + r]) correct++;
    }
  }
  await session.close();
  return correct / testSplit.count;
}

const { backend } = await resolveBackend([{ name: 'worker', options: { kernels: 'ort' } }]);
const verifiedSteps: StepReport[] = [];
// The trusted thread's CPU per step: on a shared machine, its wall time also counts waiting for a core.
const stepCpu: number[] = [];
let cpuAtStep: number | null = null;
const verified = await train({ hyperparameters: h, data, backend, beforeStep: () => (cpuAtStep = threadCpuMs()), onStep: (r) => {
  const now = threadCpuMs();
  if (now !== null && cpuAtStep !== null) stepCpu.push(now - cpuAtStep);
  verifiedSteps.push(r);
  if (r.step % 8 === 0 || r.step === r.totalSteps) process.stderr.write(`verified step ${r.step}/${r.totalSteps} loss ${r.loss.toFixed(3)} ${r.stepMs.toFixed(0)} ms\n`);
} });
await backend.close();
const verifiedAccuracy = await testAccuracy(modelToOnnx(verified.model));

const baselineSteps: StepReport[] = [];
await train({ hyperparameters: { ...h, steps: Number(a['baseline-steps']) }, data, onStep: (r) => baselineSteps.push(r) });

const torchRun = spawnSync('/usr/bin/python3', ['scripts/train_reference.py', '--init', join(work, 'init.onnx'), '--plan', join(work, 'plan.json')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
const torch = torchRun.status === 0 ? JSON.parse(torchRun.stdout.trim().split('\n').pop()!) : { error: torchRun.stderr.trim().split('\n').pop() };
rmSync(work, { recursive: true, force: true });

const v = perStep(verifiedSteps);
const b = perStep(baselineSteps);
const result = {
  machine: 'see lscpu; shared with other jobs',
  setup: { trainExamples: data.count, testExamples: testSplit.count, ...h, steps },
  verified: { testAccuracy: verifiedAccuracy, ...v, trustedCpuMs: stepCpu.length > 1 ? mean(stepCpu.slice(1)) : null, soundnessLog2PerStep: verified.counters.worstStepSoundnessLog2, products: verified.counters.products, checks: verified.counters.chunks, macsPerStep: verified.timing.macs / verified.timing.steps },
  baseline: { stepMs: b.stepMs },
  torch,
  ratios: {
    trustedVsTorch: typeof torch.msPerStep === 'number' ? v.trustedMs / torch.msPerStep : null,
    verifiedStepVsBaseline: v.stepMs / b.stepMs,
    trustedVsBaseline: v.trustedMs / b.stepMs,
    acceleratorShare: v.acceleratorMs / v.stepMs,
  },
};
if (a.json !== undefined) writeFileSync(a.json, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
