/** Runs one input through a model in every mode and returns the logits per mode (shared by the fast and slow suites). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PadStore } from '../../src/blind/pad-store.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { createExactKernels } from '../../src/kernels/exact-linear.js';
import type { SlalomModel } from '../../src/runtime/model.js';
import { MODES } from '../../src/runtime/modes.js';
import { openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';

/**
 * Logits by mode; the private modes once with the sealed store and once more with the in-memory pad
 * pool (keys `private (memory)`, `private+verified (memory)`).
 */
export async function logitsInEveryMode(model: SlalomModel, input: Tensor): Promise<Map<string, Float64Array>> {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-modes-'));
  const stateDir = join(dir, 'state');
  const store = join(dir, 'store');
  const out = new Map<string, Float64Array>();
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
    for (const mode of ['private', 'private+verified'] as const) {
      const protocol = await openProtocol(model, mode, { pads: { source: 'memory', capacity: 1 } });
      try {
        out.set(`${mode} (memory)`, (await model.infer(input, { mode, protocol })).logits);
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
