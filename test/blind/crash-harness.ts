/**
 * The crash test's machinery, shared by test/blind/crash.test.ts, its child (crash-child.ts) and
 * scripts/soak-pads.ts (docs/design.md §4: "a crash at any instant cannot lead to reuse").
 *
 * - `syntheticGraph()`: a two-layer QuantizedGraph (a strided, padded Conv and a Gemm) built directly
 *   as QuantizedLayer objects — no ONNX, no onnxruntime — so a child starts in well under a second.
 * - `crashLoop()`: runs children of crash-child.ts (modes `precompute` and `consume`) two at a time on
 *   one trusted state and pad store, SIGKILLs each 5–150 ms after it reports ready, and respawns,
 *   phase by phase (both precompute; precompute + consume; both consume).
 * - `lockStampede()`: a lock left by a killed holder with several consumers waiting on it.
 * - `auditCrashState()`: no index in the audit log twice; every used index is spent in the store's
 *   ledger; consumed ≤ generated; every written, unused index of the ledger has a pad file that
 *   authenticates fully; every pad file that authenticates holds exactly u = f(r) for its
 *   (index, layer) — no authenticated-but-wrong pad.
 *
 * Imports nothing that loads onnxruntime (the child imports this file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { padVector } from '../../src/blind/keystream.js';
import { PadStore } from '../../src/blind/pad-store.js';
import { TrustedState } from '../../src/blind/trusted-state.js';
import { acceptPadFile, acceptPadRecord } from '../../src/boundary/accept.js';
import { release, u8 } from '../../src/simd/arena.js';
import { untrusted } from '../../src/boundary/untrusted.js';
import { convOutputDims } from '../../src/kernels/conv.js';
import type { ExactKernels } from '../../src/kernels/exact-linear.js';
import { convField, gemmField } from '../../src/kernels/field.js';
import type { ConvNodeAttrs } from '../../src/graph/ops/linear.js';
import type { QuantizedGraph, QuantizedLayer } from '../../src/quant/quantize-graph.js';
import { openStore, precomputePads } from '../../src/runtime/precompute.js';
import { sizeOf, tensor } from '../../src/tensor/tensor.js';
import { unpacked } from '../helpers/packed.js';

export const CRASH_MODEL = { name: 'crash-synthetic', weightsHash: createHash('sha256').update('slalom crash test synthetic graph v1').digest('hex') };

export const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Conv 2→3 (3×3, stride 2, pads 1) on [1,2,6,6] → [1,3,3,3]; Gemm 27→5. Small integer weights. */
export function syntheticGraph(): QuantizedGraph {
  let s = 0x5eed;
  const weight = (): number => {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    return (s % 61) - 30;
  };
  const conv: ConvNodeAttrs = { strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, kernel: [3, 3] };
  const convW = tensor([3, 2, 3, 3], Float64Array.from({ length: 54 }, weight));
  const convIn = [1, 2, 6, 6];
  const convOut = convOutputDims(convIn, convW.dims, conv);
  const gemmW = tensor([sizeOf(convOut), 5], Float64Array.from({ length: sizeOf(convOut) * 5 }, weight));
  const base = { lx: 8, lw: 8, weightRowL1: 0, maxAbsBias: 0, macs: 0, stats: {}, node: {} };
  const layers = [
    { ...base, index: 0, name: 'conv', op: 'Conv', conv, inDims: convIn, outDims: convOut, w: convW },
    { ...base, index: 1, name: 'fc', op: 'Gemm', inDims: [1, sizeOf(convOut)], outDims: [1, 5], w: gemmW },
  ] as unknown as QuantizedLayer[];
  return { graph: {} as QuantizedGraph['graph'], layers, byNode: new Map(layers.map((l) => [l.name, l])), margin: 4 };
}

