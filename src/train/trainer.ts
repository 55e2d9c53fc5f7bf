/**
 * Verified training (docs/design.md §8): minibatch SGD with momentum (or Adam) on softmax cross-entropy,
 * where every linear product of every step — forward Y = X·W, backward dX = dY·Wᵀ and dW = Xᵀ·dY —
 * is computed by the untrusted accelerator and checked by Freivalds before anything is computed
 * from it (train/products.ts), and everything else (loss, softmax, BatchNorm, the optimizer, the
 * float64 master weights) stays here. A step whose check fails under `abort` throws before the
 * update: the weights, the optimizer state and the running statistics keep their values. Under
 * `recompute` the failed product is computed here and the step goes on to the very weights an
 * honest accelerator gives (products are exact; the rounding draws depend only on the key and step).
 *
 * Reproducibility: the data order (per epoch), the initial weights (from scratch) and the gradients'
 * stochastic rounding come from the run's seeded AES-CTR streams (train/stream.ts), and float64
 * arithmetic in one order is deterministic, so a run resumed from a checkpoint ends bit-identical to
 * an uninterrupted one.
 *
 * Privacy of the training data does not carry over from inference: the accelerator sees the
 * activations and gradients in the clear (a one-time pad's f(r) would change with W every step).
 */
import { randomBytes } from 'node:crypto';
import type { AcceleratorBackend } from '../accel/backend.js';
import { canonicalJson, sha256Hex } from '../attest/canonical.js';
import { InvalidArgumentError } from '../errors.js';
import { CHECKPOINT_FORMAT, encodeF64, hasCheckpoint, readCheckpoint, restoreInto, writeCheckpoint, type CheckpointCounters } from './checkpoint.js';
import { softmaxCrossEntropy, type StepContext } from './layers.js';
import { modelFromOnnx, seededModel, stateTensors, type Architecture, type TrainableModel } from './model.js';
import { Optimizer, type OptimizerName } from './optimizer.js';
import { VerifiedProducts, type FailurePolicy } from './products.js';
import { StepScratch } from './scratch.js';
import { SeededStream } from './stream.js';

/** Labelled images, one byte per pixel, and how pixels become inputs ((v/255 − mean)/std). */
export interface TrainingData {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly normalize: { readonly mean: number; readonly std: number };
}

export interface Hyperparameters {
  readonly architecture: Architecture;
  readonly epochs: number;
  readonly batch: number;
  /** A limit on the run's total steps (null: every step of every epoch). */
  readonly steps: number | null;
  readonly optimizer: OptimizerName;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Bits of the per-tensor quantization of activations, weights and gradients. */
  readonly bits: { readonly activation: number; readonly weight: number; readonly gradient: number };
  /** Freivalds repetitions per product chunk. */
  readonly repetitions: number;
  /** The public seed the stream key was derived from, or null for a secret random key. */
  readonly seed: number | null;
}

export interface TrainOptions {
  readonly hyperparameters: Hyperparameters;
  readonly data: TrainingData;
  /** Initial weights from an ONNX model of the architecture (as its training script exports it, or modelToOnnx writes it); default: seeded. */
  readonly initialOnnx?: Uint8Array;
  /** The accelerator of every product; absent: `baseline`, every product computed in the trusted runtime. */
  readonly backend?: AcceleratorBackend;
  readonly onFailure?: FailurePolicy;
  /** A folder for checkpoints, written every `checkpointEvery` steps and at the end. */
  readonly checkpointDir?: string;
  readonly checkpointEvery?: number;
  /** Continue from the checkpoint in checkpointDir (which must be this run's). */
  readonly resume?: boolean;
  /** Called after each accepted step. */
  readonly onStep?: (report: StepReport) => void;
  /** Called before each step with the model being trained (tests: a lying accelerator at chosen steps, the weights it must not change). */
  readonly beforeStep?: (step: number, model: TrainableModel) => void;
}

export interface StepReport {
  readonly step: number;
  readonly totalSteps: number;
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly stepMs: number;
  /** Wall time waiting on the accelerator (transfer included), and Freivalds' checks. */
  readonly acceleratorMs: number;
  readonly verifyMs: number;
  /** log2 of the probability that a wrong product passed this step (null in baseline). */
  readonly soundnessLog2: number | null;
}

