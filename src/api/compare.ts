/**
 * `compare`: the ONNX file in onnxruntime fp32 against slalom's quantized evaluation on the same
 * inputs — top-1 agreement, logit error, accuracy when labels are known, and per-layer drift
 * (max |slalom − fp32| / max |fp32| at every linear layer's output). An input on which slalom
 * overflows is counted (and disagrees) rather than ending the comparison.
 */
import { createHash } from 'node:crypto';
import { hasErrorCode, InvalidArgumentError } from '../errors.js';
import { onnxValueOf } from '../graph/onnx-values.js';
import type { LabeledInput } from '../io/sources.js';
import type { SlalomModel } from '../runtime/model.js';
import { argmax } from './predictions.js';

export interface LayerDrift {
  readonly name: string;
  readonly maxAbsError: number;
  readonly maxAbsReference: number;
  /** maxAbsError / maxAbsReference. */
  readonly relativeDrift: number;
}

export interface CompareReport {
  readonly count: number;
  readonly top1Agreement: number;
  readonly maxAbsLogitError: number;
  /** max |Δlogit| / max |fp32 logit| over all inputs. */
  readonly maxRelLogitError: number;
  readonly accuracy?: { readonly float: number; readonly slalom: number };
  /** Inputs on which the quantized run overflowed (they count as disagreeing), with the first error. */
  readonly overflows?: { readonly count: number; readonly first: { readonly input: string; readonly message: string } };
  readonly layers: readonly LayerDrift[];
}

export interface CompareOptions {
  readonly onProgress?: (done: number, total: number) => void;
  /** The ONNX file to compare against (default: the model's own; required for an artifact saved without it). */
  readonly floatModel?: Uint8Array;
}

/**
 * Which of `count` inputs calibrate when the inputs must also serve as calibration: about a fifth
 * (at most 32), evenly spread; the comparison runs on the others. One input alone is used for both.
 */
export function heldOutForCalibration(count: number): Set<number> {
  if (count <= 1) return new Set(count === 1 ? [0] : []);
  const c = Math.min(32, Math.max(1, Math.round(count / 5)));
  return new Set(Array.from({ length: c }, (_, i) => Math.floor((i * count) / c)));
}

export async function compare(model: SlalomModel, inputs: readonly LabeledInput[], options: CompareOptions = {}): Promise<CompareReport> {
  if (model.inputs.length !== 1) throw new InvalidArgumentError(`compare takes one-input models; ${model.name} has ${model.inputs.length}`);
  if (inputs.length === 0) throw new InvalidArgumentError('compare needs at least one input');
  const floatModel = options.floatModel ?? model.onnxBytes;
  if (createHash('sha256').update(floatModel).digest('hex') !== model.modelHash) {
    throw new InvalidArgumentError(`the float model is not the ONNX file ${model.name} was quantized from (its SHA-256 differs from the model hash)`);
  }
  const layers = model.quantized.layers;
  const outputNames = layers.map((l) => onnxValueOf(model.graph, l.node.outputs[0]!));
  // onnxruntime loads here, not when slalom is imported.
  const { createReferenceSession } = await import('../reference/ort-session.js');
  const session = await createReferenceSession(floatModel, { extraOutputs: outputNames });
  const drift = layers.map((l) => ({ name: l.name, maxAbsError: 0, maxAbsReference: 0 }));
  const driftIndex = new Map(outputNames.map((n, i) => [n, i]));
  let agree = 0;
  let maxAbsLogitError = 0;
  let maxAbsLogit = 0;
  let labeled = 0;
  let floatCorrect = 0;
  let slalomCorrect = 0;
  let overflows = 0;
  let firstOverflow: { input: string; message: string } | undefined;
  try {
    for (let k = 0; k < inputs.length; k++) {
      const item = inputs[k]!;
      const x = await item.load();
      const ref = await session.run([x]);
      const refLogits = ref.get(model.graph.outputs[0]!)!.data;
      const refTop = argmax(refLogits);
      if (item.label !== undefined) {
        labeled++;
        if (refTop === item.label) floatCorrect++;
      }
      let result;
      try {
        result = await model.infer(x, {
          // Every value, for the drift report: the passes apart (the logits are the same bit for bit).
          fuse: false,
          onValue(name, t) {
            const i = driftIndex.get(name);
            if (i === undefined) return;
            const r = ref.get(name)!.data;
            const d = drift[i]!;
            for (let j = 0; j < r.length; j++) {
              d.maxAbsError = Math.max(d.maxAbsError, Math.abs(t.data[j]! - r[j]!));
              d.maxAbsReference = Math.max(d.maxAbsReference, Math.abs(r[j]!));
            }
          },
        });
      } catch (e) {
        if (!hasErrorCode(e, 'SLALOM_ERR_OVERFLOW')) throw e;
        overflows++;
        firstOverflow ??= { input: item.name, message: e.message };
        options.onProgress?.(k + 1, inputs.length);
        continue;
      }
      for (let j = 0; j < refLogits.length; j++) {
        maxAbsLogitError = Math.max(maxAbsLogitError, Math.abs(result.logits[j]! - refLogits[j]!));
        maxAbsLogit = Math.max(maxAbsLogit, Math.abs(refLogits[j]!));
      }
      const ourTop = argmax(result.logits);
      if (refTop === ourTop) agree++;
      if (item.label !== undefined && ourTop === item.label) slalomCorrect++;
      options.onProgress?.(k + 1, inputs.length);
    }
  } finally {
    await session.close();
  }
  return {
    count: inputs.length,
    top1Agreement: agree / inputs.length,
    maxAbsLogitError,
    maxRelLogitError: maxAbsLogit === 0 ? 0 : maxAbsLogitError / maxAbsLogit,
    ...(labeled > 0 ? { accuracy: { float: floatCorrect / labeled, slalom: slalomCorrect / labeled } } : {}),
    ...(firstOverflow !== undefined ? { overflows: { count: overflows, first: firstOverflow } } : {}),
    layers: drift.map((d) => ({ ...d, relativeDrift: d.maxAbsReference === 0 ? 0 : d.maxAbsError / d.maxAbsReference })),
  };
}
