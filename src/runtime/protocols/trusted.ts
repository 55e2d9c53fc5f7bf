/**
 * Mode `baseline`: the trusted runtime computes every linear layer itself with the exact field
 * kernels (the TEE-only reference of DESIGN.md §5). Exact by the bound checked at quantization.
 */
import { computeLayerExactly } from '../../quant/exact-layer.js';
import type { LinearProtocol } from '../linear-protocol.js';

export function trustedProtocol(): LinearProtocol {
  return {
    async compute(layer, x, timer) {
      return timer.time('linear', () => computeLayerExactly(layer, x));
    },
  };
}
