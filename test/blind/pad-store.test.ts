/**
 * The untrusted pad store under attack (src/blind/pad-store.ts, online.ts, boundary/accept.ts,
 * docs/design.md §4), at the file level, on a real store filled by precomputePads for a tiny model and
 * consumed by real inferences in mode `private`:
 * - a byte flipped anywhere (every header byte and many random positions), truncation, appended
 *   bytes, two pad files swapped, a pad file from another model's store, a record of another layer
 *   or another pad spliced in, a deleted pad file: each inference fails with PadAuthError, the pad it
 *   took is consumed for good, and the next inference takes the next index (named from what the
 *   accelerator saw) and matches the baseline;
 * - restoring an old copy of the store after consumption (replay) rolls nothing back: the ledger
 *   keeps counting, the replayed pads are never used again, one moved to a fresh index is refused;
 * - trusted-state files are 0600 in 0700 directories, and the store holds no key material nor any
 *   plaintext r or u.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { padVector } from '../../src/blind/keystream.js';
import { blindWith } from '../helpers/pad-lease.js';
import { decodePad, encodePad } from '../../src/blind/pad-format.js';
import { buildPad, type LedgerSecrets } from '../../src/blind/precompute.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { InvalidArgumentError, PadAuthError, PadReuseError, PadsExhaustedError } from '../../src/errors.js';
import type { AcceleratedProtocol } from '../../src/runtime/protocols/accelerated.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { openPads, openProtocol } from '../../src/runtime/session.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { jsKernels } from '../../src/kernels/exact-linear.js';
import { computeLayerExactly } from '../../src/quant/exact-layer.js';
import type { QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { openStore } from '../../src/runtime/precompute.js';
import type { StoreLedger } from '../../src/blind/ledger.js';
import { fillPads, normalInputs, padIndexOf, RecordingBackend, storeSecrets, tempDir, TINY_DIMS, tinyModelBytes } from './blind-helpers.js';

let root: string;
let stateDir: string;
let storeA: string;
let storeB: string;
let modelA: SlalomModel;
let modelB: SlalomModel;
let state: TrustedState;
let ledgerA: StoreLedger;
let secretsA: LedgerSecrets;
let secretsB: LedgerSecrets;
let rec: RecordingBackend;
let protocol: AcceleratedProtocol;
let input: Tensor;
let baseline: Float64Array;

const PADS = 420;
const padPath = (store: string, i: number): string => join(store, 'pads', `${i}.pad`);
/** Store A's counters: one range [0, PADS) consumed in order, so `consumed` is also the next index. */
const ledger = (): { generated: number; consumed: number } => {
  const { generated, consumed } = ledgerA.inventory();
  return { generated, consumed };
};

/** Outcome of one private inference. */
interface Attempt {
  readonly ok: boolean;
  readonly error?: unknown;
  /** The pad the ledger handed out (consumed before − after). */
  readonly taken: number;
  /** The pad the accelerator's first-layer input was blinded with, if anything was sent. */
  readonly seen?: number;
}

async function attempt(): Promise<Attempt> {
  const before = ledger().consumed;
  const sentBefore = rec.seen.length;
  let ok = true;
  let error: unknown;
  try {
    const r = await modelA.infer(input, { mode: 'private', protocol });
    assert.deepEqual([...r.logits], [...baseline], 'private logits differ from the baseline');
  } catch (e) {
    ok = false;
    error = e;
  }
  const after = ledger().consumed;
  assert.equal(after, before + 1, 'each inference consumes exactly one pad');
  const first = rec.seen.slice(sentBefore).find((s) => s.layerId === 0);
  const seen = first === undefined ? undefined : padIndexOf(modelA, secretsA.padKey, input, first.x, ledger().generated);
  if (first !== undefined) assert.equal(seen, before, 'the accelerator saw an input blinded with the pad the ledger handed out');
  return { ok, error, taken: before, seen };
}

const stats = { tampered: 0, rejected: 0, usedAgain: 0 };
const usedIndices: number[] = [];
const failedIndices = new Set<number>();
let lastTaken = -1;

/**
 * Tampers with the next pad's file and runs one inference (must fail, consuming that pad); then, unless
 * `thenGood` is false, one more (must succeed on the very next index).
 */
