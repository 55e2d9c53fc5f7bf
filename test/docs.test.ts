/**
 * The project's documents point at what exists (issue 20): no file cites a design or style note the
 * repository does not hold, every `docs/design.md §N` a source cites is a section of docs/design.md,
 * and every relative link in the README and docs/ names a file that is there.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = /\.(ts|mjs|js|py|sh|md)$/;

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' || e.name === 'vectors' ? [] : files(path);
    return SOURCES.test(e.name) ? [path] : [];
  });
}

const documents = (): string[] => ['README.md', ...files('docs'), ...files('src'), ...files('test'), ...files('bench'), ...files('scripts')];

describe('documents point at what exists', () => {
  it('no file cites a design or style note outside docs/', () => {
    const missing = new RegExp(`(?<!docs/)\\b(${['DESIGN', 'STYLE'].join('|')})\\.md`);
    const offenders = documents().filter((f) => missing.test(readFileSync(join(ROOT, f), 'utf8')));
    assert.deepEqual(offenders, []);
  });

  it('every docs/design.md section cited exists', () => {
    const design = readFileSync(join(ROOT, 'docs/design.md'), 'utf8');
    const sections = new Set([...design.matchAll(/^## (\d+)\. /gm)].map((m) => m[1]));
    for (const f of documents()) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/docs\/design\.md((?:,? ?§\d+)+)/g)) {
        for (const n of m[1]!.matchAll(/§(\d+)/g)) assert.ok(sections.has(n[1]!), `${f} cites docs/design.md §${n[1]}, which does not exist`);
      }
    }
  });

  it('every relative link of the README and docs/ names an existing file', () => {
    for (const f of ['README.md', ...files('docs')]) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        assert.ok(existsSync(join(ROOT, dirname(f), target)), `${f} links to ${target}, which does not exist`);
      }
    }
  });
});
