/**
 * train/checkpoint.ts: a checkpoint is written atomically (no temporary file left behind) and read
 * back exactly; a file that is not a whole, well-formed checkpoint of the expected tensors is refused
 * with a one-line InvalidArgumentError, never half-restored.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CHECKPOINT_FILE, CHECKPOINT_FORMAT, encodeF64, readCheckpoint, restoreInto, writeCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'slalom-ck-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const hex = (c: string): string => c.repeat(64);
const good: Checkpoint = {
  format: CHECKPOINT_FORMAT,
  step: 3,
  key: hex('1'),
  hyperparametersHash: hex('a'),
  dataHash: hex('b'),
  initialModelHash: hex('c'),
  counters: { products: 42, chunks: 99, worstStepSoundnessLog2: -41.5, incidents: ['step 1: SLALOM_ERR_INTEGRITY@fc forward [0]'] },
  model: { 'fc.weight': encodeF64(Float64Array.of(1.5, -0, 2 ** -1074)) },
  optimizer: { 'fc.weight.momentum': encodeF64(Float64Array.of(0.25, 0, 0)) },
};

test('written atomically and read back bit for bit', () => {
  writeCheckpoint(dir, good);
  writeCheckpoint(dir, { ...good, step: 4 });
  assert.deepEqual(readdirSync(dir), [CHECKPOINT_FILE]);
  const c = readCheckpoint(dir);
  assert.equal(c.step, 4);
  const w = new Float64Array(3);
  restoreInto(c.model, new Map([['fc.weight', w]]), 'model');
  assert.ok(Object.is(w[1], -0) && w[2] === 2 ** -1074 && w[0] === 1.5);
});

test('a malformed or foreign checkpoint is refused', () => {
  const cases: [string, unknown][] = [
    ['not JSON', '{"format":'],
    ['another format', { ...good, format: 'other/1' }],
    ['a negative step', { ...good, step: -1 }],
    ['a short key', { ...good, key: '00' }],
    ['bad counters', { ...good, counters: { ...good.counters, incidents: [1] } }],
    ['no model state', { ...good, model: null }],
  ];
  for (const [why, value] of cases) {
    writeFileSync(join(dir, CHECKPOINT_FILE), typeof value === 'string' ? value : JSON.stringify(value));
    assert.throws(() => readCheckpoint(dir), { code: 'SLALOM_ERR_INVALID_ARG' }, why);
  }
  writeFileSync(join(dir, CHECKPOINT_FILE), JSON.stringify(good));
  const c = readCheckpoint(dir);
  const target = (n: number): Map<string, Float64Array> => new Map([['fc.weight', new Float64Array(n)]]);
  assert.throws(() => restoreInto(c.model, target(4), 'model'), /has 3 values, expected 4/);
  assert.throws(() => restoreInto(c.model, new Map([['conv1.weight', new Float64Array(3)]]), 'model'), /unexpected model tensor/);
  assert.throws(() => restoreInto({ 'fc.weight': encodeF64(Float64Array.of(1, NaN, 2)) }, target(3), 'model'), /not finite/);
  const first = new Float64Array(3);
  assert.throws(() => restoreInto({ a: encodeF64(Float64Array.of(1, 2, 3)), b: encodeF64(Float64Array.of(1)) }, new Map([['a', first], ['b', new Float64Array(2)]]), 'model'));
  assert.deepEqual(first, new Float64Array(3), 'nothing restored from a checkpoint that fails');
  assert.ok(readFileSync(join(dir, CHECKPOINT_FILE), 'utf8').includes(CHECKPOINT_FORMAT));
});
