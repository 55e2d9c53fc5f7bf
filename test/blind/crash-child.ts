/**
 * Child program of the crash test (crash.test.ts, scripts/soak-pads.ts): an endless loop that the
 * parent SIGKILLs at a random instant.
 *
 *     node --import tsx test/blind/crash-child.ts <precompute|consume> <stateDir> <storeDir> <auditLog>
 *
 * - precompute: precomputePads on the synthetic graph, forever;
 * - consume: OnlinePads.begin(), then `used <index>` appended to the audit log and fsynced right
 *   after begin() returns — before any blinded value would leave — then per layer: blind a random x,
 *   "send" it (the accelerator's f(x + r) computed here), unseal u and check z − u = f(x). A wrong
 *   result or a refused pad is written to the log (`bad …`, `autherr …`) and ends the child with
 *   status 3, which the parent reports. Running out of pads just waits.
 *
 * Prints `ready` once set up (the SIMD module compiled, so that kills land in the work itself, not in
 * its start-up). Loads no ONNX and no onnxruntime, to start fast.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { PadAuthError, PadsExhaustedError } from '../../src/errors.js';
import { subMod } from '../../src/field/modp.js';
import { P } from '../../src/field/prime.js';
import { residuesBelowP } from '../../src/simd/residues.js';
import { OnlinePads } from '../../src/runtime/online-pads.js';
import { precomputePads } from '../../src/runtime/precompute.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { blindWith, unsealWith } from '../helpers/pad-lease.js';
import type { PadLease } from '../../src/runtime/pad-lease.js';
import { CRASH_MODEL, exactLayer, plainKernels, syntheticGraph } from './crash-harness.js';

const [mode, stateDir, storeDir, auditLog] = process.argv.slice(2);
if ((mode !== 'precompute' && mode !== 'consume') || stateDir === undefined || storeDir === undefined || auditLog === undefined) {
  process.stderr.write('usage: crash-child.ts <precompute|consume> <stateDir> <storeDir> <auditLog>\n');
  process.exit(2);
}

const q = syntheticGraph();
const state = TrustedState.open(stateDir);
const store = new PadStore(storeDir);
const log = openSync(auditLog, 'a');

/** Appends one line to the audit log and makes it durable. */
function audit(line: string): void {
  writeSync(log, `${line}\n`);
  fsyncSync(log);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

residuesBelowP(new Uint32Array(4)); // compiles the SIMD module now
process.stdout.write('ready\n');

if (mode === 'precompute') {
  for (;;) await precomputePads(q, CRASH_MODEL, state, store, 1_000_000, plainKernels);
} else {
  const pads = new OnlinePads(q, CRASH_MODEL.weightsHash, state, store);
  for (;;) {
    let lease: PadLease;
    try {
      lease = pads.begin();
    } catch (e) {
      if (e instanceof PadsExhaustedError) {
        await sleep(2);
        continue;
      }
      if (e instanceof PadAuthError) {
        audit(`autherr ${e.message}`);
        closeSync(log);
        process.exit(3);
      }
      throw e;
    }
    const index = lease.index;
    audit(`used ${index}`);
    for (const layer of q.layers) {
      const x = Float64Array.from({ length: sizeOf(layer.inDims) }, () => Math.floor(Math.random() * P));
      const sent = blindWith(lease, layer, x); // this is what would leave the trusted runtime
      const z = exactLayer(layer, sent); // the accelerator's answer
      let u: Float64Array;
      try {
        u = unsealWith(lease, layer);
      } catch (e) {
        audit(`autherr ${(e as Error).message}`);
        closeSync(log);
        process.exit(3);
      }
      const y = subMod(z, u);
      const expected = exactLayer(layer, x);
      if (!y.every((v, k) => v === expected[k])) {
        audit(`bad ${index} layer ${layer.index}: z − u ≠ f(x)`);
        closeSync(log);
        process.exit(3);
      }
    }
  }
}
