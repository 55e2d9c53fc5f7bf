/**
 * The trusted runtime's inference loop (docs/design.md §5, §7): the graph executor with every linear
 * layer replaced by its boundary crossing. A layer's request (x̃, or x̃ + r in the private modes,
 * with its check's input side) was written either by the previous layer's boundary pass or, when
 * the input comes from a non-linear layer, by the one pass that quantizes it; the protocol obtains
 * f(x̃) and accepts it through the layer's pass, which writes the float outputs and/or the next
 * request. Non-linear layers run here in float on exactly dequantized values. Requests, float
 * outputs, biases and scratch are resident in the trusted runtime's memory (simd/arena.ts), each
 * released at its last use.
 */
import { prepareRequest } from '../boundary/accept.js';
import type { Sendable } from '../boundary/pass-plan.js';
import { InvalidArgumentError } from '../errors.js';
import { execute } from '../graph/execute.js';
import { biasResidues, nextRequest, requantTerm, scaleColumns } from '../quant/fixed-point.js';
import type { QuantizedGraph, QuantizedLayer } from '../quant/quantize-graph.js';
import { alloc, i32, isResident, regionOf, release, type Region } from '../simd/arena.js';
import type { FieldTensor } from '../tensor/field-tensor.js';
import type { Tensor } from '../tensor/tensor.js';
import { fusionPlan, layoutOf, NO_FUSION, type FusionPlan, type LayerStep } from './boundary-plan.js';
import type { LinearProtocol, ProtocolRun } from './linear-protocol.js';
import type { ExecutionLog } from './execution.js';
import { PhaseTotals, timed, timedAsync, type LayerTiming, type RunObserver } from './observer.js';
import type { PadOrigin } from './pad-lease.js';

export interface RunOptions {
  /**
   * Sees every value as it is produced (drift reports). A fused run never materializes most
   * pre-activation values, so this needs `fuse: false`.
   */
  readonly onValue?: (name: string, value: Tensor) => void;
  /** Fuse each layer boundary into one pass (default true); false runs the owners' passes apart and times each. */
  readonly fuse?: boolean;
  /** Sees every phase as it is spent (besides the totals the result reports). */
  readonly observer?: RunObserver;
}

export interface QuantizedRun {
  readonly outputs: Tensor[];
  /** Milliseconds by phase (runtime/observer.ts names them). */
  readonly timings: Record<string, number>;
  /** Each linear layer's phases, in order. */
  readonly layers: LayerTiming[];
  /** The one-time pad this inference used (private modes). */
  readonly pad?: PadUsed;
  /** Where each linear layer was computed and under which check, and the incidents: as the protocol recorded them. */
  readonly execution: ExecutionLog;
}

export interface PadUsed {
  readonly index: number;
  readonly origin: PadOrigin;
}

export async function runQuantized(qg: QuantizedGraph, inputs: readonly Tensor[], protocol: LinearProtocol, options: RunOptions = {}): Promise<QuantizedRun> {
  const fuse = options.fuse ?? true;
  if (options.onValue !== undefined && fuse) throw new InvalidArgumentError('onValue sees every value, which a fused run does not materialize: pass fuse: false as well');
  const plan = fuse ? fusionPlan(qg) : NO_FUSION;
  const totals = new PhaseTotals();
  const extra = options.observer;
  const observer: RunObserver = extra === undefined ? totals : { phase: (p, ms, l) => (totals.phase(p, ms, l), extra.phase(p, ms, l)) };
  const run = await timedAsync(observer, 'pad', undefined, () => protocol.start(observer));
  const biases = new Map<string, Region>();
  /** Requests written ahead by a boundary pass, by the layer they are for. */
  const requests = new Map<string, Sendable>();
  try {
    const outputs = await execute(qg.graph, inputs, {
      onValue: options.onValue,
      passThrough: plan.passThrough,
      onNonlinearMs: (ms) => observer.phase('nonlinear', ms),
      ...(run.activationProduct !== undefined ? { activationProduct: (node, a, b) => run.activationProduct!(node.name, a, b) } : {}),
      async linear(node, x, _weights, value) {
        const layer = qg.byNode.get(node.name)!;
        let request = requests.get(layer.name);
        requests.delete(layer.name);
        if (request === undefined) {
          // Residues meant for another layer are not floats: quantizing them again would be silently wrong.
          if (!(x.data instanceof Float64Array)) throw new Error(`internal: '${node.name}' got residues not written for it`);
          request = quantizeFor(layer, x as Tensor, run, fuse, observer);
        }
        try {
          const step = stepOf(layer, request, plan, biases, value, fuse);
          const crossing = await run.cross(step, request);
          if (crossing.next !== undefined) requests.set(crossing.next.layerName, crossing.next);
          if (crossing.floats !== undefined) scaleColumns(layer, crossing.floats.data);
          return crossing.floats ?? crossing.next!.x;
        } finally {
          releaseView(request.x.data);
        }
      },
    });
    const pad = run.pads === undefined ? {} : { pad: { index: run.pads.index, origin: run.pads.origin } };
    return { outputs: outputs.map(own), timings: totals.ms, layers: totals.layers(), ...pad, execution: run.execution };
  } finally {
    for (const r of requests.values()) releaseView(r.x.data);
    for (const r of biases.values()) release(r);
    run.end();
  }
}

