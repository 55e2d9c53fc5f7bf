/**
 * Runs a suite once per implementation of the boundary pass (src/simd/boundary.ts), as tfjs runs
 * one suite against every backend: the WebAssembly module and the native addon's paths (AVX-512,
 * AVX2, portable C). A path this machine cannot run (no addon, a CPU without the instructions) is
 * skipped with the reason; the WebAssembly one always runs.
 */
import { after, before, describe } from 'node:test';
import { BOUNDARY_IMPLEMENTATIONS, boundaryImplementation, useBoundaryImplementation, type BoundaryImplementation } from '../../src/simd/boundary.js';
import { nativeBest, nativeUnavailable, NATIVE_PATHS, type NativePath } from '../../src/simd/native.js';

/** Why `name` cannot run here ('' when it can). */
export function unavailable(name: BoundaryImplementation): string {
  if (name === 'wasm') return '';
  const missing = nativeUnavailable();
  if (missing !== '') return `the native addon did not load: ${missing}`;
  const path = name.slice('native-'.length) as NativePath;
  const best = nativeBest()!;
  return NATIVE_PATHS.indexOf(path) < NATIVE_PATHS.indexOf(best) ? `this CPU lacks ${path}` : '';
}

/** `describe(title, body)` once per implementation, with that implementation in use. */
export function describeEachBoundary(title: string, body: (name: BoundaryImplementation) => void): void {
  for (const name of BOUNDARY_IMPLEMENTATIONS) {
    const skip = unavailable(name);
    describe(`${title} [${name}]`, skip === '' ? {} : { skip }, () => {
      let previous: BoundaryImplementation;
      before(() => {
        previous = boundaryImplementation();
        useBoundaryImplementation(name);
      });
      after(() => {
        useBoundaryImplementation(previous);
      });
      body(name);
    });
  }
}
