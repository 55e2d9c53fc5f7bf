/**
 * The accelerator's exactness tax: for every linear layer of a model, the time of the exact kernel
 * the embedded accelerator runs on it (`createExactKernels('ort', 1)`, on random canonical residues)
 * over the time onnxruntime fp32 needs for the same layer alone (a one-node Conv or Gemm, one
 * intra-op thread, optimizations 'all' as in src/reference/ort-session.ts). The weights are float32
 * initializers, not graph inputs, so onnxruntime can pre-pack them and pick its blocked (NCHWc)
 * convolutions as it does in the whole network; a lone NCHWc convolution still pays its own layout
 * reorders, which the whole network mostly fuses away, so the fp32 side errs slow (the tax low).
 */
import * as ort from 'onnxruntime-node';
import { P } from '../../src/field/prime.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { createExactKernels, type ExactKernels } from '../../src/kernels/exact-linear.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';
import { median } from './stats.js';

export interface LayerTax {
  readonly name: string;
  readonly op: 'Conv' | 'Gemm';
  readonly macs: number;
  /** Median milliseconds of the accelerator's exact kernel on this layer. */
  readonly exactMs: number;
  /** Median milliseconds of onnxruntime fp32 on this layer alone. */
  readonly fp32Ms: number;
}

export interface ExactnessTax {
  /** Σ over linear layers of the exact kernel's median ms. */
  readonly exactLinearMs: number;
  /** Σ over linear layers of onnxruntime fp32's median ms. */
  readonly fp32LinearMs: number;
  /** exactLinearMs / fp32LinearMs (the target: ≤ 1.4). */
  readonly tax: number;
  readonly layers: readonly LayerTax[];
}

/** Per layer and kernel: one warm-up, then at least MIN_RUNS runs, more for fast layers until MIN_MS has passed (at most MAX_RUNS). */
const MIN_RUNS = 3;
const MIN_MS = 30;
const MAX_RUNS = 50;

/** a · scale as float32; a plain loop, as `Float32Array.from` with a map function takes tens of seconds on VGG16's 100 M dense weights. */
function scaledF32(a: Float64Array, scale: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * scale;
  return out;
}

/** A one-node fp32 model of the layer with its attributes, float32 weights and bias (values do not matter for timing). */
function fp32LayerModel(layer: QuantizedLayer): Uint8Array {
  const b = new OnnxBuilder(`fp32_${layer.op.toLowerCase()}_${layer.index}`);
  b.input('x', [...layer.inDims]).output('y', [...layer.outDims]).initializer('w', [...layer.w.dims], scaledF32(layer.w.data, 2 ** -layer.lw));
  const inputs = ['x', 'w'];
  if (layer.bias !== undefined) {
    b.initializer('b', [layer.bias.length], scaledF32(layer.bias, 2 ** -(layer.lx + layer.lw)));
    inputs.push('b');
  }
  if (layer.op === 'Conv') {
    const c = layer.conv!;
    b.node('Conv', inputs, ['y'], {
      kernel_shape: [layer.w.dims[2]!, layer.w.dims[3]!],
      strides: [...c.strides],
      pads: [...c.pads],
      dilations: [...c.dilations],
      group: c.group,
    });
  } else {
    b.node('Gemm', inputs, ['y']); // w is [K, N]: no transB
  }
  return b.toBytes();
}

async function timeOnce(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function measureLayer(layer: QuantizedLayer, kernels: ExactKernels, rng: Rng): Promise<LayerTax> {
  const n = sizeOf(layer.inDims);
  const residues = new Uint32Array(n);
  for (let i = 0; i < n; i++) residues[i] = (rng.nextI32() >>> 0) % P;
  const feeds = { x: new ort.Tensor('float32', rng.fillNormal(new Float32Array(n), 1), [...layer.inDims]) };
  const session = await ort.InferenceSession.create(fp32LayerModel(layer), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  try {
    const exact = () => kernels.apply(layer, layer.inDims, residues);
    const fp32 = () => session.run(feeds);
    await exact();
    await fp32();
    // Alternating, so load that drifts over the measurement hits both sides alike.
    const exactMs: number[] = [];
    const fp32Ms: number[] = [];
    const start = performance.now();
    while (exactMs.length < MIN_RUNS || (exactMs.length < MAX_RUNS && performance.now() - start < MIN_MS)) {
      exactMs.push(await timeOnce(exact));
      fp32Ms.push(await timeOnce(fp32));
    }
    return { name: layer.name, op: layer.op, macs: layer.macs, exactMs: median(exactMs), fp32Ms: median(fp32Ms) };
  } finally {
    await session.release();
  }
}

/** Measures every linear layer in turn; `progress` is called after each. */
export async function measureExactnessTax(layers: readonly QuantizedLayer[], progress?: (done: number, total: number) => void): Promise<ExactnessTax> {
  const kernels = await createExactKernels('ort', 1);
  const rng = new Rng(0x7a5);
  const out: LayerTax[] = [];
  try {
    for (const layer of layers) {
      out.push(await measureLayer(layer, kernels, rng));
      progress?.(out.length, layers.length);
    }
  } finally {
    await kernels.close();
  }
  const exactLinearMs = out.reduce((s, l) => s + l.exactMs, 0);
  const fp32LinearMs = out.reduce((s, l) => s + l.fp32Ms, 0);
  return { exactLinearMs, fp32LinearMs, tax: exactLinearMs / fp32LinearMs, layers: out };
}
