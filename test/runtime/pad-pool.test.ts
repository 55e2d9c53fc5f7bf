/**
 * The in-memory pad pool (src/runtime/pad-pool.ts): every pad is right (u = f(r) for its r) and
 * handed out once — each lease its own index, each layer's r and u once per lease — two pools draw
 * unrelated pads (each its own ephemeral key), and a process killed at random instants and started
 * again never uses a pad twice (its pool dies with it; the next one has another key).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InvalidArgumentError, PadReuseError, PadsExhaustedError, TransportError } from '../../src/errors.js';
import { PadPool } from '../../src/runtime/pad-pool.js';
import { u8 } from '../../src/simd/arena.js';
import { sizeOf } from '../../src/tensor/tensor.js';
import { exactLayer, REPO_ROOT, syntheticGraph } from '../blind/crash-harness.js';
import { unpacked } from '../helpers/packed.js';

const q = syntheticGraph();

describe('the memory pad pool', () => {
  const pool = PadPool.open(q, { capacity: 3, kernels: 'js', idleMs: 0 });
  after(() => pool.close());

  it('gives right pads (u = f(r) on every layer), each index once, each layer\'s r and u once per lease', async () => {
    const seen = new Set<number>();
    const rs = new Set<string>();
    for (let k = 0; k < 8; k++) {
      const lease = await pool.acquire();
      assert.ok(!seen.has(lease.index), `pad ${lease.index} handed out twice`);
      seen.add(lease.index);
      for (const layer of q.layers) {
        const r = unpacked(u8(lease.keystream(layer), 3 * sizeOf(layer.inDims)));
        const u = unpacked(u8(lease.unblind(layer), 3 * sizeOf(layer.outDims)));
        assert.ok(r.every((v) => v < 16_777_213), 'r holds residues only');
        assert.deepEqual([...u], [...exactLayer(layer, r)], `pad ${lease.index}, ${layer.name}: u = f(r)`);
        rs.add(r.join(','));
        assert.throws(() => lease.keystream(layer), PadReuseError, 'a second input blinded with one r');
        assert.throws(() => lease.unblind(layer), InvalidArgumentError, 'u handed out twice');
      }
      lease.end();
      assert.throws(() => lease.keystream(q.layers[0]!), /given back|already blinded/);
    }
    assert.equal(rs.size, 8 * q.layers.length, 'every r differs');
  });

  it('a pool whose thread died says so, instead of "no pad ready" for ever', async () => {
    const lone = PadPool.open(q, { capacity: 1, kernels: 'js', idleMs: 60_000 });
    try {
      const lease = await lone.acquire();
      assert.throws(() => lone.begin(), PadsExhaustedError, 'merely empty: its refill waits for idle time');
      lease.end();
      await lone.filled();
      lone.begin().end();
      await (lone as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      assert.throws(() => lone.begin(), (e: unknown) => e instanceof TransportError && /pad pool's thread stopped/.test(e.message));
      await assert.rejects(lone.acquire(), TransportError);
    } finally {
      await lone.close();
    }
  });

  it('two pools draw unrelated pads (each its own key): the same index, other residues', async () => {
    const other = PadPool.open(q, { capacity: 1, kernels: 'js' });
    try {
      const a = await pool.acquire();
      const b = await other.acquire();
      const layer = q.layers[0]!;
      const ra = unpacked(u8(a.keystream(layer), 3 * sizeOf(layer.inDims)));
      const rb = unpacked(u8(b.keystream(layer), 3 * sizeOf(layer.inDims)));
      assert.ok(ra.filter((v, i) => v === rb[i]).length < 3, 'two pools share no keystream');
      a.end();
      b.end();
    } finally {
      await other.close();
    }
  });
});

describe('a process killed at random instants and started again', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-pool-kill-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('never uses a pad twice: its pool dies with it, and the next process draws other pads', async (t) => {
    const auditLog = join(dir, 'audit.log');
    // Each child draws its pool's key afresh, so a dozen kills show the next process never meets an old pad.
    const kills = 12;
    for (let k = 0; k < kills; k++) {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/runtime/pad-pool-child.ts', auditLog], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 20 + Math.random() * 300));
        child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the child exited on its own (${code})`))));
      });
    }
    const lines = readFileSync(auditLog, 'utf8').split('\n').filter((l) => l.startsWith('used '));
    const fingerprints = lines.map((l) => l.split(' ')[2]!);
    t.diagnostic(`${kills} kills, ${lines.length} pads used`);
    assert.ok(lines.length >= kills, `the children used only ${lines.length} pads`);
    assert.equal(new Set(fingerprints).size, fingerprints.length, 'a pad was used twice');
  });
});
