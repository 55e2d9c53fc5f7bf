/**
 * The accelerator's side of the work, whatever transport carries it (worker thread, HTTP): holds the
 * registered layers and computes f(x) mod p with an exact kernel. Untrusted code — it never sees a
 * secret, and nothing here is relied on for correctness (the trusted runtime checks the results).
 * It still refuses, at registration, a layer its kernels cannot compute exactly, so an honest
 * accelerator never returns a wrong answer.
 */
import { InvalidArgumentError } from '../errors.js';
import { firstNonResidue, type Residues } from '../field/residues.js';
import { outputDims } from '../kernels/output-dims.js';
import type { ExactKernels } from '../kernels/exact-linear.js';
import { assertExact } from '../kernels/field.js';
import { formatDims, sizeOf } from '../tensor/tensor.js';
import type { PublicLayer } from './backend.js';

export interface HostResult {
  readonly dims: number[];
  readonly data: Residues;
  readonly computeMs: number;
}

export class AcceleratorHost {
  private readonly layers = new Map<number, PublicLayer>();

  constructor(private readonly kernels: ExactKernels) {}

  load(layers: readonly PublicLayer[]): void {
    for (const layer of layers) {
      assertExact(layer.w, layer.op === 'Conv' ? 'conv' : 'gemm', 0, layer.name);
      this.layers.set(layer.id, layer);
    }
  }

  async linear(layerId: number, dims: readonly number[], x: Residues): Promise<HostResult> {
    const layer = this.layers.get(layerId);
    if (layer === undefined) throw new InvalidArgumentError(`unknown layer id ${layerId}`);
    if (sizeOf(dims) !== x.length) throw new InvalidArgumentError(`input of ${x.length} values does not fill shape ${formatDims(dims)}`);
    const bad = firstNonResidue(x);
    if (bad >= 0) throw new InvalidArgumentError(`input value ${x[bad]} at ${bad} is not a residue`);
    const start = performance.now();
    const data = await this.kernels.apply(layer, dims, x);
    return { dims: outputDims(layer, dims), data, computeMs: performance.now() - start };
  }
}
