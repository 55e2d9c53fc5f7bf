#!/usr/bin/env node
// The `slalom` command. The package runs its compiled JavaScript (dist/); a checkout, which has the
// TypeScript sources beside it (the package ships none), runs those through tsx, a dev dependency,
// so the command there is always the code being edited and tested.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  cli = await import('../dist/cli/main.js');
}
process.exitCode = await cli.main(process.argv.slice(2));
