/**
 * The boundary pass side by side (docs/design.md §7): the same plans, on the zoo models' real layer
 * shapes (VGG16, ResNet-50, MobileNetV2 at 224×224; synthetic residues of those shapes), run by
 * every implementation this machine has — WebAssembly, native AVX-512, AVX2 (forced) and portable
 * C — in one process. Reports ns per linear value (each layer boundary's outputs plus the next
 * layer's inputs, as the bench tables count them) for the fused pass in `verified` and
 * `private+verified`, and per phase with the steps taken apart (as accept.ts's `fuse: false`);
 * and the whole crossing as the gate runs it, before and now: the reply copied into the module's
 * memory, the fused pass, and the next request copied into a message buffer, against the pass
 * reading the reply where it arrived (PassPlan.reply) and writing the request into the buffer
 * that leaves (PassPlan.wire) — natively in the one pass; WebAssembly, which can address only its
 * own memory, copies both.
 * Medians of --runs (and the fused pass's fastest run); the load average before and after, since
 * the machine may be shared.
 *
 *   npx tsx bench/boundary-native.ts [--runs n] [--models vgg16,resnet50,mobilenet-v2] [--json file]
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { P } from '../src/field/prime.js';
import { alloc, f64, u32, u8, type Region } from '../src/simd/arena.js';
import { BOUNDARY_IMPLEMENTATIONS, boundaryPass, useBoundaryImplementation, type PassPlan } from '../src/simd/boundary.js';
import { nativeBest, nativeUnavailable, NATIVE_PATHS, type NativePath } from '../src/simd/native.js';
import { cpuFeatures } from './lib/cpu.js';

/** One layer boundary: a linear layer's output planes, what follows it, and the next layer's input. */
interface Boundary {
  readonly planes: number;
  readonly h: number;
  readonly w: number;
  /** A fused 2×2 max pool. */
  readonly pool?: boolean;
  /** Leaves as floats with a residual Add + ReLU, quantized again for the next layer. */
  readonly residual?: boolean;
  /** The clamp's top (ReLU6), else ReLU. */
  readonly relu6?: boolean;
}

const conv = (planes: number, h: number, extra: Partial<Boundary> = {}): Boundary => ({ planes, h, w: h, ...extra });

function vgg16(): Boundary[] {
  const out: Boundary[] = [];
  for (const [c, h, n] of [[64, 224, 2], [128, 112, 2], [256, 56, 3], [512, 28, 3], [512, 14, 3]] as const) {
    for (let k = 0; k < n; k++) out.push(conv(c, h, k === n - 1 ? { pool: true } : {}));
  }
  return [...out, conv(4096, 1), conv(4096, 1), conv(1000, 1)];
}

function resnet50(): Boundary[] {
  const out: Boundary[] = [conv(64, 112)];
  for (const [mid, h, n] of [[64, 56, 3], [128, 28, 4], [256, 14, 6], [512, 7, 3]] as const) {
    for (let k = 0; k < n; k++) {
      out.push(conv(mid, h), conv(mid, h), conv(4 * mid, h, { residual: true }));
      if (k === 0) out.push(conv(4 * mid, h)); // the projection shortcut
    }
  }
  return [...out, conv(1000, 1)];
}

function mobilenetV2(): Boundary[] {
  const out: Boundary[] = [conv(32, 112, { relu6: true }), conv(32, 112, { relu6: true }), conv(16, 112)];
  let c = 16;
  let h = 112;
  for (const [t, next, n, s] of [[6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]] as const) {
    for (let k = 0; k < n; k++) {
      const stride = k === 0 ? s : 1;
      out.push(conv(t * c, h, { relu6: true }));
      h /= stride;
      out.push(conv(t * c, h, { relu6: true }), conv(next, h, k > 0 ? { residual: true } : {}));
      c = next;
    }
  }
  return [...out, conv(1280, 7, { relu6: true }), conv(1000, 1)];
}

const MODELS: Record<string, () => Boundary[]> = { vgg16, resnet50, 'mobilenet-v2': mobilenetV2 };
const MODES = ['verified', 'private+verified'] as const;
const CROSSING_BEFORE = 'copy in, fused, copy out';
const CROSSING_NOW = 'in place, into the request buffer';
type Mode = (typeof MODES)[number];

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, models: { type: 'string', default: Object.keys(MODELS).join(',') }, json: { type: 'string' } } });
const runs = Number(args.runs);

