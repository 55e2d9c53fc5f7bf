/**
 * Test helper: which modules a piece of code loads, measured in a fresh node (with tsx) whose
 * resolve hook prints every URL it resolves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The module URLs that running `script` (an ES module body, may `await import(…)` by absolute URL) resolves. */
export function modulesLoadedBy(script: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-loads-'));
  try {
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(hooks, "export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug('LOADED ' + r.url); return r; }\n");
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, `the script failed: ${r.stderr}`);
    return r.stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => l.slice('LOADED '.length));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The URL of a repository file, for `import()` in a script. */
export const urlOf = (path: string): string => pathToFileURL(path).href;

/** The npm package a module URL belongs to, if any. */
export const packageOf = (url: string): string | undefined => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
