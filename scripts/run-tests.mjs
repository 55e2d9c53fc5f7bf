#!/usr/bin/env node
// Runs every test/**/*.test.ts (or, with --slow, *.slow.ts) through node:test with tsx. Node 20's
// `--test` does not expand globs itself, so the file list is built here.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const suffix = process.argv.includes('--slow') ? '.slow.ts' : '.test.ts';
const extra = process.argv.slice(2).filter((a) => a !== '--slow');

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return find(path);
    return e.name.endsWith(suffix) ? [path] : [];
  });
}

const files = extra.length > 0 ? extra : find('test').sort();
// The whole suite is long (it spawns the CLI and the services): say so before it starts.
if (extra.length === 0) console.error(`running ${files.length} test files${suffix === '.test.ts' ? ': about 10 minutes on a 2-core machine' : ''} (one file: node --import tsx --test <file>)`);
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
