/**
 * A training step context whose products are taken exactly in float64 in the test itself, so layers can run
 * on operands wider than the field's exactness bound allows (products of 16-bit operands): the layers'
 * float semantics without the 8-bit quantization of a real run.
 */
import type { StepContext } from '../../src/train/layers.js';
import type { ProductMultiplier } from '../../src/train/products.js';
import { SeededStream } from '../../src/train/stream.js';

const exactProducts: ProductMultiplier = {
  async multiply(_site, a, rows, inner, b, cols) {
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < inner; k++) {
        const v = a[r * inner + k]!;
        if (v !== 0) for (let c = 0; c < cols; c++) out[r * cols + c] += v * b[k * cols + c]!;
      }
    return out;
  },
};

export function floatContext(bits: number): StepContext {
  return { step: 0, products: exactProducts, stream: new SeededStream(SeededStream.keyOfSeed(1)), bits: { activation: bits, weight: bits, gradient: bits } };
}