function fill(view: Uint32Array, bound: number): void {
  let s = 0x9e3779b9;
  for (let i = 0; i < view.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    view[i] = (s >>> 0) % bound;
  }
}

/** A region holding n random residues (below `bound`). */
function residues(n: number, bound = P): Region {
  const r = alloc(4 * n + 64);
  fill(u32(r, n), bound);
  return r;
}

function packed(n: number): Region {
  const r = alloc(3 * n + 64);
  const bytes = u8(r, 3 * n);
  const words = new Uint32Array(n);
  fill(words, P);
  for (let i = 0; i < n; i++) bytes.set([words[i]! & 255, (words[i]! >> 8) & 255, words[i]! >> 16], 3 * i);
  return r;
}

/** The plans of one layer boundary, fused and taken apart by owner. */
interface Plans {
  readonly values: number;
  /** The reply where it arrived and its copy in the memory; the next layer's values where the pass leaves them, and a message buffer of their size. */
  readonly reply: Uint32Array;
  readonly replyCopy: Uint32Array;
  readonly next: Uint32Array;
  readonly wire: Uint32Array;
  readonly fused: Record<Mode, PassPlan>;
  readonly phases: Record<Mode, Record<string, PassPlan>>;
}

function plansOf(b: Boundary): Plans {
  const n = b.planes * b.h * b.w;
  const rowLen = b.h * b.w;
  const outs = b.pool ? n / 4 : n;
  const bias = alloc(4 * b.planes);
  fill(u32(bias, b.planes), 1 << 12);
  // Replies near zero (centered), so the requantization's magnitudes stay as a calibrated model's.
  const reply = residues(n, 1 << 12);
  const sa = residues(rowLen);
  const sb = residues(rowLen);
  const sums = alloc(8 * b.planes);
  const ta = residues(outs);
  const tb = residues(outs);
  const dots = alloc(16);
  const next = alloc(4 * outs + 64);
  const scratch = alloc(4 * n + 64);
  const u = packed(n);
  const ks = alloc(3 * outs + 4096);
  fill(u32(ks), 2 ** 32 - 1);
  const addend = b.residual ? alloc(8 * n) : undefined;
  if (addend) f64(addend, n).fill(0.25);
  const floats = b.residual ? alloc(8 * n) : undefined;
  const shared = {
    source: 'reply' as const,
    sourceAt: reply.at,
    rows: b.planes,
    rowLen,
    bias: { at: bias.at, perColumn: false, channels: b.planes },
    lo: 0,
    hi: b.relu6 ? 6 << 8 : 2 ** 30,
    ...(b.pool ? { poolWidth: b.w } : {}),
    ...(b.residual ? { shift: -1, dequant: 2 ** -16, addendAt: addend!.at, relu: true, floatOutAt: floats!.at, quantScale: 2 ** 8 } : { shift: 8, dequant: 2 ** -16 }),
    nextAt: next.at,
    nextItem: outs,
  };
  const checkOut = { sa: sa.at, sb: sb.at, sums: sums.at };
  const checkIn = { ta: ta.at, tb: tb.at, dots: dots.at };
  const verified: PassPlan = { ...shared, checkOut, checkIn };
  const privately: PassPlan = { ...verified, unblindAt: u.at, padAt: ks.at };
  const range: PassPlan = { source: 'reply', sourceAt: reply.at, rows: b.planes, rowLen };
  const residuesAt = { source: 'residues' as const, sourceAt: next.at, rows: 1, rowLen: outs, nextItem: outs };
  const apart = (priv: boolean): Record<string, PassPlan> => ({
    validate: range,
    'verify (output side)': { ...range, checkOut },
    ...(priv ? { unblind: { ...range, unblindAt: u.at, shift: 0, nextAt: scratch.at, nextItem: n } } : {}),
    requantize: shared,
    ...(priv ? { blind: { ...residuesAt, padAt: ks.at, nextAt: next.at } } : {}),
    'verify (input side)': { ...residuesAt, checkIn },
  });
  return { values: n + outs, reply: u32(reply, n).slice(), replyCopy: u32(reply, n), next: u32(next, outs), wire: new Uint32Array(outs).fill(1), fused: { verified, 'private+verified': privately }, phases: { verified: apart(false), 'private+verified': apart(true) } };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** ns per linear value of running `plan` of every boundary once: the median of `runs` (after one warm-up), and the fastest run. */
function timeAll(plans: readonly Plans[], pick: (p: Plans) => PassPlan | undefined): { median: number; min: number } {
  return timeEach(plans, (p) => {
    const plan = pick(p);
    if (plan !== undefined) boundaryPass(plan);
  });
}

/** ns per linear value of `step` on every boundary once: the median of `runs` (after one warm-up), and the fastest run. */
function timeEach(plans: readonly Plans[], step: (p: Plans) => void): { median: number; min: number } {
  const values = plans.reduce((s, p) => s + p.values, 0);
  const times: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const start = process.hrtime.bigint();
    for (const p of plans) step(p);
    if (r > 0) times.push(Number(process.hrtime.bigint() - start));
  }
  return { median: median(times) / values, min: Math.min(...times) / values };
}