async function expectRejected(what: string, tamper: (next: number) => void, thenGood = true): Promise<void> {
  const next = ledger().consumed;
  assert.ok(next > lastTaken, 'the ledger only moves forward');
  tamper(next);
  const bad = await attempt();
  stats.tampered++;
  assert.equal(bad.ok, false, `${what}: the inference succeeded`);
  assert.ok(bad.error instanceof PadAuthError, `${what}: expected PadAuthError, got ${String(bad.error)}`);
  assert.equal((bad.error as PadAuthError).code, 'SLALOM_ERR_PAD_AUTH');
  stats.rejected++;
  assert.equal(bad.taken, next);
  failedIndices.add(bad.taken);
  lastTaken = bad.taken;
  if (thenGood) assert.equal(await expectGood(`${what} (the inference after)`), next + 1);
}

async function expectGood(what: string): Promise<number> {
  const good = await attempt();
  assert.equal(good.ok, true, `${what}: ${String(good.error)}`);
  assert.equal(good.seen, good.taken);
  if (failedIndices.has(good.taken) || usedIndices.includes(good.taken)) stats.usedAgain++;
  usedIndices.push(good.taken);
  lastTaken = good.taken;
  return good.taken;
}

function mutate(i: number, f: (bytes: Buffer) => Buffer): void {
  writeFileSync(padPath(storeA, i), f(readFileSync(padPath(storeA, i))));
}

before(async () => {
  root = tempDir('padstore');
  stateDir = join(root, 'state');
  storeA = join(root, 'store-a');
  storeB = join(root, 'store-b');
  const calibration = normalInputs(TINY_DIMS, 1, 6);
  modelA = await SlalomModel.load(tinyModelBytes(11), { calibration });
  modelB = await SlalomModel.load(tinyModelBytes(12), { calibration });
  assert.notEqual(modelA.weightsHash, modelB.weightsHash);
  await fillPads(modelA, stateDir, storeA, PADS);
  await fillPads(modelB, stateDir, storeB, 10);
  state = TrustedState.open(stateDir);
  ({ ledger: ledgerA, secrets: secretsA } = openStore(state, new PadStore(storeA), modelA));
  secretsB = storeSecrets(modelB, stateDir, storeB);
  rec = new RecordingBackend();
  protocol = (await openProtocol(modelA, 'private', { accelerator: rec, kernels: 'js', pads: { store: storeA, stateDir } })) as AcceleratedProtocol;
  [input] = normalInputs(TINY_DIMS, 2, 1) as [Tensor];
  baseline = (await modelA.infer(input)).logits;
});

