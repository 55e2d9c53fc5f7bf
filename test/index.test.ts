/**
 * The package's entry points are lean (`index` has no side effects): importing `slalom`
 * loads neither onnxruntime-node, sharp, Dawn (`webgpu`) nor the accelerator service, and
 * `slalom/server` does not load onnxruntime until a server starts; `slalom/client` loads neither the
 * trusted runtime, the services nor onnxruntime.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { modulesLoadedBy, packageOf, urlOf } from './helpers/loaded-modules.js';

describe('entry points', () => {
  it("import('slalom') loads no onnxruntime, sharp, Dawn or accelerator service", () => {
    const urls = modulesLoadedBy(`await import(${JSON.stringify(urlOf('src/index.ts'))});`);
    assert.ok(urls.some((u) => u.endsWith('/src/api/session.ts')), 'the listing sees slalom modules');
    const packages = new Set(urls.map(packageOf));
    for (const heavy of ['onnxruntime-node', 'sharp', 'webgpu']) assert.ok(!packages.has(heavy), `${heavy} was loaded`);
    assert.deepEqual(urls.filter((u) => /\/src\/(accel\/http\/server|server|cli\/)/.test(u)), [], 'neither the service nor the CLI');
  });

  it("import('slalom/server') loads the service but not onnxruntime before a server starts", () => {
    const urls = modulesLoadedBy(`await import(${JSON.stringify(urlOf('src/server.ts'))});`);
    assert.ok(urls.some((u) => u.endsWith('/src/accel/http/server.ts')));
    assert.ok(!urls.some((u) => packageOf(u) === 'onnxruntime-node'), 'onnxruntime-node was loaded');
  });

  it("import('slalom/client') loads no trusted runtime, service or onnxruntime", () => {
    const urls = modulesLoadedBy(`await import(${JSON.stringify(urlOf('src/client.ts'))});`);
    assert.ok(urls.some((u) => u.endsWith('/src/client/client.ts')));
    const packages = new Set(urls.map(packageOf));
    for (const heavy of ['onnxruntime-node', 'sharp', 'webgpu']) assert.ok(!packages.has(heavy), `${heavy} was loaded`);
    assert.deepEqual(urls.filter((u) => /\/src\/(runtime|blind|verify|accel|serve|cli)\//.test(u)), [], 'nothing of the trusted runtime, the services or the CLI');
  });

  it('SLALOM_VERSION is the package version (artifacts and --version name the release that made them)', async () => {
    const { SLALOM_VERSION } = await import('../src/version.js');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(SLALOM_VERSION, pkg.version);
  });
});
