/**
 * `slalom train`: verified training of a model made of the layers slalom runs (train/trainer.ts) on
 * Fashion-MNIST, every product of every step on the accelerator and checked. Writes the trained
 * model as ONNX (with a `<out>.slalom.json` sidecar, so `slalom infer` preprocesses images as the
 * training did) and, with --receipt-out, a training receipt signed with this process's receipt key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AcceleratorBackend } from '../../accel/backend.js';
import { attest, noneProvider } from '../../attest/attestation.js';
import { ServiceKeys } from '../../attest/keys.js';
import { signTrainingReceipt, TRAINING_RECEIPT_FORMAT } from '../../attest/training-receipt.js';
import { InvalidArgumentError } from '../../errors.js';
import { loadFashionMnist } from '../../io/idx.js';
import { checkArchitecture, modelToOnnx } from '../../train/model.js';
import { OPTIMIZERS, type OptimizerName } from '../../train/optimizer.js';
import { train, type StepReport, type TrainResult } from '../../train/trainer.js';
import { acceleratorFromFlags, parseInteger, parsePositive, type AcceleratorFlags } from '../options.js';

/** Fashion-MNIST's normalisation, as scripts/train_fashion_mnist.py computed it (models/fashion-mnist.slalom.json). */
const FASHION_MNIST_NORMALIZE = { mean: 0.286, std: 0.353 };
const FASHION_MNIST_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface TrainFlags extends AcceleratorFlags {
  model?: string;
  arch: string;
  data: string;
  dataDir?: string;
  trainLimit?: string;
  epochs: string;
  batch: string;
  steps?: string;
  optimizer: string;
  lr: string;
  momentum: string;
  weightDecay: string;
  seed?: string;
  bits: string;
  repetitions: string;
  mode: string;
  onFailure: string;
  checkpoint?: string;
  checkpointEvery: string;
  resume?: boolean;
  out?: string;
  receiptOut?: string;
  logEvery: string;
  json?: boolean;
}

function parseBits(text: string): { activation: number; weight: number; gradient: number } {
  const parts = text.split(',').map((t) => parseInteger(t.trim(), '--bits', { min: 2, max: 12 }));
  if (parts.length !== 3) throw new InvalidArgumentError(`--bits takes activation,weight,gradient bits (e.g. 8,8,8), got '${text}'`);
  return { activation: parts[0]!, weight: parts[1]!, gradient: parts[2]! };
}

/** A number in [min, max). */
function parseReal(text: string, flag: string, min: number, max: number): number {
  const v = Number(text);
  if (text.trim() === '' || !(v >= min && v < max)) throw new InvalidArgumentError(`${flag} must be a number in [${min}, ${max}), got '${text}'`);
  return v;
}

