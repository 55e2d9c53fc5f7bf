/**
 * Mode `baseline`: the trusted runtime computes every linear layer itself with exact kernels (the
 * TEE-only reference of docs/design.md §5), and its results cross the same boundary passes as an
 * accelerator's (without a check: nothing to doubt). Exact by the bound checked at quantization.
 */
import { acceptComputed } from '../../boundary/accept.js';
import { jsKernels, type ExactKernels } from '../../kernels/exact-linear.js';
import { assemblePlan } from '../boundary-plan.js';
import { ExecutionLog, TRUSTED_REASONS } from '../execution.js';
import type { LinearProtocol } from '../linear-protocol.js';
import { timedAsync } from '../observer.js';
import { labelProtocol } from '../protocol-mode.js';

export function trustedProtocol(kernels: ExactKernels = jsKernels()): LinearProtocol {
  return labelProtocol(
    {
      async start(observer) {
        const execution = new ExecutionLog();
        return {
          execution,
          async cross(step, request) {
            const name = step.layer.name;
            execution.trusted(name, TRUSTED_REASONS.baseline);
            const y = await timedAsync(observer, 'linear', name, () => kernels.apply(step.layer, request.x.dims, request.x.data));
            const plan = assemblePlan(step, request, { requestId: 'computed', pads: {}, checking: false });
            return acceptComputed(y, plan, (phase, ms) => observer.phase(phase, ms, name));
          },
          end() {},
        };
      },
      close: () => kernels.close(),
    },
    'baseline',
  );
}
