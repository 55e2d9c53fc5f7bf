/**
 * The accelerator's side of the work, whatever transport carries it (worker thread, HTTP): holds the
 * registered layers and computes f(x) mod p with an exact kernel. Untrusted code — it never sees a
 * secret, and nothing here is relied on for correctness (the trusted runtime checks the results).
 * It still refuses, at registration, a layer its kernels cannot compute exactly, so an honest
 * accelerator never returns a wrong answer: the float64 bound of field/prime.ts always, and the
 * kernels' own bound (`prepare`, e.g. the WebGPU limb scheme) where they have one. The kernels are
 * any implementation of kernels/registry.ts, opened by the transport.
 */
import { InvalidArgumentError } from '../errors.js';
import { firstNonResidue, type Residues } from '../field/residues.js';
import { outputDims } from '../kernels/output-dims.js';
import type { ExactKernels } from '../kernels/exact-linear.js';
import { assertExact } from '../kernels/field.js';
import { formatDims, sizeOf } from '../tensor/tensor.js';
import { joinArrays } from '../tensor/join.js';
import type { PublicLayer } from './backend.js';

export interface HostResult {
  readonly dims: number[];
  readonly data: Residues;
  readonly computeMs: number;
}

/** One request of a batch: its input shape and canonical residues. */
export interface HostRequest {
  readonly dims: readonly number[];
  readonly x: Residues;
}

export class AcceleratorHost {
  private readonly layers = new Map<number, PublicLayer>();

  /** `kernels`: an open implementation of kernels/registry.ts (slalom's CPU kernels, the GPU's, …). */
  constructor(private readonly kernels: ExactKernels) {}

  async load(layers: readonly PublicLayer[]): Promise<void> {
    for (const layer of layers) {
      assertExact(layer.w, layer.op === 'Conv' ? 'conv' : 'gemm', 0, layer.name);
      await this.kernels.prepare?.(layer);
      const old = this.layers.get(layer.id);
      if (old !== undefined && old !== layer) this.kernels.release?.(old);
      this.layers.set(layer.id, layer);
    }
  }

  unload(layerId: number): void {
    const layer = this.layers.get(layerId);
    if (layer === undefined) return;
    this.layers.delete(layerId);
    this.kernels.release?.(layer);
  }

  async linear(layerId: number, dims: readonly number[], x: Residues): Promise<HostResult> {
    return (await this.linearBatch(layerId, [{ dims, x }]))[0]!;
  }

  /**
   * Several requests for one layer with the same per-item shape, run as one batch (concatenated on
   * axis 0) and split back; each is validated on its own first, so one bad request fails the batch
   * before anything runs.
   */
  async linearBatch(layerId: number, requests: readonly HostRequest[]): Promise<HostResult[]> {
    const layer = this.layers.get(layerId);
    if (layer === undefined) throw new InvalidArgumentError(`unknown layer id ${layerId}`);
    for (const { dims, x } of requests) checkRequest(dims, x, requests[0]!.dims);
    const items = requests.reduce((n, r) => n + r.dims[0]!, 0);
    const dims = [items, ...requests[0]!.dims.slice(1)];
    const x = joinArrays(requests.map((r) => r.x));
    const start = performance.now();
    const data = await this.kernels.apply(layer, dims, x);
    const computeMs = performance.now() - start;
    if (requests.length === 1) return [{ dims: outputDims(layer, dims), data, computeMs }];
    const perItem = data.length / items;
    let at = 0;
    return requests.map((r) => {
      const n = r.dims[0]! * perItem;
      const part = data.slice(at, at + n);
      at += n;
      return { dims: outputDims(layer, r.dims), data: part, computeMs };
    });
  }
}

function checkRequest(dims: readonly number[], x: Residues, first: readonly number[]): void {
  if (dims.length === 0 || dims.length !== first.length || dims.some((d, i) => i > 0 && d !== first[i])) {
    throw new InvalidArgumentError(`requests of shapes ${formatDims(first)} and ${formatDims(dims)} cannot share a batch`);
  }
  if (sizeOf(dims) !== x.length) throw new InvalidArgumentError(`input of ${x.length} values does not fill shape ${formatDims(dims)}`);
  const bad = firstNonResidue(x);
  if (bad >= 0) throw new InvalidArgumentError(`input value ${x[bad]} at ${bad} is not a residue`);
}
