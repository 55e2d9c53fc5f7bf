/**
 * Mode `baseline`: the trusted runtime computes every linear layer itself with the exact field
 * kernels (the TEE-only reference of DESIGN.md §5). Exact by the bound checked at quantization.
 */
import { convField, gemmField } from '../../kernels/field.js';
import type { QuantizedLayer } from '../../quant/quantize-graph.js';
import { tensor } from '../../tensor/tensor.js';
import type { LinearProtocol } from '../linear-protocol.js';

/** f(x̃) mod p (no bias) on canonical residues, computed in this thread. */
export function computeLayerExactly(layer: QuantizedLayer, x: Float64Array): Float64Array {
  const input = tensor(layer.inDims, x);
  return (layer.op === 'Conv' ? convField(input, layer.w, layer.conv!) : gemmField(input, layer.w)).data;
}

export function trustedProtocol(): LinearProtocol {
  return {
    async compute(layer, x, timer) {
      return timer.time('linear', () => computeLayerExactly(layer, x));
    },
  };
}
