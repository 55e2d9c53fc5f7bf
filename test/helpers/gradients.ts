/** What the training layers' gradient tests share: a step context without an accelerator, float helpers, central differences. */
import assert from 'node:assert/strict';
import type { StepContext } from '../../src/train/layers.js';
import { VerifiedProducts } from '../../src/train/products.js';
import { SeededStream } from '../../src/train/stream.js';
import { Rng } from '../../src/util/seeded-rng.js';

/** A step whose products run in the trusted runtime (no backend), with 12-bit operands. */
export const layerContext = (): StepContext => ({ step: 0, products: new VerifiedProducts({ backend: undefined, repetitions: 1, onFailure: 'abort' }), stream: new SeededStream(SeededStream.keyOfSeed(1)), bits: { activation: 12, weight: 12, gradient: 12 } });

/** n standard normals from a generator seeded with `seed`, call after call. */
export function normalsFrom(seed: number): (n: number) => Float64Array {
  const rng = new Rng(seed);
  return (n) => Float64Array.from({ length: n }, () => rng.normal());
}

export const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);
const maxAbs = (a: Float64Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** got = want within `relative` of want's largest magnitude. */
export function close(got: Float64Array, want: Float64Array, relative: number, what: string): void {
  assert.equal(got.length, want.length, what);
  const tol = relative * maxAbs(want) + 1e-9;
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= tol, `${what}[${i}]: ${v} vs ${want[i]} (tolerance ${tol})`));
}

/** ∂(Σ f(x)·r)/∂x[i] by central differences. */
export async function numericGradient(f: (x: Float64Array) => Promise<Float64Array> | Float64Array, x: Float64Array, r: Float64Array, eps: number): Promise<Float64Array> {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const hi = Float64Array.from(x);
    const lo = Float64Array.from(x);
    hi[i] += eps;
    lo[i] -= eps;
    g[i] = (dot(await f(hi), r) - dot(await f(lo), r)) / (2 * eps);
  }
  return g;
}
