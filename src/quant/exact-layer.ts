/**
 * f(x̃) mod p (no bias) for one quantized linear layer, synchronously on the plain-TypeScript exact
 * kernels: a reference for tests and small models. The runtime itself goes through
 * kernels/exact-linear.ts, which can use the faster onnxruntime kernels.
 */
import type { Residues } from '../field/residues.js';
import { applyExactSync } from '../kernels/exact-linear.js';
import type { QuantizedLayer } from './quantize-graph.js';

export function computeLayerExactly(layer: QuantizedLayer, x: Residues): Residues {
  return applyExactSync(layer, layer.inDims, x);
}
