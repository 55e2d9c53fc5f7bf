/**
 * Test helper: imports an ONNX model into slalom, runs its float graph and onnxruntime fp32
 * (src/reference/ort-session.ts, the project's float reference) on the same inputs, and asserts
 * that every output agrees within atol + rtol·|expected|. ORT computes in float32, so tolerances
 * near 1e-5 relative are the floor.
 */
import { execute } from '../../src/graph/execute.js';
import type { Graph } from '../../src/graph/ir.js';
import { importOnnx } from '../../src/graph/onnx/import.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from './single-node.js';

export interface Agreement {
  readonly graph: Graph;
  readonly ours: Tensor[];
  readonly reference: Tensor[];
}

export async function assertAgreesWithOrt(bytes: Uint8Array, inputs: readonly Tensor[], rtol = 1e-5, atol = 1e-6, label = ''): Promise<Agreement> {
  const graph = importOnnx(bytes, { inputDims: inputs[0]!.dims });
  const ours = await execute(graph, inputs);
  const session = await createReferenceSession(bytes);
  let reference: Tensor[];
  try {
    reference = [...(await session.run(inputs)).values()];
  } finally {
    await session.close();
  }
  if (reference.length !== ours.length) throw new Error(`${label}: ${ours.length} outputs, onnxruntime gives ${reference.length}`);
  ours.forEach((t, i) => assertClose(t, reference[i]!, rtol, atol, `${label} output ${i}`));
  return { graph, ours, reference };
}
