/**
 * `compare`: the ONNX file in onnxruntime fp32 against slalom's quantized evaluation on the same
 * inputs — top-1 agreement, logit error, accuracy when labels are known, and per-layer drift
 * (max |slalom − fp32| / max |fp32| at every linear layer's output).
 */
import type { LabeledInput } from '../io/sources.js';
import type { SlalomModel } from '../runtime/model.js';
import { createReferenceSession } from '../reference/ort-session.js';
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
  readonly layers: readonly LayerDrift[];
}

export interface CompareOptions {
  readonly onProgress?: (done: number, total: number) => void;
}

export async function compare(model: SlalomModel, inputs: readonly LabeledInput[], options: CompareOptions = {}): Promise<CompareReport> {
  const layers = model.quantized.layers;
  const outputNames = layers.map((l) => l.node.outputs[0]!);
  const session = await createReferenceSession(model.onnxBytes, { extraOutputs: outputNames });
  const drift = layers.map((l) => ({ name: l.name, maxAbsError: 0, maxAbsReference: 0 }));
  const driftIndex = new Map(outputNames.map((n, i) => [n, i]));
  let agree = 0;
  let maxAbsLogitError = 0;
  let maxAbsLogit = 0;
  let labeled = 0;
  let floatCorrect = 0;
  let slalomCorrect = 0;
  try {
    for (let k = 0; k < inputs.length; k++) {
      const item = inputs[k]!;
      const x = item.load();
      const ref = await session.run([x]);
      const result = await model.infer(x, {
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
      const refLogits = ref.get(model.graph.outputs[0]!)!.data;
      for (let j = 0; j < refLogits.length; j++) {
        maxAbsLogitError = Math.max(maxAbsLogitError, Math.abs(result.logits[j]! - refLogits[j]!));
        maxAbsLogit = Math.max(maxAbsLogit, Math.abs(refLogits[j]!));
      }
      const [refTop, ourTop] = [argmax(refLogits), argmax(result.logits)];
      if (refTop === ourTop) agree++;
      if (item.label !== undefined) {
        labeled++;
        if (refTop === item.label) floatCorrect++;
        if (ourTop === item.label) slalomCorrect++;
      }
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
    layers: drift.map((d) => ({ ...d, relativeDrift: d.maxAbsReference === 0 ? 0 : d.maxAbsError / d.maxAbsReference })),
  };
}
