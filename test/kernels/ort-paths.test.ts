/**
 * Every exact path of the ort kernels, forced one by one (where this CPU's probe lets it be forced):
 * the accelerator conformance suite on the embedded accelerator (a worker thread) over that path.
 * Every mode and the cheating suite through each path are in ort-paths.slow.ts.
 */
import assert from 'node:assert/strict';
import { WorkerBackend } from '../../src/accel/worker/client.js';
import { ORT_KERNEL_PATHS, type OrtKernelPath } from '../../src/kernels/ort-exact.js';
import { ortPathSkipReasons } from '../helpers/ort-paths.js';
import { backendConformance } from '../accel/conformance.js';

/** Which paths this CPU's probes allow, decided before the suites are declared. */
const ortPathSkipReason = await ortPathSkipReasons();

/** The embedded accelerator (a worker thread on the 'ort' kernels) with SLALOM_ORT_KERNEL = path, which the worker's copy of the environment keeps. */
async function workerOn(path: OrtKernelPath): Promise<WorkerBackend> {
  const saved = process.env['SLALOM_ORT_KERNEL'];
  process.env['SLALOM_ORT_KERNEL'] = path;
  try {
    const w = new WorkerBackend();
    await w.init();
    assert.match(w.device ?? '', new RegExp(`ort kernels \\(${path}: `));
    return w;
  } finally {
    if (saved === undefined) delete process.env['SLALOM_ORT_KERNEL'];
    else process.env['SLALOM_ORT_KERNEL'] = saved;
  }
}

for (const path of ORT_KERNEL_PATHS) backendConformance(`the embedded accelerator on the ort ${path} path`, () => workerOn(path), { skip: ortPathSkipReason(path) });

