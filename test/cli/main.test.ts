/**
 * The thin, lazy CLI (src/cli/main.ts, verbs.ts): `parseCLI` parses every verb of the table into its
 * arguments and flags (defaults, repeatable flags, negations) without running or loading it; help,
 * version and usage errors come back as commander's errors; a verb's module is imported only when
 * the verb runs, and every verb module exports the `run` the table promises.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { errorLine, main, parseCLI } from '../../src/cli/main.js';
import { InvalidArgumentError, isSlalomError } from '../../src/errors.js';
import { aInt } from '../../src/util/assert.js';
import { VERBS } from '../../src/cli/verbs.js';
import { modulesLoadedBy, packageOf, urlOf } from '../helpers/loaded-modules.js';

/** parseCLI with commander's output captured. */
function parse(...argv: string[]): { out: string; err: string; result?: ReturnType<typeof parseCLI>; error?: { code: string; exitCode: number } } {
  let out = '';
  let err = '';
  const output = { writeOut: (s: string) => void (out += s), writeErr: (s: string) => void (err += s) };
  try {
    const result = parseCLI(argv, output);
    return { out, err, result };
  } catch (e) {
    return { out, err, error: e as { code: string; exitCode: number } };
  }
}

describe('parseCLI', () => {
  it('gives the verb, its arguments and its flags, with defaults and repeatable flags collected', () => {
    const { result } = parse('infer', '--model', 'm.onnx', '--input', 'a=x.npy', '--input', 'b=y.npy', '--mode', 'verified', '--no-progress');
    assert.deepEqual(result?.verb.path, ['infer']);
    assert.deepEqual(result?.args, []);
    assert.deepEqual(result?.flags['input'], ['a=x.npy', 'b=y.npy']);
    assert.equal(result?.flags['mode'], 'verified');
    assert.equal(result?.flags['top'], '5', 'a default');
    assert.equal(result?.flags['kernels'], 'ort', 'a session flag default');
    assert.equal(result?.flags['progress'], false);
  });

  it('parses positional arguments and verbs under a group', () => {
    const zoo = parse('zoo', 'resnet18', '--out', 'r.onnx').result;
    assert.deepEqual([zoo?.verb.path, zoo?.args, zoo?.flags['seed']], [['zoo'], ['resnet18'], '1']);
    const serve = parse('accelerator', 'serve', '--port', '0', '--no-preload').result;
    assert.deepEqual([serve?.verb.path, serve?.flags['port'], serve?.flags['preload'], serve?.flags['backend']], [['accelerator', 'serve'], '0', false, 'onnxruntime']);
    assert.deepEqual(parse('pads', 'status', '--store', 's').result?.verb.path, ['pads', 'status']);
  });

  it('answers help and --version with exit code 0, and a usage error with another, printing through commander', () => {
    const help = parse('infer', '--help');
    assert.equal(help.error?.exitCode, 0);
    assert.match(help.out, /--accelerator <list>/);
    const version = parse('--version');
    assert.deepEqual([version.error?.exitCode, version.out.trim()], [0, '0.1.0']);
    const missing = parse('infer', '--model', 'm.onnx');
    assert.ok(missing.error !== undefined && missing.error.exitCode !== 0 && missing.error.code.startsWith('commander.'));
    assert.match(missing.err, /required option '--input <file>'/);
    assert.ok(parse('no-such-verb').error?.code.startsWith('commander.'));
  });

  it('names the flag where a library error names the argument of the same name', () => {
    const verb = (path: string): (typeof VERBS)[number] => VERBS.find((v) => v.path.join(' ') === path)!;
    const refusal = (f: () => unknown): InvalidArgumentError => {
      try {
        f();
      } catch (e) {
        if (isSlalomError(e)) return e as InvalidArgumentError;
      }
      throw new Error('no InvalidArgumentError');
    };
    const count = refusal(() => aInt(0, 'count', { min: 1 }));
    assert.equal(count.message, 'count must be a positive integer, got 0', 'the library names its argument, never a flag');
    assert.equal(errorLine(count, verb('precompute')), '--count must be a positive integer, got 0');
    assert.equal(errorLine(refusal(() => aInt(0, 'maxBatch', { min: 1 })), verb('accelerator serve')), '--max-batch must be a positive integer, got 0');
    assert.equal(errorLine(refusal(() => aInt(0, 'maxBodyBytes', { min: 1 })), verb('accelerator serve')), 'maxBodyBytes must be a positive integer, got 0', 'no flag of that name: the library\'s words');
    assert.equal(errorLine(count, undefined), count.message);
    assert.equal(errorLine(new InvalidArgumentError('a plain message'), verb('precompute')), 'a plain message');
  });

  it("prints a numeric flag's error under the flag's name: the CLI's checks are the library's (util/assert.ts), mapped by main", async () => {
    const run = async (...argv: string[]): Promise<{ status: number; err: string }> => {
      let err = '';
      const write = process.stderr.write;
      process.stderr.write = ((chunk: string | Uint8Array) => ((err += String(chunk)), true)) as typeof process.stderr.write;
      try {
        return { status: await main(argv), err };
      } finally {
        process.stderr.write = write;
      }
    };
    assert.deepEqual(await run('precompute', '--model', 'm.onnx', '--count', '0', '--store', 'nowhere'), { status: 2, err: 'slalom: --count must be a positive integer, got 0\n' });
    assert.deepEqual(await run('accelerator', 'serve', '--port', '70000'), { status: 2, err: 'slalom: --port must be an integer in [0, 65535], got 70000\n' });
    assert.deepEqual(await run('infer', '--model', 'm.onnx', '--input', 'x.png', '--top', 'many'), { status: 2, err: "slalom: --top must be a positive integer, got 'many'\n" });
    // Before the store is opened: `--low-water abc` used to be taken as NaN, and no warning ever came.
    assert.deepEqual(await run('pads', 'status', '--store', 'nowhere', '--low-water', 'abc'), { status: 2, err: "slalom: --low-water must be a non-negative integer, got 'abc'\n" });
    // `serve --pads memory` keeps its pads in trusted memory: a --store is refused before any model loads.
    assert.deepEqual(await run('serve', '--model', 'm.onnx', '--port', '0', '--pads', 'memory', '--store', 'nowhere'), { status: 2, err: 'slalom: --store names a pad store: it goes with --pads store, not --pads memory\n' });
    assert.deepEqual(await run('serve', '--model', 'm.onnx', '--port', '0', '--pads', 'memory', '--pad-pool', '0'), { status: 2, err: 'slalom: --pad-pool must be a positive integer, got 0\n' });
  });

  it('every verb module exports run', async () => {
    for (const verb of VERBS) assert.equal(typeof (await verb.load()).run, 'function', verb.path.join(' '));
  });

  it('parsing loads no verb module, onnxruntime or sharp', () => {
    const urls = modulesLoadedBy(`const { parseCLI } = await import(${JSON.stringify(urlOf('src/cli/main.ts'))}); parseCLI(['infer', '--model', 'm.onnx', '--input', 'x.png']);`);
    assert.ok(urls.some((u) => u.endsWith('/src/cli/verbs.ts')));
    assert.deepEqual(urls.filter((u) => /\/src\/cli\/commands\//.test(u)), []);
    for (const heavy of ['onnxruntime-node', 'sharp', 'cli-progress']) assert.ok(!urls.some((u) => packageOf(u) === heavy), `${heavy} was loaded`);
  });
});
