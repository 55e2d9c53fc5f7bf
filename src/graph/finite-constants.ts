/**
 * Non-finite weights are refused when a model is imported, before calibration, naming the ONNX
 * tensor and the node that reads it: a NaN or ±Infinity in a linear layer's weight or bias has no
 * integer w̃ = round(w·2^lw), and a NaN anywhere poisons every value after it. ±Infinity is still
 * allowed in the constants of non-linear nodes, where exporters use it on purpose (a Clip bound, a
 * mask added before a Softmax).
 */
import { MalformedModelError } from '../errors.js';
import type { RawModel } from './ir.js';
import { isLinear } from './ops/registry.js';

/** Throws a MalformedModelError naming the first initializer or Constant that holds a value it must not. */
export function checkFiniteConstants(raw: RawModel): void {
  const constants = new Map(raw.initializers);
  for (const node of raw.nodes) {
    const value = node.attrs['value'];
    if (node.op === 'Constant' && typeof value === 'object' && !Array.isArray(value)) constants.set(node.outputs[0]!, value);
    const weights = isLinear(node.op) || node.op === 'ConvTranspose';
    node.inputs.forEach((name, i) => {
      const t = constants.get(name);
      if (t === undefined) return;
      const mustBeFinite = weights && i > 0;
      for (let k = 0; k < t.data.length; k++) {
        const v = t.data[k]!;
        if (Number.isNaN(v) || (mustBeFinite && !Number.isFinite(v))) {
          const what = !mustBeFinite ? 'constant' : i === 1 ? 'weight' : 'bias';
          throw new MalformedModelError(`node '${node.name}' (${node.op}): ${what} '${name}' holds ${v} at element ${k} (weights must be finite numbers)`, { layer: node.name });
        }
      }
    });
  }
}