function oneOf<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${flag} must be one of ${choices.join(', ')}, got '${value}'`);
  return value as T;
}

const progressLine = (r: StepReport): string =>
  `step ${r.step}/${r.totalSteps}  epoch ${r.epoch}  loss ${r.loss.toFixed(4)}  acc ${(100 * r.accuracy).toFixed(1)} %  ${r.stepMs.toFixed(0)} ms (accelerator ${r.acceleratorMs.toFixed(0)}, checks ${r.verifyMs.toFixed(0)})${r.soundnessLog2 !== null ? `  soundness 2^${r.soundnessLog2.toFixed(1)}` : ''}`;

export async function run(flags: TrainFlags): Promise<void> {
  const architecture = checkArchitecture(flags.arch);
  if (flags.data !== 'fashion-mnist') throw new InvalidArgumentError(`--data must be fashion-mnist, got '${flags.data}'`);
  const mode = oneOf(flags.mode, '--mode', ['verified', 'baseline'] as const);
  const onFailure = oneOf(flags.onFailure, '--on-failure', ['abort', 'recompute'] as const);
  const split = loadFashionMnist('train', { ...(flags.dataDir !== undefined ? { dir: flags.dataDir } : {}), ...(flags.trainLimit !== undefined ? { limit: parsePositive(flags.trainLimit, '--train-limit', true) } : {}) });
  const initialOnnx = flags.model !== undefined ? readFileSync(flags.model) : undefined;
  const hyperparameters = {
    architecture,
    epochs: parsePositive(flags.epochs, '--epochs', true),
    batch: parsePositive(flags.batch, '--batch', true),
    steps: flags.steps !== undefined ? parsePositive(flags.steps, '--steps', true) : null,
    optimizer: oneOf<OptimizerName>(flags.optimizer, '--optimizer', OPTIMIZERS),
    lr: parsePositive(flags.lr, '--lr'),
    momentum: parseReal(flags.momentum, '--momentum', 0, 1),
    weightDecay: parseReal(flags.weightDecay, '--weight-decay', 0, Infinity),
    bits: parseBits(flags.bits),
    repetitions: parsePositive(flags.repetitions, '--repetitions', true),
    seed: flags.seed !== undefined ? parseInteger(flags.seed, '--seed', { min: 0 }) : null,
  };
  if (flags.resume && flags.checkpoint === undefined) throw new InvalidArgumentError('--resume needs --checkpoint <dir>');
  const logEvery = parsePositive(flags.logEvery, '--log-every', true);

  let backend: AcceleratorBackend | undefined;
  if (mode === 'verified') backend = (await acceleratorFromFlags(flags, { name: `train-${architecture}`, weightsHash: randomBytes(16).toString('hex') })).accelerator;
  let result: TrainResult;
  try {
    result = await train({
      hyperparameters,
      data: { images: split.images, labels: split.labels, count: split.count, rows: split.rows, cols: split.cols, normalize: FASHION_MNIST_NORMALIZE },
      ...(initialOnnx !== undefined ? { initialOnnx } : {}),
      ...(backend !== undefined ? { backend } : {}),
      onFailure,
      ...(flags.checkpoint !== undefined ? { checkpointDir: flags.checkpoint, checkpointEvery: parsePositive(flags.checkpointEvery, '--checkpoint-every', true) } : {}),
      resume: flags.resume === true,
      onStep: (r) => {
        if (!flags.json && (r.step % logEvery === 0 || r.step === r.totalSteps)) process.stderr.write(`${progressLine(r)}\n`);
      },
    });
  } finally {
    await backend?.close();
  }

  let outputModelHash: string | null = null;
  if (flags.out !== undefined) {
    const bytes = modelToOnnx(result.model);
    writeFileSync(flags.out, bytes);
    outputModelHash = createHash('sha256').update(bytes).digest('hex');
    const sidecar = { name: architecture, input: { name: 'input', dims: [1, ...result.model.inputDims] }, output: { name: 'logits', dims: [1, result.model.classes] }, normalize: FASHION_MNIST_NORMALIZE, labels: FASHION_MNIST_LABELS };
    writeFileSync(flags.out.replace(/\.onnx$/, '') + '.slalom.json', `${JSON.stringify(sidecar, null, 2)}\n`);
  }
  let receipt;
  if (flags.receiptOut !== undefined) {
    const keys = ServiceKeys.generate();
    receipt = signTrainingReceipt(keys, {
      format: TRAINING_RECEIPT_FORMAT,
      issuedAt: new Date().toISOString(),
      nonce: randomBytes(16).toString('hex'),
      service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider: noneProvider.name },
      architecture,
      initialModel: result.initialModel,
      dataHash: result.dataHash,
      hyperparameters: { ...hyperparameters },
      steps: result.steps,
      finalStateHash: result.finalStateHash,
      outputModelHash,
      integrity: result.verified ? 'freivalds' : 'trusted-runtime',
      verification: result.verified ? { check: 'freivalds-dense', repetitions: hyperparameters.repetitions, products: result.counters.products, chunks: result.counters.chunks, worstStepSoundnessLog2: result.counters.worstStepSoundnessLog2 ?? 0 } : null,
      incidents: result.counters.incidents,
    });
    const attestation = await attest(noneProvider, keys.publicKeys, [], null);
    writeFileSync(flags.receiptOut, `${JSON.stringify({ receipt, attestation }, null, 2)}\n`);
  }
  const t = result.timing;
  const summary = {
    steps: result.steps,
    verified: result.verified,
    finalStateHash: result.finalStateHash,
    outputModelHash,
    products: result.counters.products,
    chunks: result.counters.chunks,
    worstStepSoundnessLog2: result.counters.worstStepSoundnessLog2,
    incidents: result.counters.incidents,
    msPerStep: t.steps > 0 ? t.totalMs / t.steps : null,
    acceleratorShare: t.totalMs > 0 ? t.acceleratorMs / t.totalMs : null,
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `trained ${architecture} for ${result.steps} steps (${result.verified ? `every product checked, a wrong one passes a step with probability ≤ 2^${(result.counters.worstStepSoundnessLog2 ?? 0).toFixed(1)}` : 'baseline: every product in the trusted runtime'}; ${result.counters.incidents.length} incidents)\n` +
        `  final state ${result.finalStateHash.slice(0, 16)}…${flags.out !== undefined ? `, written to ${flags.out}` : ''}${flags.receiptOut !== undefined ? `, receipt ${flags.receiptOut}` : ''}\n`,
    );
}
