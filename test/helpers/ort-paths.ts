/**
 * Test helper: OrtExactKernels with each exact path forced in turn, for the suites that must hold
 * through every path. A path whose start-up probe fails on this CPU (an integer kernel that is not
 * exact here) cannot be forced: it is left out and named, so a test can say what it skipped; float64
 * is always there. 'auto' must have chosen the first path, in ORT_KERNEL_PATHS order, that opened.
 */
import assert from 'node:assert/strict';
import { ORT_KERNEL_PATHS, OrtExactKernels, type OrtExactOptions, type OrtKernelPath } from '../../src/kernels/ort-exact.js';

export interface OrtPaths {
  readonly auto: OrtExactKernels;
  /** The forced kernels, in ORT_KERNEL_PATHS order. */
  readonly forced: Map<OrtKernelPath, OrtExactKernels>;
  /** Paths whose probe failed on this CPU. */
  readonly unavailable: OrtKernelPath[];
}

/** The kernel paths this CPU allows, each forced; `options` per path (e.g. threads). */
export async function openOrtPaths(options: Partial<Record<OrtKernelPath, OrtExactOptions>> = {}): Promise<OrtPaths> {
  const auto = await OrtExactKernels.create();
  const forced = new Map<OrtKernelPath, OrtExactKernels>();
  const unavailable: OrtKernelPath[] = [];
  for (const path of ORT_KERNEL_PATHS) {
    try {
      forced.set(path, await OrtExactKernels.create({ ...options[path], path }));
    } catch (e) {
      if (!(e instanceof Error && /not exact on this CPU/.test(e.message))) throw e;
      unavailable.push(path);
    }
  }
  assert.ok(forced.has('f64'), 'the float64 path needs no probe');
  assert.equal(auto.path, [...forced.keys()][0], "'auto' takes the first path whose probe passes");
  return { auto, forced, unavailable };
}

/**
 * The skip reason of each path (false when its probe passes on this CPU), for suites declared once
 * per path: await it at the top level, before declaring them.
 */
export async function ortPathSkipReasons(): Promise<(path: OrtKernelPath) => string | false> {
  const available = new Map<OrtKernelPath, boolean>();
  for (const path of ORT_KERNEL_PATHS) {
    try {
      await (await OrtExactKernels.create({ path })).close();
      available.set(path, true);
    } catch {
      available.set(path, false);
    }
  }
  return (path) => (available.get(path) ? false : `the ${path} probe fails on this CPU`);
}