/** f(x) mod p without bias, on the plain field kernels. */
export function exactLayer(layer: QuantizedLayer, x: Float64Array): Float64Array {
  const input = tensor(layer.inDims, x);
  return (layer.op === 'Conv' ? convField(input, layer.w, layer.conv!) : gemmField(input, layer.w)).data;
}

/** ExactKernels over `exactLayer` (kernels/exact-linear.ts's jsKernels would load onnxruntime). */
export const plainKernels: ExactKernels = {
  name: 'js',
  apply: async (layer, _dims, x) => Uint32Array.from(exactLayer(layer as QuantizedLayer, Float64Array.from(x))),
  async close() {},
};

export interface CrashPaths {
  readonly stateDir: string;
  readonly storeDir: string;
  readonly auditLog: string;
}

export function crashPaths(root: string): CrashPaths {
  return { stateDir: join(root, 'state'), storeDir: join(root, 'store'), auditLog: join(root, 'audit.log') };
}

export type ChildMode = 'precompute' | 'consume';

export interface Phase {
  readonly slots: readonly [ChildMode, ChildMode];
  readonly kills: number;
}

/**
 * The default schedule, 210 kills: build a stock, consume it from two processes, both at once, then
 * build again so the final audit has a live range of pads to check.
 */
export const DEFAULT_PHASES: readonly Phase[] = [
  { slots: ['precompute', 'precompute'], kills: 60 },
  { slots: ['consume', 'consume'], kills: 50 },
  { slots: ['precompute', 'consume'], kills: 50 },
  { slots: ['precompute', 'precompute'], kills: 50 },
];

export interface LoopResult {
  readonly kills: number;
  readonly killsByMode: Record<ChildMode, number>;
  /** Children that exited on their own (crash, audit violation) — must be none. */
  readonly unexpected: string[];
  readonly ms: number;
}

function startChild(mode: ChildMode, paths: CrashPaths): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, mode, paths.stateDir, paths.storeDir, paths.auditLog], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs one child until it is killed (5–150 ms after it reported ready) or exits; resolves with how it ended. */
function runOnce(mode: ChildMode, paths: CrashPaths, random: () => number): Promise<{ killed: boolean; detail: string }> {
  return new Promise((resolve) => {
    const child = startChild(mode, paths);
    let stderr = '';
    let killedByUs = false;
    let timer: NodeJS.Timeout | undefined;
    child.stderr!.on('data', (d) => (stderr += String(d)));
    child.stdout!.on('data', (d) => {
      if (timer === undefined && String(d).includes('ready')) {
        timer = setTimeout(() => {
          killedByUs = child.kill('SIGKILL');
        }, 5 + Math.floor(random() * 146));
      }
    });
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const killed = killedByUs && signal === 'SIGKILL';
      resolve({ killed, detail: killed ? '' : `${mode} child exited with code ${code}, signal ${signal}: ${stderr.slice(-2000)}` });
    });
  });
}

/** Kills and respawns children phase by phase, two at a time on the same state and store. */
export async function crashLoop(paths: CrashPaths, phases: readonly Phase[] = DEFAULT_PHASES, random: () => number = Math.random): Promise<LoopResult> {
  const start = performance.now();
  const killsByMode: Record<ChildMode, number> = { precompute: 0, consume: 0 };
  const unexpected: string[] = [];
  let kills = 0;
  for (const phase of phases) {
    let phaseKills = 0;
    const slot = async (mode: ChildMode): Promise<void> => {
      while (phaseKills < phase.kills && unexpected.length === 0) {
        const { killed, detail } = await runOnce(mode, paths, random);
        if (killed) {
          phaseKills++;
          kills++;
          killsByMode[mode]++;
        } else unexpected.push(detail);
      }
    };
    await Promise.all(phase.slots.map(slot));
  }
  return { kills, killsByMode, unexpected, ms: performance.now() - start };
}

export interface StampedeResult {
  readonly rounds: number;
  readonly waiters: number;
  readonly kills: number;
  readonly unexpected: string[];
}