export interface TrainResult {
  readonly model: TrainableModel;
  readonly hyperparameters: Hyperparameters;
  readonly steps: number;
  readonly totalSteps: number;
  readonly initialModel: { readonly source: 'onnx' | 'seeded'; readonly stateHash: string };
  readonly dataHash: string;
  readonly hyperparametersHash: string;
  readonly finalStateHash: string;
  readonly counters: CheckpointCounters;
  /** Whether the products were outsourced and checked (false: baseline). */
  readonly verified: boolean;
  /** Milliseconds of this process's steps (a resumed run counts from its resumption). */
  readonly timing: { readonly steps: number; readonly totalMs: number; readonly acceleratorMs: number; readonly verifyMs: number; readonly macs: number };
}

/** SHA-256 of a model state: JCS of the names and lengths, a zero byte, then every value as little-endian float64. */
export function stateHash(model: TrainableModel): string {
  const tensors = stateTensors(model);
  const parts: (string | Uint8Array)[] = [canonicalJson({ state: tensors.map((t) => ({ name: t.name, length: t.value.length })) }), Uint8Array.of(0)];
  for (const t of tensors) parts.push(Buffer.from(encodeF64(t.value), 'base64'));
  return sha256Hex(...parts);
}

/** SHA-256 of a data set: JCS of its shape and normalisation, a zero byte, the image bytes, the label bytes. */
export function dataHash(d: TrainingData): string {
  return sha256Hex(canonicalJson({ count: d.count, rows: d.rows, cols: d.cols, normalize: { mean: d.normalize.mean, std: d.normalize.std } }), Uint8Array.of(0), d.images.subarray(0, d.count * d.rows * d.cols), d.labels.subarray(0, d.count));
}

