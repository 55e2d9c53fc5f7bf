/**
 * The architecture is visible in the imports (the tree is the architecture): every folder
 * and top-level file of src/ has a rank, and a module imports only from lower ranks or its own
 * folder — static imports, re-exports, side-effect imports and dynamic `import()` alike. Untrusted
 * accelerator code never names a secret-holding module, and only boundary/accept.ts looks inside an
 * Untrusted value. Each rule is also run on a deliberately wrong import, to show it would fail.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve('src');

/**
 * The ranks, lowest first. Entries of one rank do not import each other. `accel/` stands beside the
 * trusted chain (ranked below the runtime that drives it) with its own rule below.
 */
const RANKS: readonly (readonly string[])[] = [
  ['errors.ts', 'version.ts'],
  ['util'], // caller-misuse checks, a seeded PRNG: no slalom concept
  ['http'], // the HTTP layer both servers share (limits, bounded JSON, framing, fair queue, metrics)
  ['attest'], // keys, attestation, the HPKE channel, receipts: below the service and its client, never the accelerator's
  ['field'], // Z_p
  ['simd'], // WebAssembly kernels over residues
  ['tensor'],
  ['onnx'], // the ONNX proto builder, so kernels and the exporter need not import graph
  ['kernels'],
  ['graph'], // IR, the ONNX importer, float ops
  ['io'], // inputs from files
  ['quant'],
  ['verify', 'blind'],
  ['boundary'], // the one gate
  ['reference', 'accel'], // onnxruntime fp32 (compare, calibration); the untrusted accelerators
  ['runtime'],
  ['train', 'generate'], // verified training: the trusted side of a training step; generation: decoding steps over the KV cache — both beside the inference runtime
  ['api', 'zoo', 'client'], // the library's API; seeded synthetic models (nothing below needs them); the service's client
  ['serve'], // the trusted inference service, over the API, the runtime and the shared HTTP layer
  ['cli'],
  ['index.ts', 'server.ts', 'client.ts'], // the package's entry points
];

/**
 * The Untrusted brand is a type every layer may carry (accel wraps replies in it, boundary unwraps
 * them); the boundary pass's contract (types only, tested below) is written by its owners below the
 * gate (quant, verify, blind each contribute their part of the one pass).
 */
