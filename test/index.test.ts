/**
 * The package's entry points are lean (STYLE.md: `index` has no side effects): importing `slalom`
 * loads neither onnxruntime-node, sharp, Dawn (`webgpu`) nor the accelerator service, and
 * `slalom/server` does not load onnxruntime until a server starts. Each import runs in a fresh node
 * with a resolve hook that lists every module it loads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const dir = mkdtempSync(join(tmpdir(), 'slalom-entry-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const hooks = join(dir, 'hooks.mjs');
writeFileSync(hooks, "export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug('LOADED ' + r.url); return r; }\n");
const register = join(dir, 'register.mjs');
writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

/** The module URLs an import of `entry` resolves (stderr of a child node with the listing hook). */
function modulesOf(entry: string): string[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', register, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(entry).href)});`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `importing ${entry} failed: ${r.stderr}`);
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice('LOADED '.length));
}

const packageOf = (url: string): string | undefined => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];

describe('entry points', () => {
  it("import('slalom') loads no onnxruntime, sharp, Dawn or accelerator service", () => {
    const urls = modulesOf('src/index.ts');
    assert.ok(urls.some((u) => u.endsWith('/src/api/session.ts')), 'the listing sees slalom modules');
    const packages = new Set(urls.map(packageOf).filter((p) => p !== undefined && p !== 'tsx'));
    for (const heavy of ['onnxruntime-node', 'sharp', 'webgpu']) assert.ok(!packages.has(heavy), `${heavy} was loaded`);
    assert.deepEqual(urls.filter((u) => /\/src\/(accel\/http\/server|server|cli\/)/.test(u)), [], 'neither the service nor the CLI');
  });

  it("import('slalom/server') loads the service but not onnxruntime before a server starts", () => {
    const urls = modulesOf('src/server.ts');
    assert.ok(urls.some((u) => u.endsWith('/src/accel/http/server.ts')));
    assert.ok(!urls.some((u) => packageOf(u) === 'onnxruntime-node'), 'onnxruntime-node was loaded');
  });
});