/**
 * A lock left behind by a holder that died in the critical section, with `waiters` consumers blocked
 * on it: the holder is a `sleep` whose pid is written into the lock file, killed once every consumer
 * is ready. They all see the dead owner at once; the audit then checks no index was handed out twice.
 */
export async function lockStampede(paths: CrashPaths, rounds = 4, waiters = 5, stock = 30): Promise<StampedeResult> {
  const state = TrustedState.open(paths.stateDir);
  const store = new PadStore(paths.storeDir);
  const q = syntheticGraph();
  const unexpected: string[] = [];
  let kills = 0;
  for (let round = 0; round < rounds; round++) {
    const stocked = (): number => openStore(state, store, CRASH_MODEL).ledger.inventory().ready;
    if (stocked() < stock) await precomputePads(q, CRASH_MODEL, state, store, stock - stocked(), plainKernels);
    const lockPath = `${openStore(state, store, CRASH_MODEL).ledger.path}.lock`;
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    writeFileSync(lockPath, String(holder.pid));
    let ready = 0;
    const children = Array.from({ length: waiters }, () => {
      const child = startChild('consume', paths);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += String(d)));
      child.stdout!.on('data', (d) => {
        if (String(d).includes('ready')) ready++;
      });
      const exited = new Promise<void>((resolve) =>
        child.on('exit', (code, signal) => {
          if (signal === 'SIGKILL') kills++;
          else unexpected.push(`stampede consumer exited with code ${code}, signal ${signal}: ${stderr.slice(-2000)}`);
          resolve();
        }),
      );
      return { child, exited };
    });
    const deadline = Date.now() + 30_000;
    while (ready < waiters && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100)); // all blocked on the lock
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    await new Promise((r) => setTimeout(r, 100)); // they break it and consume
    for (const { child } of children) child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
  }
  return { rounds, waiters, kills, unexpected };
}

export interface AuditResult {
  readonly generated: number;
  readonly consumed: number;
  /** `used <i>` lines in the audit log. */
  readonly used: number;
  /** Indices that appear more than once in the audit log. */
  readonly reused: number[];
  /** Used indices the ledger does not record as spent (consumption not recorded first). */
  readonly usedUnconsumed: number[];
  /** Lines the consumers wrote on a wrong unblinded result or a refused pad. */
  readonly consumerErrors: string[];
  /** Written, unused indices of the ledger with no pad file, or one that fails authentication. */
  readonly missing: number[];
  readonly unauthentic: string[];
  /** Pad files that authenticate but hold something other than f(r). */
  readonly authenticatedButWrong: string[];
  /** Pad files of written, unused indices checked in full. */
  readonly intact: number;
  /** Pad files of spent indices left by a consumer killed between the ledger and the delete (garbage, never read). */
  readonly orphansBelow: number;
  /** Pad files of indices not recorded as written, left by a precompute killed before the ledger advanced (a gap, never read). */
  readonly aheadOfLedger: number;
  /** Temporary files of interrupted durable writes, and lock or guard files left by killed holders. */
  readonly leftovers: number;
}