function checkHyperparameters(h: Hyperparameters, d: TrainingData): void {
  const posInt = (v: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got ${v}`);
  };
  posInt(h.epochs, 'epochs');
  posInt(h.batch, 'batch');
  posInt(h.repetitions, 'repetitions');
  if (h.steps !== null) posInt(h.steps, 'steps');
  if (d.count < 1) throw new InvalidArgumentError('the training data holds no examples');
  if (d.rows !== 28 || d.cols !== 28) throw new InvalidArgumentError(`${h.architecture} takes 28×28 images, the data has ${d.rows}×${d.cols}`);
  if (!(d.normalize.std > 0)) throw new InvalidArgumentError('the normalisation std must be positive');
}

/** The batch of step `step`: indices into the data. */
export function batchIndices(stream: SeededStream, d: TrainingData, batch: number, step: number, orders: Map<number, Uint32Array>): Uint32Array {
  const perEpoch = Math.ceil(d.count / batch);
  const epoch = Math.floor(step / perEpoch);
  let order = orders.get(epoch);
  if (order === undefined) {
    orders.clear();
    order = stream.permutation('shuffle', epoch, d.count);
    orders.set(epoch, order);
  }
  const at = (step % perEpoch) * batch;
  return order.subarray(at, Math.min(at + batch, d.count));
}

function inputsOf(d: TrainingData, indices: Uint32Array): { x: Float64Array; labels: Uint8Array } {
  const size = d.rows * d.cols;
  const x = new Float64Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  const { mean, std } = d.normalize;
  indices.forEach((idx, b) => {
    for (let i = 0; i < size; i++) x[b * size + i] = (d.images[idx * size + i]! / 255 - mean) / std;
    labels[b] = d.labels[idx]!;
  });
  return { x, labels };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const h = o.hyperparameters;
  checkHyperparameters(h, o.data);
  const hyperparametersHash = sha256Hex(canonicalJson(h));
  const dHash = dataHash(o.data);
  if (o.resume && o.checkpointDir === undefined) throw new InvalidArgumentError('--resume needs --checkpoint <dir>');
  const resuming = o.resume === true && hasCheckpoint(o.checkpointDir!);
  const saved = resuming ? readCheckpoint(o.checkpointDir!) : undefined;
  if (saved !== undefined) {
    if (saved.hyperparametersHash !== hyperparametersHash) throw new InvalidArgumentError(`the checkpoint in ${o.checkpointDir} is of a run with other hyperparameters`);
    if (saved.dataHash !== dHash) throw new InvalidArgumentError(`the checkpoint in ${o.checkpointDir} is of a run on other data`);
  }
  const key = saved !== undefined ? Buffer.from(saved.key, 'hex') : h.seed !== null ? SeededStream.keyOfSeed(h.seed) : randomBytes(32);
  const stream = new SeededStream(key);
  const model = o.initialOnnx !== undefined ? modelFromOnnx(o.initialOnnx, h.architecture) : seededModel(h.architecture, stream);
  const initialModel = { source: o.initialOnnx !== undefined ? ('onnx' as const) : ('seeded' as const), stateHash: stateHash(model) };
  if (saved !== undefined && saved.initialModelHash !== initialModel.stateHash) throw new InvalidArgumentError(`the checkpoint in ${o.checkpointDir} started from another initial model`);
  const optimizer = new Optimizer({ name: h.optimizer, lr: h.lr, momentum: h.momentum, weightDecay: h.weightDecay }, model.params);
  const stateMap = new Map(stateTensors(model).map((t) => [t.name, t.value]));
  let counters: CheckpointCounters = { products: 0, chunks: 0, worstStepSoundnessLog2: null, incidents: [] };
  let step = 0;
  if (saved !== undefined) {
    restoreInto(saved.model, stateMap, 'model');
    restoreInto(saved.optimizer, optimizer.state, 'optimizer');
    counters = saved.counters;
    step = saved.step;
  }

  const perEpoch = Math.ceil(o.data.count / h.batch);
  const totalSteps = Math.min(h.epochs * perEpoch, h.steps ?? Infinity);
  const scratch = new StepScratch();
  const products = new VerifiedProducts(o.backend === undefined ? { backend: undefined, repetitions: h.repetitions, onFailure: 'abort', scratch } : { backend: o.backend, repetitions: h.repetitions, onFailure: o.onFailure ?? 'abort', scratch });
  const ctx = (s: number): StepContext => ({ step: s, products, stream, bits: h.bits, scratch });
  const orders = new Map<number, Uint32Array>();
  const save = (): void => {
    if (o.checkpointDir === undefined) return;
    const model: Record<string, string> = {};
    for (const [n, v] of stateMap) model[n] = encodeF64(v);
    const opt: Record<string, string> = {};
    for (const [n, v] of optimizer.state) opt[n] = encodeF64(v);
    writeCheckpoint(o.checkpointDir, { format: CHECKPOINT_FORMAT, step, key: Buffer.from(key).toString('hex'), hyperparametersHash, dataHash: dHash, initialModelHash: initialModel.stateHash, counters, model, optimizer: opt });
  };
  const startSteps = step;
  const started = performance.now();
  while (step < totalSteps) {
    o.beforeStep?.(step, model);
    const t0 = performance.now();
    // Nothing of the previous step's activations, gradients or products is read again.
    scratch.reset();
    const before = { ...products.stats, incidents: products.stats.incidents.length };
    const { x, labels } = inputsOf(o.data, batchIndices(stream, o.data, h.batch, step, orders));
    for (const p of model.params) p.grad.fill(0);
    const logits = await model.net.forward({ dims: [labels.length, ...model.inputDims], data: x }, ctx(step));
    const { loss, correct, grad } = softmaxCrossEntropy(logits, labels);
    await model.net.backward(grad, ctx(step));
    // Every product of the step was accepted: only now does anything the run keeps change.
    optimizer.update(step + 1);
    for (const bn of model.batchNorms) bn.commitRunning();
    step++;
    const chunks = products.stats.chunks - before.chunks;
    const soundness = o.backend === undefined ? null : products.log2ErrorPerChunk + Math.log2(chunks);
    counters = {
      products: counters.products + products.stats.products - before.products,
      chunks: counters.chunks + chunks,
      worstStepSoundnessLog2: soundness === null ? null : Math.max(counters.worstStepSoundnessLog2 ?? -Infinity, soundness),
      incidents: [...counters.incidents, ...products.stats.incidents.slice(before.incidents).map((i) => `step ${step - 1}: ${i}`)],
    };
    if (o.checkpointDir !== undefined && (step % (o.checkpointEvery ?? 50) === 0 || step === totalSteps)) save();
    o.onStep?.({ step, totalSteps, epoch: Math.floor((step - 1) / perEpoch), loss, accuracy: correct / labels.length, stepMs: performance.now() - t0, acceleratorMs: products.stats.acceleratorMs - before.acceleratorMs, verifyMs: products.stats.verifyMs - before.verifyMs, soundnessLog2: soundness });
  }
  return {
    model,
    hyperparameters: h,
    steps: step,
    totalSteps,
    initialModel,
    dataHash: dHash,
    hyperparametersHash,
    finalStateHash: stateHash(model),
    counters,
    verified: o.backend !== undefined,
    timing: { steps: step - startSteps, totalMs: performance.now() - started, acceleratorMs: products.stats.acceleratorMs, verifyMs: products.stats.verifyMs, macs: products.stats.macs },
  };
}
