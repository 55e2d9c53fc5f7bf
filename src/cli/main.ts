/**
 * The `slalom` command line: parses flags (commands/<verb>.ts) and calls the library. Known errors
 * print one line on stderr and exit with their code's status (errors.ts); unknown ones add a stack
 * trace when SLALOM_DEBUG is set.
 */
import { Command, CommanderError } from 'commander';
import { EXIT_CODES, isSlalomError } from '../errors.js';
import { registerAccelerator } from './commands/accelerator.js';
import { registerCompare } from './commands/compare.js';
import { registerExport } from './commands/export.js';
import { registerInfer } from './commands/infer.js';
import { registerInspect } from './commands/inspect.js';
import { registerPads } from './commands/pads.js';
import { registerPrecompute } from './commands/precompute.js';
import { registerQuantize } from './commands/quantize.js';
import { registerZoo } from './commands/zoo.js';

export function buildProgram(): Command {
  const program = new Command('slalom')
    .description('fast, verifiable and private neural-network inference: a trusted runtime over Z_p that outsources linear layers to an untrusted accelerator')
    .version('0.1.0')
    .exitOverride();
  registerZoo(program);
  registerQuantize(program);
  registerInspect(program);
  registerInfer(program);
  registerCompare(program);
  registerPrecompute(program);
  registerPads(program);
  registerExport(program);
  registerAccelerator(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (isSlalomError(e)) {
      process.stderr.write(`slalom: ${e.message}\n`);
      return EXIT_CODES[e.code];
    }
    const err = e as Error;
    process.stderr.write(`slalom: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env['SLALOM_DEBUG']) process.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