/** Checks the state and store after the children are gone. */
export function auditCrashState(paths: CrashPaths, q: QuantizedGraph = syntheticGraph()): AuditResult {
  const state = TrustedState.open(paths.stateDir);
  const store = new PadStore(paths.storeDir);
  const { ledger, secrets } = openStore(state, store, CRASH_MODEL);
  const { generated, consumed } = ledger.inventory();
  const live = ledger.readyIndices();
  const log = existsSync(paths.auditLog) ? readFileSync(paths.auditLog, 'utf8').split('\n').filter((l) => l !== '') : [];
  const used = log.filter((l) => l.startsWith('used ')).map((l) => Number(l.slice(5)));
  const seen = new Set<number>();
  const reused = new Set<number>();
  for (const i of used) (seen.has(i) ? reused : seen).add(i);
  const consumerErrors = log.filter((l) => !l.startsWith('used '));

  const present = new Set(store.indices());
  const layers = q.layers.map((l) => ({ layer: l.index, count: sizeOf(l.outDims) }));
  const missing: number[] = [];
  const unauthentic: string[] = [];
  const authenticatedButWrong: string[] = [];
  let intact = 0;
  /** Opens pad i in full: 'ok', 'unauthentic' (refused) or 'wrong' (opens, but not f(r)). */
  const check = (i: number): 'ok' | 'unauthentic' | 'wrong' => {
    const bytes = readFileSync(join(paths.storeDir, 'pads', `${i}.pad`));
    try {
      const records = acceptPadFile(untrusted(new Uint8Array(bytes)), { index: i, layers });
      for (const layer of q.layers) {
        const binding = { weightsHash: secrets.weightsHash, storeId: secrets.storeId, layer: layer.index, index: i, epoch: secrets.epoch, count: sizeOf(layer.outDims) };
        const region = acceptPadRecord(records.get(layer.index)!, secrets.sealKey, binding, layer.name);
        const u = unpacked(u8(region, 3 * binding.count));
        release(region);
        const expected = exactLayer(layer, Float64Array.from(padVector(secrets.padKey, i, layer.index, sizeOf(layer.inDims))));
        if (!u.every((v, k) => v === expected[k])) {
          authenticatedButWrong.push(`pad ${i} layer ${layer.index}`);
          return 'wrong';
        }
      }
      return 'ok';
    } catch (e) {
      unauthentic.push(`pad ${i}: ${(e as Error).message}`);
      return 'unauthentic';
    }
  };
  for (const i of live) {
    if (!present.has(i)) missing.push(i);
    else if (check(i) === 'ok') intact++;
  }
  const liveSet = new Set(live);
  let orphansBelow = 0;
  let aheadOfLedger = 0;
  for (const i of present) {
    if (liveSet.has(i)) continue;
    if (ledger.isSpent(i)) orphansBelow++;
    else aheadOfLedger++;
    // Not in the live range, but a stored file must still never be authentic-but-wrong (or torn).
    check(i);
  }
  const leftovers =
    readdirSync(join(paths.storeDir, 'pads')).filter((n) => !/^\d+\.pad$/.test(n)).length +
    readdirSync(join(paths.stateDir, 'ledger')).filter((n) => !/^[0-9a-f]{32}\.json$/.test(n)).length;
  return {
    generated,
    consumed,
    used: used.length,
    reused: [...reused],
    usedUnconsumed: used.filter((i) => !ledger.isSpent(i)),
    consumerErrors,
    missing,
    unauthentic,
    authenticatedButWrong,
    intact,
    orphansBelow,
    aheadOfLedger,
    leftovers,
  };
}

/** The violations in an audit (empty when the invariants hold). */
export function violations(a: AuditResult): string[] {
  const v: string[] = [];
  if (a.reused.length > 0) v.push(`pad indices used twice: ${a.reused.slice(0, 20).join(', ')}`);
  if (a.consumed > a.generated) v.push(`consumed ${a.consumed} > generated ${a.generated}`);
  if (a.usedUnconsumed.length > 0) v.push(`used but not recorded as consumed: ${a.usedUnconsumed.slice(0, 20).join(', ')}`);
  if (a.consumerErrors.length > 0) v.push(`consumer errors: ${a.consumerErrors.slice(0, 5).join(' | ')}`);
  if (a.missing.length > 0) v.push(`pads of [consumed, generated) missing: ${a.missing.slice(0, 20).join(', ')}`);
  if (a.unauthentic.length > 0) v.push(`pads that fail authentication: ${a.unauthentic.slice(0, 5).join(' | ')}`);
  if (a.authenticatedButWrong.length > 0) v.push(`authenticated but wrong: ${a.authenticatedButWrong.slice(0, 20).join(', ')}`);
  return v;
}