after(async () => {
  await protocol?.close?.();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe('pad store tampering (tiny model, mode private)', () => {
  it('the store is what precompute wrote: one file per pad, three records, layers 0 and 1 of equal size', async () => {
    assert.deepEqual(ledger(), { generated: PADS, consumed: 0 });
    assert.equal(readdirSync(join(storeA, 'pads')).filter((n) => n.endsWith('.pad')).length, PADS);
    const records = decodePad(readFileSync(padPath(storeA, 0)), 0);
    assert.deepEqual(records.map((r) => [r.layer, r.count]), [[0, 256], [1, 256], [2, 10]]);
    assert.equal(await expectGood('untampered'), 0);
  });

  it('a byte flipped anywhere in a pad file: every header byte and 120 random positions', async (t) => {
    const size = readFileSync(padPath(storeA, ledger().consumed)).length;
    const records = decodePad(readFileSync(padPath(storeA, ledger().consumed)), 0);
    // Header bytes: magic + record count (12), and each record's 40-byte header.
    const positions: number[] = Array.from({ length: 12 }, (_, k) => k);
    let off = 12;
    for (const r of records) {
      for (let k = 0; k < 40; k++) positions.push(off + k);
      off += 40 + r.ciphertext.length;
    }
    let s = 987_654_321;
    const rand = (m: number): number => {
      s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
      return s % m;
    };
    for (let k = 0; k < 120; k++) positions.push(rand(size));
    // Every third tampered inference is followed by a good one on the next index (the pads are slow to make).
    for (const [n, pos] of positions.entries()) {
      const xor = 1 + rand(255);
      await expectRejected(`byte ${pos} ^ ${xor}`, (i) => mutate(i, (b) => ((b[pos]! ^= xor), b)), n % 3 === 2);
    }
    t.diagnostic(`${positions.length} single-byte flips (file of ${size} bytes): all rejected`);
  });

  it('truncation at any length', async () => {
    const size = readFileSync(padPath(storeA, ledger().consumed)).length;
    for (const n of [0, 1, 7, 8, 11, 12, 13, 51, 52, 53, 100, size >> 1, size - 16, size - 3, size - 1]) {
      await expectRejected(`truncated to ${n}`, (i) => mutate(i, (b) => b.subarray(0, n)));
    }
  });

  it('appended bytes, and an appended extra record', async () => {
    for (const extra of [1, 3, 16, 40]) {
      await expectRejected(`${extra} bytes appended`, (i) => mutate(i, (b) => Buffer.concat([b, Buffer.alloc(extra, 0xa5)])));
    }
    await expectRejected('a copy of the last record appended, record count raised', (i) =>
      mutate(i, (b) => {
        const records = decodePad(b, i);
        return Buffer.from(encodePad([...records, records[records.length - 1]!]));
      }),
    );
    await expectRejected('the next pad appended', (i) => mutate(i, (b) => Buffer.concat([b, readFileSync(padPath(storeA, i + 1))])));
  });

  it('two pad files swapped: both refused, the one after works', async () => {
    const i = ledger().consumed;
    const tmp = `${padPath(storeA, i)}.swap`;
    renameSync(padPath(storeA, i), tmp);
    renameSync(padPath(storeA, i + 1), padPath(storeA, i));
    renameSync(tmp, padPath(storeA, i + 1));
    for (const k of [i, i + 1]) {
      const bad = await attempt();
      assert.equal(bad.taken, k);
      assert.ok(bad.error instanceof PadAuthError, String(bad.error));
      stats.tampered++;
      stats.rejected++;
      failedIndices.add(k);
    }
    assert.equal(await expectGood('after the swap'), i + 2);
  });

  it("a pad file from another model's store (same key, same shapes, even the same index)", async () => {
    await expectRejected("model B's pad 0 from its store", (n) => writeFileSync(padPath(storeA, n), readFileSync(padPath(storeB, 0))));
    // Same index: only the ledger (weights hash, store identity) tells them apart.
    const kernels = jsKernels();
    const i = ledger().consumed;
    const sameIndex = await buildPad(modelB.quantized, secretsB, i, kernels);
    await kernels.close();
    await expectRejected("model B's pad of the same index", (n) => (assert.equal(n, i), writeFileSync(padPath(storeA, n), sameIndex)));
  });

  it('a pad of the same model and index from a second store of the same trusted state (issue 11: the store identity is bound)', async () => {
    const storeA2 = join(root, 'store-a2');
    await fillPads(modelA, stateDir, storeA2, 1);
    const secretsA2 = storeSecrets(modelA, stateDir, storeA2);
    assert.notEqual(secretsA2.storeId, secretsA.storeId);
    const kernels = jsKernels();
    const i = ledger().consumed;
    const other = await buildPad(modelA.quantized, secretsA2, i, kernels);
    await kernels.close();
    await expectRejected("store A2's pad of the same model and index", (n) => (assert.equal(n, i), writeFileSync(padPath(storeA, n), other)));
  });

  it('a record of another layer or of another pad spliced in', async () => {
    await expectRejected("layer 0's record relabelled as layer 1", (i) =>
      mutate(i, (b) => {
        const [r0, , r2] = decodePad(b, i);
        return Buffer.from(encodePad([r0!, { ...r0!, layer: 1 }, r2!]));
      }),
    );
    await expectRejected("layer 0's record twice (layer 1 missing)", (i) =>
      mutate(i, (b) => {
        const [r0, , r2] = decodePad(b, i);
        return Buffer.from(encodePad([r0!, r0!, r2!]));
      }),
    );
    await expectRejected("layer 1's record taken from the next pad", (i) =>
      mutate(i, (b) => {
        const mine = decodePad(b, i);
        const theirs = decodePad(readFileSync(padPath(storeA, i + 1)), i + 1);
        return Buffer.from(encodePad([mine[0]!, theirs[1]!, mine[2]!]));
      }),
    );
    await expectRejected('nonce and tag of layer 2 swapped with those of the next pad', (i) =>
      mutate(i, (b) => {
        const mine = decodePad(b, i);
        const theirs = decodePad(readFileSync(padPath(storeA, i + 1)), i + 1);
        return Buffer.from(encodePad([mine[0]!, mine[1]!, { ...mine[2]!, nonce: theirs[2]!.nonce, tag: theirs[2]!.tag }]));
      }),
    );
  });

  it('a deleted pad file is skipped, never retried (issue 11: nothing consumed before the store is known to hold the pad)', async () => {
    const i = ledger().consumed;
    unlinkSync(padPath(storeA, i));
    const r = await modelA.infer(input, { mode: 'private', protocol });
    assert.deepEqual([...r.logits], [...baseline]);
    assert.equal(ledger().consumed, i + 2, 'the missing pad is consumed as lost, the next one used');
    assert.deepEqual(protocol.pads!.skipped, [i]);
    const first = rec.seen[rec.seen.length - modelA.quantized.layers.length]!;
    assert.equal(padIndexOf(modelA, secretsA.padKey, input, first.x, ledger().generated), i + 1);
    assert.ok(protocol.incidents.some((x) => x.message.includes(`pad ${i}`)), 'the skip is reported');
    failedIndices.add(i);
    usedIndices.push(i + 1);
    lastTaken = i + 1;
  });

  it('an old copy of the store restored after consumption (replay) rolls nothing back', async () => {
    const snapshot = join(root, 'store-a-snapshot');
    cpSync(storeA, snapshot, { recursive: true });
    const start = ledger().consumed;
    for (let k = 0; k < 3; k++) assert.equal(await expectGood(`before the replay, ${k}`), start + k);
    // The attacker restores the old store: pads start…start+2 reappear.
    rmSync(storeA, { recursive: true, force: true });
    cpSync(snapshot, storeA, { recursive: true });
    for (let k = 0; k < 3; k++) assert.ok(readFileSync(padPath(storeA, start + k)).length > 0, 'the replayed files are back');
    assert.deepEqual(ledger(), { generated: PADS, consumed: start + 3 }, 'the ledger did not roll back');
    assert.equal(await expectGood('after the replay'), start + 3, 'the next inference takes the next index, not a replayed one');
    // A replayed, already used pad moved to the next index is refused (its binding names its own index).
    await expectRejected('an old, used pad renamed to the next index', (i) => writeFileSync(padPath(storeA, i), readFileSync(join(snapshot, 'pads', `${start}.pad`))));
    // And the replayed files of consumed indices are never read again.
    const consumed = ledger().consumed;
    for (let k = 0; k < 3; k++) assert.ok(start + k < consumed, `replayed pad ${start + k} is below the consumed mark ${consumed}`);
  });

  it('no pad was used twice, and no refused pad was used afterwards', (t) => {
    t.diagnostic(`tampered pads ${stats.tampered}, rejected ${stats.rejected} (${((100 * stats.rejected) / stats.tampered).toFixed(1)} %), good inferences ${usedIndices.length}, reuses ${stats.usedAgain}`);
    assert.equal(stats.rejected, stats.tampered);
    assert.equal(stats.usedAgain, 0);
    assert.equal(new Set(usedIndices).size, usedIndices.length);
    for (const i of usedIndices) assert.ok(!failedIndices.has(i), `refused pad ${i} was used later`);
    const { consumed, generated } = ledger();
    assert.ok(consumed <= generated, `consumed ${consumed} > generated ${generated}`);
    assert.equal(consumed, usedIndices.length + failedIndices.size);
  });
});

describe('trusted state and the store are kept apart', () => {
  it('trusted-state files are 0600 in 0700 directories, and nothing is left locked', () => {
    const mode = (p: string): number => statSync(p).mode & 0o777;
    assert.equal(mode(stateDir), 0o700);
    assert.equal(mode(join(stateDir, 'ledger')), 0o700);
    assert.equal(mode(join(stateDir, 'keys.json')), 0o600);
    for (const name of readdirSync(join(stateDir, 'ledger'))) {
      assert.match(name, /^[0-9a-f]{32}\.json$/, `unexpected file ${name} in the ledger`);
      assert.equal(mode(join(stateDir, 'ledger', name)), 0o600, name);
    }
  });

  it('loose modes on an existing state directory are tightened on open', () => {
    const dir = join(root, 'loose-state');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    TrustedState.open(dir);
    chmodSync(join(dir, 'keys.json'), 0o644);
    TrustedState.open(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'keys.json')).mode & 0o777, 0o600);
  });

  it('the store holds no key material and no plaintext r or u', () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk(join(d, e.name)) : files.push(join(d, e.name)));
    };
    walk(storeA);
    walk(storeB);
    walk(join(root, 'store-a-snapshot'));
    assert.ok(files.length > 30, `only ${files.length} files in the stores`);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    const master = Buffer.from((JSON.parse(readFileSync(join(stateDir, 'keys.json'), 'utf8')) as { masterKey: string }).masterKey, 'base64');
    assert.equal(master.length, 32);
    const secrets: [string, Buffer][] = [];
    for (const [name, key] of [
      ['master key', master],
      ['pad key', Buffer.from(secretsA.padKey)],
      ['seal key', Buffer.from(secretsA.sealKey)],
    ] as const) {
      secrets.push([`${name} (raw)`, key], [`${name} (first 12 bytes)`, key.subarray(0, 12)], [`${name} (last 12 bytes)`, key.subarray(20)]);
      for (const enc of ['hex', 'base64', 'base64url'] as const) {
        secrets.push([`${name} (${enc})`, Buffer.from(key.toString(enc))], [`${name} (${enc}, upper)`, Buffer.from(key.toString(enc).toUpperCase())]);
      }
    }
    // Plaintext r and u of a pad still in the store, packed the way a careless format would.
    const i = ledger().consumed;
    const layer = modelA.quantized.layers[1]!;
    const r = Float64Array.from(padVector(secretsA.padKey, i, 1, 256));
    const u = Float64Array.from(computeLayerExactly(layer, Uint32Array.from(r)));
    const pack = (v: Float64Array): Buffer => {
      const b = Buffer.alloc(3 * 8);
      for (let k = 0; k < 8; k++) b.writeUIntLE(v[k]!, 3 * k, 3);
      return b;
    };
    secrets.push(['r (3-byte packed)', pack(r)], ['u (3-byte packed)', pack(u)], ['r (float64)', Buffer.from(r.buffer, 0, 64)], ['u (float64)', Buffer.from(u.buffer, 0, 64)]);
    for (const [what, needle] of secrets) assert.equal(bytes.indexOf(needle), -1, `${what} found in the store`);
  });
});

