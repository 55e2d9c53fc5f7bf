/** Runs one input through a model in every mode and returns the logits per mode (shared by the fast and slow suites). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PadStore } from '../../src/blind/pad-store.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import type { SlalomModel } from '../../src/runtime/model.js';
import { MODES, type Mode } from '../../src/runtime/modes.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export async function logitsInEveryMode(model: SlalomModel, input: Tensor): Promise<Map<Mode, Float64Array>> {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-modes-'));
  const stateDir = join(dir, 'state');
  const store = join(dir, 'store');
  const out = new Map<Mode, Float64Array>();
  try {
    const kernels = await createExactKernels('ort');
    await precomputePads(model.quantized, model, TrustedState.open(stateDir), new PadStore(store), 2, kernels);
    await kernels.close();
    for (const mode of MODES) {
      const protocol = await openProtocol(model, mode, { pads: { store, stateDir } });
      try {
        out.set(mode, (await model.infer(input, { mode, protocol })).logits);
      } finally {
        await protocol.close?.();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Deterministic pseudo-random input in [-2, 2). */
export function syntheticInput(dims: readonly number[], seed = 7): Tensor {
  let s = seed >>> 0;
  const data = new Float64Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32) * 4 - 2;
  }
  return { dims: [...dims], data };
}
