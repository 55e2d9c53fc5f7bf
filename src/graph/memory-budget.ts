/**
 * The memory a model's declared shapes ask for, checked before anything is allocated. A model may
 * declare (or a flag may bind) a batch of 10^5, and calibration would then allocate every activation
 * of that batch in onnxruntime and in float64 before failing somewhere deep; this sizes the request
 * from the shapes alone and refuses it in one line naming the largest value.
 *
 * The estimate is the float64 bytes of every activation of one inference held at once: what
 * calibration holds (it reads every linear layer's input and output back from onnxruntime) and an
 * upper bound for the executor, which frees values after their last use.
 */
import { MalformedModelError, UnsupportedModelError } from '../errors.js';
import { formatDims, sizeOf } from '../tensor/tensor.js';
import type { Graph } from './ir.js';

/** Default budget for a model's activations: 4 GiB (`memoryBudgetMb` / `--memory-budget-mb` raise it). */
export const DEFAULT_MEMORY_BUDGET_MB = 4096;

const BYTES_PER_VALUE = 8;
const MB = 2 ** 20;

export interface ActivationEstimate {
  /** Bytes of every activation as float64. */
  readonly bytes: number;
  /** The largest activation, e.g. "node 'conv' (Conv) output 'c' [100000×4×8×8]". */
  readonly largest: string;
}

/** Sizes every activation of `graph` (graph inputs and node outputs) from its shape. */
export function estimateActivations(graph: Graph): ActivationEstimate {
  const producer = new Map<string, string>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, `node '${n.name}' (${n.op}) output '${o}'`);
  const describe = (name: string, dims: readonly number[]): string => `${producer.get(name) ?? `input '${name}'`} ${formatDims(dims)}`;
  let bytes = 0;
  let largest = '';
  let largestSize = -1;
  for (const [name, dims] of graph.dims) {
    const size = sizeOf(dims);
    if (!Number.isSafeInteger(size) || dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
      throw new MalformedModelError(`${describe(name, dims)} is an impossible shape (${size} elements)`);
    }
    bytes += size * BYTES_PER_VALUE;
    if (size > largestSize) {
      largestSize = size;
      largest = describe(name, dims);
    }
  }
  return { bytes, largest };
}

/**
 * Refuses a graph whose activations would pass `budgetMb` megabytes (UnsupportedModelError: the
 * model is valid, only too large for the budget), naming the largest value and the option to raise.
 */
export function checkMemoryBudget(graph: Graph, budgetMb = DEFAULT_MEMORY_BUDGET_MB): ActivationEstimate {
  const estimate = estimateActivations(graph);
  if (estimate.bytes > budgetMb * MB) {
    throw new UnsupportedModelError(
      `the model's activations need about ${Math.ceil(estimate.bytes / MB)} MB, over the memory budget of ${budgetMb} MB (largest: ${estimate.largest}); give smaller input shapes (a smaller batch), or raise the budget (--memory-budget-mb, memoryBudgetMb)`,
    );
  }
  return estimate;
}
