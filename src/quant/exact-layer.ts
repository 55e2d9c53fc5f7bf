/**
 * f(x̃) mod p (no bias) for one quantized linear layer, computed in the calling thread with the exact
 * field kernels — the trusted runtime's own evaluation (mode baseline, the 'recompute' policy, and
 * the offline precomputation of unblinding factors). Exact by the bound quantize-graph.ts checked.
 */
import { convField, gemmField } from '../kernels/field.js';
import { tensor } from '../tensor/tensor.js';
import type { QuantizedLayer } from './quantize-graph.js';

export function computeLayerExactly(layer: QuantizedLayer, x: Float64Array): Float64Array {
  const input = tensor(layer.inDims, x);
  return (layer.op === 'Conv' ? convField(input, layer.w, layer.conv!) : gemmField(input, layer.w)).data;
}
