/**
 * The trust boundary is visible in the imports (STYLE.md): untrusted accelerator code never names a
 * secret-holding module, and only boundary/accept.ts looks inside an Untrusted value.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve('src');

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

/** Imports of accelerator code (every backend, the GPU's included) into the trusted side. */
function accelOffenders(file: string, targets: readonly string[]): string[] {
  return targets.filter((t) => /^(blind|verify|runtime|quant)\//.test(t)).map((t) => `${relative(SRC, file)} → ${t}`);
}

test('accelerator code never imports the trusted runtime, verification or blinding (static or dynamic imports)', () => {
  const files = sources(join(SRC, 'accel'));
  assert.ok(files.some((f) => f.includes(join('accel', 'webgpu'))), 'the GPU backend is among the files checked');
  assert.deepEqual(files.flatMap((f) => accelOffenders(f, imports(f))), []);
});

test('the accelerator rule catches a wrong import of every kind', () => {
  const file = join(SRC, 'accel', 'webgpu', 'engine.ts');
  const text = ["import { x } from '../../blind/seal.js';", "import '../../verify/freivalds.js';", "const m = await import('../../runtime/executor.js');", "export { y } from '../../quant/calibrate.js';", "import { ok } from '../../kernels/conv.js';"].join('\n');
  assert.deepEqual(accelOffenders(file, importsOf(text, file)), ['blind/seal.js', 'verify/freivalds.js', 'runtime/executor.js', 'quant/calibrate.js'].map((t) => `accel/webgpu/engine.ts → ${t}`));
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

test('lower layers do not import higher ones', () => {
  // http (the HTTP layer of both servers) and attest (keys, channel, receipts) import no other folder.
  const order = ['http', 'attest', 'field', 'simd', 'tensor', 'kernels', 'graph', 'quant', 'verify', 'blind', 'boundary', 'runtime', 'api', 'client', 'serve', 'cli'];
  const rank = (path: string): number => order.indexOf(path.split('/')[0]!);
  const offenders: string[] = [];
  for (const file of sources(SRC)) {
    const from = rank(relative(SRC, file));
    if (from < 0) continue;
    for (const target of imports(file)) {
      if (target === 'boundary/untrusted.js') continue; // the Untrusted brand is a type every layer may carry
      if (target === 'boundary/pass-plan.js') continue; // the boundary pass's contract: its owners (quant, verify, blind) contribute to it
      const to = rank(target);
      // verify and blind are siblings; boundary validates pads (blind) and replies (accel).
      if (to > from && !(order[from] === 'verify' && order[to] === 'blind')) offenders.push(`${relative(SRC, file)} → ${target}`);
    }
  }
  assert.deepEqual(offenders, []);
});
