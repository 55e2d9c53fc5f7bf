/**
 * Test helper: whether this machine has a WebGPU adapter, and which one the tests use.
 *
 * The tests take `SLALOM_TEST_WEBGPU_ADAPTER` (default `auto`: a GPU if there is one, else Mesa's
 * llvmpipe through Dawn's OpenGL ES backend). Where no adapter exists (no GPU, Mesa not installed)
 * the WebGPU tests skip with the reason — unless `SLALOM_REQUIRE_WEBGPU=1` (set by .ci/run), which
 * turns the missing adapter into a failure, so CI can never pass by skipping them.
 */
import { preferSurfacelessEgl, type AdapterChoice } from '../../src/accel/webgpu/device.js';
import { WebGpuEngine } from '../../src/accel/webgpu/engine.js';

export const TEST_ADAPTER = (process.env.SLALOM_TEST_WEBGPU_ADAPTER ?? 'auto') as AdapterChoice;

let probe: Promise<string | false> | undefined;

/** false when an adapter opens; otherwise the reason to skip (or a throw under SLALOM_REQUIRE_WEBGPU=1). */
export function webgpuSkipReason(): Promise<string | false> {
  probe ??= (async () => {
    if (TEST_ADAPTER !== 'gpu') preferSurfacelessEgl();
    try {
      const engine = await WebGpuEngine.open({ adapter: TEST_ADAPTER });
      await engine.close();
      return false;
    } catch (e) {
      const reason = `no WebGPU adapter (${TEST_ADAPTER}): ${(e as Error).message}`;
      if (process.env.SLALOM_REQUIRE_WEBGPU === '1') throw new Error(`SLALOM_REQUIRE_WEBGPU=1 but ${reason}`);
      return reason;
    }
  })();
  return probe;
}
