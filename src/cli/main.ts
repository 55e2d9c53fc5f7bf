/**
 * The `slalom` command line (after vitest's cac.ts): `parseCLI` only parses, against the
 * declarative table of verbs.ts; `main` then imports the one verb module that runs
 * (commands/<verb>.ts) and calls its `run` with the verb's arguments and flags. Known errors
 * (SlalomError, told by `code`) print one line on stderr and give their code's exit status
 * (errors.ts); unknown ones print one line too, and their stack trace when SLALOM_DEBUG is set.
 * Importing this module runs nothing: bin/slalom.js calls `main` and sets `process.exitCode`, so
 * output is flushed before the process ends.
 */
import { Command, CommanderError, type OutputConfiguration } from 'commander';
import { EXIT_CODES, hasErrorCode, isSlalomError, type InvalidArgumentError, type SlalomError } from '../errors.js';
import { SLALOM_VERSION } from '../version.js';
import { GROUPS, VERBS, type VerbSpec } from './verbs.js';

/** What the command line asked for: the verb, its positional arguments, its flags (commander's camelCase keys). */
export interface ParsedCLI {
  readonly verb: VerbSpec;
  readonly args: readonly string[];
  readonly flags: Readonly<Record<string, unknown>>;
}

/** commander's own errors (help, version, usage), by their `commander.*` code. */
const isCommanderError = (e: unknown): e is CommanderError => typeof (e as { code?: unknown })?.code === 'string' && (e as { code: string }).code.startsWith('commander.');

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * Parses `argv` (without `node slalom`) against verbs.ts; runs nothing. Help, `--version` and usage
 * errors are written by commander (to `output`, default stdout/stderr) and thrown as CommanderError
 * (`exitCode` 0 for help and version).
 */
export function parseCLI(argv: readonly string[], output?: OutputConfiguration): ParsedCLI {
  let parsed: ParsedCLI | undefined;
  const program = new Command('slalom')
    .description('fast, verifiable and private neural-network inference: a trusted runtime over Z_p that outsources linear layers to an untrusted accelerator')
    .version(SLALOM_VERSION)
    .exitOverride();
  if (output !== undefined) program.configureOutput(output);
  const groups = new Map<string, Command>();
  for (const verb of VERBS) {
    let parent = program;
    for (const word of verb.path.slice(0, -1)) {
      let group = groups.get(word);
      if (group === undefined) {
        group = parent.command(word).description(GROUPS[word] ?? '');
        groups.set(word, group);
      }
      parent = group;
    }
    const cmd = parent.command(verb.path[verb.path.length - 1]!).description(verb.description);
    if (output !== undefined) cmd.configureOutput(output);
    for (const [name, description] of verb.args ?? []) cmd.argument(name, description);
    for (const f of verb.flags) {
      if (f.repeatable) f.required ? cmd.requiredOption(f.flags, f.description, collect) : cmd.option(f.flags, f.description, collect);
      else if (f.required) cmd.requiredOption(f.flags, f.description);
      else cmd.option(f.flags, f.description, f.default);
    }
    cmd.action((...received: unknown[]) => {
      // commander passes the arguments, then the flags, then the command.
      const args = received.slice(0, verb.args?.length ?? 0) as string[];
      parsed = { verb, args, flags: received[args.length] as Record<string, unknown> };
    });
  }
  for (const group of groups.values()) {
    group.exitOverride();
    if (output !== undefined) group.configureOutput(output);
  }
  program.parse([...argv], { from: 'user' });
  if (parsed === undefined) {
    // A group or the program without a verb: commander printed nothing, so show the help.
    program.outputHelp({ error: true });
    throw new CommanderError(2, 'commander.help', 'no verb given');
  }
  return parsed;
}

/**
 * The line to print for a slalom error: a library error that names its argument (util/assert.ts,
 * `count`) names the verb's flag of the same name instead (`--count`), when the verb has one.
 */
export function errorLine(e: SlalomError, verb: VerbSpec | undefined): string {
  if (!hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG') || e.argument === undefined || verb === undefined) return e.message;
  const flag = `--${e.argument.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const requirement = (e as InvalidArgumentError).requirement;
  if (requirement === undefined || !verb.flags.some((f) => f.flags.split(/[ ,]/)[0] === flag)) return e.message;
  return `${e.layer !== undefined ? `${e.layer}: ` : ''}${flag} ${requirement}`;
}

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  let verb: VerbSpec | undefined;
  try {
    const parsed = parseCLI(argv);
    verb = parsed.verb;
    const module = await verb.load();
    const status = await (module.run as (...a: unknown[]) => Promise<void | number> | void | number)(...parsed.args, parsed.flags);
    // A verb that ends early on purpose returns its own status (precompute stopped by Ctrl-C: 130).
    return typeof status === 'number' ? status : 0;
  } catch (e) {
    if (isCommanderError(e)) return e.exitCode === 0 ? 0 : 2;
    if (isSlalomError(e)) {
      process.stderr.write(`slalom: ${errorLine(e, verb)}\n`);
      return EXIT_CODES[e.code];
    }
    const err = e as Error;
    process.stderr.write(`slalom: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env['SLALOM_DEBUG']) process.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}

