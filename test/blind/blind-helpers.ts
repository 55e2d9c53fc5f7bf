/**
 * Test helpers for the blinding tests: an accelerator wrapper that records every input it is sent,
 * a tiny two-conv + Gemm model, a pad store filled by precomputePads, and an oracle that names the
 * pad an inference used from what the accelerator saw (first-layer input minus the quantized input,
 * matched against r_{j,0} for every generated j).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { AcceleratorBackend, LinearReply, LinearRequest, PublicLayer } from '../../src/accel/backend.js';
import { LocalBackend } from '../../src/accel/local.js';
import type { Untrusted } from '../../src/boundary/untrusted.js';
import { padVector } from '../../src/blind/keystream.js';
import { PadStore } from '../../src/blind/pad-store.js';
import type { LedgerSecrets } from '../../src/blind/precompute.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { P } from '../../src/field/prime.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { jsKernels } from '../../src/kernels/exact-linear.js';
import { quantizeInput } from '../helpers/requantize.js';
import type { SlalomModel } from '../../src/runtime/model.js';
import { openStore, precomputePads } from '../../src/runtime/precompute.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';

export interface SeenRequest {
  readonly layerId: number;
  readonly x: Float64Array;
}

/** An honest LocalBackend that keeps a copy of every input it receives: the accelerator's view. */
export class RecordingBackend implements AcceleratorBackend {
  readonly name = 'recording';
  readonly seen: SeenRequest[] = [];
  private readonly inner = new LocalBackend();

  loadWeights(layers: readonly PublicLayer[]): Promise<void> {
    return this.inner.loadWeights(layers);
  }

  linear(request: LinearRequest): Promise<Untrusted<LinearReply>> {
    this.seen.push({ layerId: request.layerId, x: Float64Array.from(request.x) });
    return this.inner.linear(request);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export const TINY_DIMS = [1, 1, 8, 8];

/**
 * x [1,1,8,8] → conv 1→4 (3×3, pad 1) → Relu → conv 4→4 (3×3, pad 1) → Relu → Flatten → Gemm 256→10.
 * Layers 0 and 1 both have 256 outputs, so a record of one fits the other's slot structurally.
 */
export function tinyModelBytes(seed: number): Uint8Array {
  const rng = new Rng(seed);
  const normal = (n: number, std: number): Float32Array => rng.fillNormal(new Float32Array(n), std);
  return new OnnxBuilder(`tiny_${seed}`)
    .input('x', TINY_DIMS)
    .initializer('c1.w', [4, 1, 3, 3], normal(36, Math.sqrt(2 / 9)))
    .initializer('c1.b', [4], normal(4, 0.1))
    .initializer('c2.w', [4, 4, 3, 3], normal(144, Math.sqrt(2 / 36)))
    .initializer('c2.b', [4], normal(4, 0.1))
    .initializer('fc.w', [10, 256], normal(2560, Math.sqrt(2 / 256)))
    .initializer('fc.b', [10], normal(10, 0.1))
    .node('Conv', ['x', 'c1.w', 'c1.b'], ['c1'], { pads: [1, 1, 1, 1] }, 'conv1')
    .node('Relu', ['c1'], ['r1'], {}, 'relu1')
    .node('Conv', ['r1', 'c2.w', 'c2.b'], ['c2'], { pads: [1, 1, 1, 1] }, 'conv2')
    .node('Relu', ['c2'], ['r2'], {}, 'relu2')
    .node('Flatten', ['r2'], ['flat'], {}, 'flatten')
    .node('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc')
    .output('logits', [1, 10])
    .toBytes();
}

export function normalInputs(dims: readonly number[], seed: number, count: number): Tensor[] {
  const rng = new Rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, () => tensor(dims, Float64Array.from(rng.fillNormal(new Float32Array(n), 1))));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `slalom-${prefix}-`));
}

/** Precomputes `count` more pads for `model` with the plain-JS exact kernels. */
export async function fillPads(model: SlalomModel, stateDir: string, storeDir: string, count: number): Promise<void> {
  const kernels = jsKernels();
  await precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(storeDir), count, kernels);
  await kernels.close();
}

/** The name and keys of the ledger of `storeDir`'s pads for `model` (the store must exist). */
export function storeSecrets(model: SlalomModel, stateDir: string, storeDir: string): LedgerSecrets {
  return openStore(TrustedState.open(stateDir), new PadStore(storeDir), model).secrets;
}

/**
 * The pad index whose r_{j,0} blinded `sent` (the accelerator's first-layer input) for model input
 * `input`, or undefined if none of [0, upTo) did.
 */
export function padIndexOf(model: SlalomModel, padKey: Uint8Array, input: Tensor, sent: Float64Array, upTo: number): number | undefined {
  const layer = model.quantized.layers[0]!;
  const x = quantizeInput(layer, input.data).residues;
  const r = new Float64Array(sent.length);
  for (let k = 0; k < r.length; k++) r[k] = (sent[k]! - x[k]! + P) % P;
  const probe = r.subarray(0, 8);
  for (let j = 0; j < upTo; j++) {
    const c = padVector(padKey, j, 0, probe.length);
    if (c.every((v, k) => v === probe[k])) return padVector(padKey, j, 0, r.length).every((v, k) => v === r[k]) ? j : undefined;
  }
  return undefined;
}