describe('OnlinePads hands each r out once', () => {
  it('a second input of the same layer under one pad is refused; after the pads run out nothing is blinded', async () => {
    const dir = join(root, 'once');
    await fillPads(modelA, join(dir, 'state'), join(dir, 'store'), 1);
    const pads = openPads(modelA, { store: join(dir, 'store'), stateDir: join(dir, 'state') });
    const [l0, l1] = modelA.quantized.layers as [QuantizedLayer, QuantizedLayer];
    const x = new Float64Array(256).fill(5);
    const lease = pads.begin();
    assert.equal(lease.index, 0);
    blindWith(lease, l0, x);
    assert.throws(() => blindWith(lease, l0, new Float64Array(256)), (e: unknown) => e instanceof PadReuseError && e.code === 'SLALOM_ERR_PAD_REUSED');
    blindWith(lease, l1, x);
    lease.end();
    // No lease comes out of an exhausted begin(): nothing can be blinded with the last pad again.
    assert.throws(() => pads.begin(), PadsExhaustedError);
  });
});

describe('temporary files of writers killed mid-write', () => {
  it('are removed when the store or the trusted state opens, only if their writer is gone', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its pid names no live process
    const storeDir = tempDir('stale-store');
    const stateDir = tempDir('stale-state');
    mkdirSync(join(storeDir, 'pads'), { recursive: true });
    mkdirSync(join(stateDir, 'ledger'), { recursive: true });
    const stale = [join(storeDir, 'pads', `7.pad.tmp-${dead}`), join(storeDir, `manifest.json.tmp-${dead}`), join(stateDir, 'ledger', `counters.json.tmp-${dead}`)];
    const live = [join(storeDir, 'pads', `8.pad.tmp-${process.pid}`), join(stateDir, `keys.json.tmp-1`)]; // this process; init
    for (const f of [...stale, ...live]) writeFileSync(f, 'partial');
    new PadStore(storeDir);
    TrustedState.open(stateDir);
    for (const f of stale) assert.throws(() => statSync(f), /ENOENT/, `${f} should be gone`);
    for (const f of live) assert.ok(statSync(f).isFile(), `${f} should stay`);
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });
});
