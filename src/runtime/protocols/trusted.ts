/**
 * Mode `baseline`: the trusted runtime computes every linear layer itself with exact kernels (the
 * TEE-only reference of DESIGN.md §5). Exact by the bound checked at quantization.
 */
import { jsKernels, type ExactKernels } from '../../kernels/exact-linear.js';
import type { LinearProtocol } from '../linear-protocol.js';
import { labelProtocol } from '../protocol-mode.js';

export function trustedProtocol(kernels: ExactKernels = jsKernels()): LinearProtocol {
  return labelProtocol(
    {
      compute: async (layer, x, timer) => ({ value: await timer.timeAsync('linear', () => kernels.apply(layer, layer.inDims, x)) }),
      close: () => kernels.close(),
    },
    'baseline',
  );
}