const SHARED = new Set(['boundary/untrusted.js', 'boundary/pass-plan.js']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative specifiers a source imports: static `from '…'`, side-effect `import '…'` and dynamic `import('…')`. */
function importsOf(text: string, file: string): string[] {
  return [...text.matchAll(/(?:from |import\s*\(\s*|import )'(\.[^']+)'/g)].map((m) => relative(SRC, resolve(dirname(file), m[1]!)));
}

function imports(file: string): string[] {
  return importsOf(readFileSync(file, 'utf8'), file);
}

/** A path's top-level entry of src/ ('kernels' for kernels/conv.ts, 'index.ts' for index.ts); `.js` specifiers name `.ts` files. */
const topOf = (path: string): string => path.split('/')[0]!.replace(/\.js$/, '.ts');

function rankOf(path: string): number {
  return RANKS.findIndex((rank) => rank.includes(topOf(path)));
}

/** Imports of `file` (a path relative to src/) that point up, sideways to a sibling, or out of src/. */
function wrongArrows(file: string, targets: readonly string[]): string[] {
  const from = rankOf(file);
  return targets
    .filter((t) => !SHARED.has(t) && topOf(t) !== topOf(file))
    .filter((t) => t.startsWith('..') || rankOf(t) < 0 || rankOf(t) >= from)
    .map((t) => `${file} → ${t}`);
}

/** Imports of accelerator code (every backend, the GPU's included) into the trusted side: its secrets, or the trusted service's keys. */
function accelOffenders(file: string, targets: readonly string[]): string[] {
  return targets.filter((t) => /^(blind|verify|runtime|quant|serve|attest)\//.test(t)).map((t) => `${file} → ${t}`);
}

test('every folder and top-level file of src/ has a rank', () => {
  const entries = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.name.endsWith('.ts'))
    .map((e) => e.name);
  assert.deepEqual(entries.filter((e) => rankOf(e) < 0), []);
  assert.deepEqual(RANKS.flat().filter((r) => !entries.includes(r)), [], 'no rank names something that is gone');
});

test('lower layers do not import higher ones, nor siblings of their rank (static or dynamic imports)', () => {
  const offenders = sources(SRC).flatMap((f) => wrongArrows(relative(SRC, f), imports(f)));
  assert.deepEqual(offenders, []);
});

test('the rank rule catches a wrong import of every kind', () => {
  const cases: [string, string, string][] = [
    // file, the import, the arrow it must report
    ['runtime/model-inputs.ts', "import { Rng } from '../zoo/rng.js';", 'zoo/rng.js'],
    ['quant/calibrate.ts', "const { createReferenceSession } = await import('../reference/ort-session.js');", 'reference/ort-session.js'],
    ['boundary/accept.ts', "import type { LinearReply } from '../accel/backend.js';", 'accel/backend.js'],
    ['kernels/exact-linear.ts', "export { x } from '../graph/ir.js';", 'graph/ir.js'],
    ['field/prime.ts', "import '../tensor/tensor.js';", 'tensor/tensor.js'],
    ['verify/freivalds.ts', "import { seal } from '../blind/seal.js';", 'blind/seal.js'],
    ['index.ts', "import { x } from './nowhere/new.js';", 'nowhere/new.js'],
    ['http/service.ts', "import { AcceleratorHost } from '../accel/host.js';", 'accel/host.js'],
    ['accel/http/routes.ts', "import { TrustedServer } from '../../serve/server.js';", 'serve/server.js'],
    ['attest/receipt.ts', "import { createSession } from '../api/session.js';", 'api/session.js'],
  ];
  const reported = cases.flatMap(([file, text]) => wrongArrows(file, importsOf(text, join(SRC, file))));
  assert.deepEqual(reported, cases.map(([file, , target]) => `${file} → ${target}`));
  // The same wrong import in a real file: one added line makes the whole-tree check fail.
  const file = join(SRC, 'kernels', 'conv.ts');
  const text = `${readFileSync(file, 'utf8')}\nconst late = await import('../runtime/executor.js');\n`;
  assert.deepEqual(wrongArrows('kernels/conv.ts', importsOf(text, file)), ['kernels/conv.ts → runtime/executor.js']);
});

test('accelerator code never imports the trusted runtime, verification, blinding, quantization, the trusted service or its keys (static or dynamic imports)', () => {
  const files = sources(join(SRC, 'accel'));
  assert.ok(files.some((f) => f.includes(join('accel', 'webgpu'))), 'the GPU backend is among the files checked');
  assert.ok(files.some((f) => f.includes(join('accel', 'http'))), 'the HTTP client and server are among the files checked');
  assert.deepEqual(files.flatMap((f) => accelOffenders(relative(SRC, f), imports(f))), []);
});

test('the accelerator rule catches a wrong import of every kind', () => {
  const file = join(SRC, 'accel', 'webgpu', 'engine.ts');
  const text = ["import { x } from '../../blind/seal.js';", "import '../../verify/freivalds.js';", "const m = await import('../../runtime/executor.js');", "export { y } from '../../quant/calibrate.js';", "import { k } from '../../attest/keys.js';", "import { ok } from '../../kernels/conv.js';", "import { ok2 } from '../../http/body.js';"].join('\n');
  assert.deepEqual(accelOffenders('accel/webgpu/engine.ts', importsOf(text, file)), ['blind/seal.js', 'verify/freivalds.js', 'runtime/executor.js', 'quant/calibrate.js', 'attest/keys.js'].map((t) => `accel/webgpu/engine.ts → ${t}`));
});

test('only boundary/accept.ts reveals untrusted values', () => {
  const users = sources(SRC)
    .filter((f) => readFileSync(f, 'utf8').includes('revealForValidation('))
    .map((f) => relative(SRC, f))
    .filter((f) => f !== 'boundary/untrusted.ts');
  assert.deepEqual(users, ['boundary/accept.ts']);
});

test('the boundary pass\'s contract is types only, so importing it from below the boundary imports no code', () => {
  const text = readFileSync(join(SRC, 'boundary', 'pass-plan.ts'), 'utf8');
  const code = text.split('\n').filter((l) => /^export (?!interface|type)/.test(l) || /^(const|let|function|class) /.test(l));
  assert.deepEqual(code, []);
  assert.ok([...text.matchAll(/^import (?!type )/gm)].length === 0, 'only `import type`');
});

test('the native boundary pass is one more implementation behind simd/boundary.ts: nothing else in src/ loads it, and only boundary/accept.ts runs the pass', () => {
  const loaders = sources(SRC).filter((f) => imports(f).includes('simd/native.js')).map((f) => relative(SRC, f));
  assert.deepEqual(loaders, ['simd/boundary.ts']);
  const runners = sources(SRC)
    .filter((f) => /\bboundaryPass\s*\(/.test(readFileSync(f, 'utf8')) && imports(f).includes('simd/boundary.js'))
    .map((f) => relative(SRC, f));
  assert.deepEqual(runners, ['boundary/accept.ts']);
});