/**
 * One linear layer on float rows, alone (no fusion with its neighbours): rounded onto its grid,
 * crossed through `run` (outsourced, checked, blinded and unblinded as its mode says) and
 * dequantized, on memory of its own. A decoder's step loop calls it for every linear layer;
 * `biases` keeps each layer's bias residues from call to call (releaseBiases frees them).
 */
export async function crossLinear(run: ProtocolRun, layer: QuantizedLayer, x: Tensor, observer: RunObserver, biases: Map<string, Region>): Promise<Tensor> {
  const request = quantizeFor(layer, x, run, true, observer);
  try {
    const crossing = await run.cross(stepOf(layer, request, NO_FUSION, biases, noResidual, true), request);
    const floats = crossing.floats!;
    scaleColumns(layer, floats.data);
    return own(floats);
  } finally {
    releaseView(request.x.data);
  }
}

export function releaseBiases(biases: Map<string, Region>): void {
  for (const r of biases.values()) release(r);
  biases.clear();
}

/** A layer alone has no residual operand to fetch. */
function noResidual(name: string): never {
  throw new Error(`internal: a lone layer asked for the value '${name}'`);
}

/** The first layer's request (or one after a non-linear layer): its input rounded onto its grid, its check's input side, its pad. */
function quantizeFor(layer: QuantizedLayer, x: Tensor, run: ProtocolRun, fuse: boolean, observer: RunObserver): Sendable {
  const pad = run.pads === undefined ? undefined : timed(observer, 'keystream', layer.name, () => run.pads!.keystream(layer));
  try {
    const wire = run.requestBuffer?.(x.data.length);
    const next = { ...nextRequest(layer, { fromFloats: true, check: run.verifier?.inputSide(layer), pad }), ...(wire !== undefined ? { wire } : {}) };
    return prepareRequest(x, { next, fuse }, (phase, ms) => observer.phase(phase, ms, layer.name));
  } finally {
    if (pad !== undefined) run.pads!.done(pad);
  }
}

/** What `layer`'s boundary pass does in this inference. */
function stepOf(
  layer: QuantizedLayer,
  request: Sendable,
  plan: FusionPlan,
  biases: Map<string, Region>,
  value: (name: string) => Tensor | FieldTensor,
  fuse: boolean,
): LayerStep {
  const name = layer.node.name;
  const residual = plan.addAfter.get(name);
  const other = residual === undefined ? undefined : value(residual.other).data;
  if (other !== undefined && !(other instanceof Float64Array)) throw new Error(`internal: the residual operand of '${name}' holds residues`);
  const fused = {
    clamp: plan.clampAfter.get(name),
    pool2x2: plan.poolAfter.has(name),
    ...(residual !== undefined ? { add: { other: other as Float64Array, relu: residual.relu } } : {}),
  };
  const shiftInto = plan.feeds.get(name);
  const floatInto = plan.quantizesInto.get(name);
  const keepFloats = shiftInto === undefined && (floatInto === undefined || plan.keepsFloats.has(name));
  let bias = biases.get(name);
  if (bias === undefined) {
    const residues = biasResidues(layer);
    bias = alloc(residues.byteLength);
    i32(bias, residues.length).set(residues);
    biases.set(name, bias);
  }
  const requant = requantTerm(layer, { fused, inputMaxAbs: request.maxAbs, bias, ...(shiftInto !== undefined ? { shiftInto } : {}), keepFloats });
  const next = shiftInto !== undefined ? { layer: shiftInto, fromFloats: false } : floatInto !== undefined ? { layer: floatInto, fromFloats: true } : undefined;
  return { layer, layout: layoutOf(layer), requant, ...(next !== undefined ? { next } : {}), fuse };
}

function releaseView(view: ArrayBufferView): void {
  const region = regionOf(view);
  if (region !== undefined) release(region);
}

/** A graph output, on memory of its own (the caller keeps it; resident memory is reused). */
function own(t: Tensor): Tensor {
  if (!isResident(t.data)) return t;
  const data = t.data.slice();
  releaseView(t.data);
  return { dims: t.dims, data };
}