const available = BOUNDARY_IMPLEMENTATIONS.filter((name) => {
  if (name === 'wasm') return true;
  const best = nativeBest();
  return best !== undefined && NATIVE_PATHS.indexOf(name.slice(7) as NativePath) >= NATIVE_PATHS.indexOf(best);
});
const cpu = cpuFeatures();
const loadBefore = loadavg();
console.log(`# boundary pass: WebAssembly and native side by side\n`);
console.log(`CPU: ${cpu.model}; SIMD: ${cpu.simd.join(' ')}`);
console.log(`implementations: ${available.join(', ')}${nativeUnavailable() ? ` (native: ${nativeUnavailable()})` : ''}; medians of ${runs} runs; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n`);

const results: Record<string, Record<string, Record<string, Record<string, number>>>> = {};
for (const model of args.models.split(',')) {
  const build = MODELS[model];
  if (build === undefined) throw new Error(`unknown model ${model} (expected ${Object.keys(MODELS).join(', ')})`);
  const plans = build().map(plansOf);
  const values = plans.reduce((s, p) => s + p.values, 0);
  results[model] = {};
  for (const mode of MODES) {
    const rows: Record<string, Record<string, number>> = {};
    const phases = Object.keys(plans[0]!.phases[mode]);
    for (const name of available) {
      useBoundaryImplementation(name);
      const fused = timeAll(plans, (p) => p.fused[mode]);
      const before = timeEach(plans, (p) => {
        p.replyCopy.set(p.reply);
        boundaryPass(p.fused[mode]);
        p.wire.set(p.next);
      });
      const now = timeAll(plans, (p) => ({ ...p.fused[mode], sourceAt: 0, reply: p.reply, wire: p.wire }));
      const row: Record<string, number> = { fused: fused.median, 'fused (fastest run)': fused.min, [CROSSING_BEFORE]: before.median, [CROSSING_NOW]: now.median };
      for (const phase of phases) row[phase] = timeAll(plans, (p) => p.phases[mode][phase]).median;
      rows[name] = row;
    }
    results[model][mode] = rows;
    const wasm = rows.wasm!.fused!;
    console.log(`## ${model}, ${mode}: ${(values / 1e6).toFixed(1)} M linear values over ${plans.length} boundaries (ns per linear value)\n`);
    const out = [CROSSING_BEFORE, CROSSING_NOW];
    console.log(`| implementation | fused | × wasm | fastest run | ${[...out, ...phases].join(' | ')} |`);
    console.log(`|---|---:|---:|---:|${[...out, ...phases].map(() => '---:').join('|')}|`);
    for (const [name, row] of Object.entries(rows)) {
      console.log(`| ${name} | ${row.fused!.toFixed(3)} | ${(wasm / row.fused!).toFixed(2)}× | ${row['fused (fastest run)']!.toFixed(3)} | ${[...out, ...phases].map((p) => row[p]!.toFixed(3)).join(' | ')} |`);
    }
    console.log('');
  }
}
const loadAfter = loadavg();
console.log(`load average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
if (args.json) writeFileSync(args.json, `${JSON.stringify({ cpu, loadBefore, loadAfter, runs, results }, null, 2)}\n`);
