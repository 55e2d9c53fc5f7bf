/**
 * Child program of the pad pool's kill test (pad-pool.test.ts): opens a memory pool on the
 * synthetic graph and uses its pads forever, appending each pad's fingerprint (SHA-256 of its
 * first layer's r) to an audit log, fsynced, before the pad would blind anything. Prints `ready`
 * once its first pad is made; the parent SIGKILLs it at random instants after and starts it again.
 *
 *     node --import tsx test/runtime/pad-pool-child.ts <auditLog>
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { PadPool } from '../../src/runtime/pad-pool.js';
import { u8 } from '../../src/simd/arena.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { syntheticGraph } from '../blind/crash-harness.js';

const [auditLog] = process.argv.slice(2);
if (auditLog === undefined) {
  process.stderr.write('usage: pad-pool-child.ts <auditLog>\n');
  process.exit(2);
}
const q = syntheticGraph();
const pool = PadPool.open(q, { capacity: 2, kernels: 'js', idleMs: 0 });
const log = openSync(auditLog, 'a');
// Ready once the pool's thread has made a pad: the parent kills at random instants from there on.
await pool.filled(1);
process.stdout.write('ready\n');
const first = q.layers[0]!;
for (;;) {
  const lease = await pool.acquire();
  const r = lease.keystream(first);
  const fingerprint = createHash('sha256').update(u8(r, 3 * sizeOf(first.inDims))).digest('hex');
  writeSync(log, `used ${lease.index} ${fingerprint}\n`);
  fsyncSync(log);
  lease.end();
}
closeSync(log);
