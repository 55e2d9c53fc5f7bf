/**
 * The `slalom` command line, spawned as a user runs it (`node bin/slalom.js …` from the repository
 * root): help lists the commands; `zoo resnet18` + `inspect --json` report ResNet-18's 21 linear
 * layers and 1.81 G MACs; `infer --json` prints one JSON object; bad flags, missing files and
 * unsupported models exit non-zero with a one-line message and no stack trace (exit 3 for an
 * unsupported op, errors.ts EXIT_CODES). Issue 11: malformed models (huge initializer dims,
 * duplicated nodes or outputs) are exit 3 naming the node, onnxruntime's own log lines stay off the
 * terminal unless SLALOM_ORT_LOG asks for them (defect 7), and NaN or ±Infinity in an input .npy is
 * exit 2 naming the input (defect 8).
 */
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ModelProtoSchema, NodeProtoSchema, TensorProtoSchema, type ModelProto } from 'onnx-buf';
import { EXIT_CODES } from '../../src/errors.js';
import { OnnxBuilder } from '../../src/onnx/build.js';
import { writeNpy } from '../../src/io/npy.js';
import { createReferenceSession } from '../../src/reference/ort-session.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/seeded-rng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLASSES = 10;
/** The warning a model calibrated on seeded random inputs prints before anything else (issue 20). */
const SYNTHETIC_CALIBRATION_WARNING = /^warning: .* calibrated on \d+ seeded random inputs/;
/** A V8 stack frame line, e.g. `    at main (/x/src/cli/main.ts:30:5)`. */
const STACK_FRAME = /^\s+at .*:\d+:\d+\)?$/m;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function slalom(...args: string[]): Run {
  return slalomWith({}, ...args);
}

function slalomWith(env: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/slalom.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, SLALOM_DEBUG: '', SLALOM_ORT_LOG: '', ...env },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A known error: non-zero status, one `slalom: …` line on stderr, no stack trace, nothing on stdout. */
function assertOneLineError(r: Run, status: number, ...parts: string[]): void {
  assert.equal(r.status, status, `status ${r.status}, stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !SYNTHETIC_CALIBRATION_WARNING.test(l));
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^slalom: /);
  for (const p of parts) assert.ok(lines[0]!.includes(p), `'${lines[0]}' lacks '${p}'`);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
  assert.equal(r.stdout, '');
}

/** input[1,3,8,8] → Conv(3→4) → Relu → GlobalAveragePool → Flatten → Gemm(4→10). */
function smallModel(): Uint8Array {
  const rng = new Rng(3);
  const normal = (n: number, std: number): Float32Array => rng.fillNormal(new Float32Array(n), std);
  return new OnnxBuilder('small')
    .input('input', [1, 3, 8, 8])
    .initializer('conv.w', [4, 3, 3, 3], normal(108, 0.3))
    .initializer('conv.b', [4], normal(4, 0.1))
    .initializer('fc.w', [CLASSES, 4], normal(40, 0.7))
    .initializer('fc.b', [CLASSES], normal(CLASSES, 0.1))
    .node('Conv', ['input', 'conv.w', 'conv.b'], ['c'], { pads: [1, 1, 1, 1] }, 'conv')
    .node('Relu', ['c'], ['r'], {}, 'relu')
    .node('GlobalAveragePool', ['r'], ['g'], {}, 'gap')
    .node('Flatten', ['g'], ['f'], {}, 'flatten')
    .node('Gemm', ['f', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc')
    .output('logits', [1, CLASSES])
    .toBytes();
}

function unsupportedModel(): Uint8Array {
  return new OnnxBuilder('unsupported')
    .input('input', [1, 4])
    .initializer('w', [4, 4], new Float32Array(16).fill(0.5))
    .node('MatMul', ['input', 'w'], ['m'], {}, 'fc')
    .node('Hardmax', ['m'], ['y'], {}, 'my_hardmax')
    .output('y', [1, 4])
    .toBytes();
}

describe('slalom CLI', () => {
  let dir: string;
  let model: string;
  let input: string;
  let x: Tensor;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slalom-cli-'));
    model = join(dir, 'small.onnx');
    writeFileSync(model, smallModel());
    writeFileSync(join(dir, 'unsupported.onnx'), unsupportedModel());
    x = tensor([1, 3, 8, 8], Float64Array.from(new Rng(9).fillNormal(new Float32Array(192), 1)));
    input = join(dir, 'x.npy');
    writeFileSync(input, writeNpy(x, 'float32'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('inspect says which implementation runs the boundary pass; SLALOM_BOUNDARY picks one, and refuses an unknown one in one line', () => {
    const model = 'models/fashion-mnist.onnx';
    const auto = slalom('inspect', model, '--json');
    assert.equal(auto.status, 0, auto.stderr);
    assert.match(JSON.parse(auto.stdout).boundary, /^(wasm|native-(avx512|avx2|portable))$/);
    const wasm = slalomWith({ SLALOM_BOUNDARY: 'wasm' }, 'inspect', model);
    assert.equal(wasm.status, 0, wasm.stderr);
    assert.match(wasm.stdout, /^boundary pass: wasm$/m);
    assertOneLineError(slalomWith({ SLALOM_BOUNDARY: 'gpu' }, 'inspect', model), EXIT_CODES.SLALOM_ERR_INVALID_ARG, 'gpu');
  });

  it('--help lists zoo, inspect, infer and compare', () => {
    const r = slalom('--help');
    assert.equal(r.status, 0, r.stderr);
    for (const cmd of ['zoo', 'inspect', 'infer', 'compare']) assert.match(r.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `${cmd} missing from help`);
  });

  it('zoo resnet18 then inspect --json: 21 linear layers, 1.81 G MACs, element totals and a layer table', () => {
    const out = join(dir, 'resnet18.onnx');
    const z = slalom('zoo', 'resnet18', '--out', out);
    assert.equal(z.status, 0, z.stderr);
    const r = slalom('inspect', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON line');
    const report = JSON.parse(r.stdout);
    assert.equal(report.linearLayers, 21);
    assert.ok(Math.abs(report.macs - 1.81e9) <= 0.01 * 1.81e9, `macs ${report.macs}`);
    assert.deepEqual(report.inputDims, [1, 3, 224, 224]);
    assert.ok(Number.isInteger(report.linearInputElements) && report.linearInputElements > 0);
    assert.ok(Number.isInteger(report.linearOutputElements) && report.linearOutputElements > 0);
    assert.ok(Array.isArray(report.layers));
    const outsourced = report.layers.filter((l: { placement: string }) => l.placement === 'outsourced');
    assert.equal(outsourced.length, 21);
    assert.equal(outsourced.reduce((s: number, l: { macs: number }) => s + l.macs, 0), report.macs);
    for (const l of outsourced) {
      assert.ok(l.op === 'Conv' || l.op === 'Gemm');
      assert.ok(Number.isInteger(l.lx) && Number.isInteger(l.lw), `${l.name} scales`);
      assert.ok(l.exactnessUse > 0 && l.exactnessUse <= 1, `${l.name} exactnessUse ${l.exactnessUse}`);
    }
    assert.ok(!report.layers.some((l: { op: string }) => l.op === 'BatchNormalization'), 'BN folded');
    assert.match(report.modelHash, /^[0-9a-f]{64}$/);
  });

  it('infer --json prints one JSON object with mode, named outputs, predictions and timings, close to onnxruntime', async () => {
    const r = slalom('infer', '--model', model, '--input', input, '--json');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one line expected:\n${r.stdout}`);
    const out = JSON.parse(lines[0]!);
    assert.equal(out.mode, 'baseline');
    assert.equal(out.insecure, undefined);
    assert.ok(Array.isArray(out.logits) && out.logits.length === CLASSES);
    assert.ok(out.logits.every((v: unknown) => typeof v === 'number' && Number.isFinite(v)));
    assert.equal(out.items, 1);
    assert.deepEqual(out.outputs.map((o: { name: string; dims: number[] }) => [o.name, o.dims]), [['logits', [1, CLASSES]]]);
    assert.deepEqual(out.outputs[0].data, out.logits);
    assert.ok(Array.isArray(out.predictions) && out.predictions.length === 1);
    const top = out.predictions[0];
    assert.ok(Array.isArray(top) && top.length === 5);
    for (const p of top) {
      assert.ok(Number.isInteger(p.index) && p.index >= 0 && p.index < CLASSES);
      assert.ok(typeof p.score === 'number' && p.score > 0 && p.score <= 1);
    }
    for (let i = 1; i < top.length; i++) assert.ok(top[i - 1].score >= top[i].score);
    const best = out.logits.indexOf(Math.max(...out.logits));
    assert.equal(top[0].index, best);
    assert.ok(out.timings && typeof out.timings === 'object');
    for (const key of ['load', 'total']) assert.ok(typeof out.timings[key] === 'number' && out.timings[key] >= 0, `timings.${key}`);
    assert.ok(Object.values(out.timings).every((v) => typeof v === 'number'));

    const session = await createReferenceSession(smallModel());
    try {
      const ref = (await session.run([x])).get('logits')!.data;
      const range = Math.max(...ref) - Math.min(...ref);
      for (let i = 0; i < CLASSES; i++) assert.ok(Math.abs(out.logits[i] - ref[i]!) < 0.02 * range, `logit ${i}: ${out.logits[i]} vs ${ref[i]}`);
    } finally {
      await session.close();
    }
  });

  it('infer --top 3 without --json prints a readable summary', () => {
    const r = slalom('infer', '--model', model, '--input', input, '--top', '3');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /mode baseline/);
    assert.match(r.stdout, /timings: /);
    assert.equal(r.stdout.split('\n').filter((l) => /^\s+\d+\s+[\d.]+ %/.test(l)).length, 3);
  });

  it('a bad --mode → exit 2 and a one-line message', () => {
    assertOneLineError(slalom('infer', '--model', model, '--input', input, '--mode', 'turbo'), EXIT_CODES.SLALOM_ERR_INVALID_ARG, '--mode', 'turbo');
  });

  it('a bad --top or --input-shape → exit 2 and a one-line message', () => {
    assertOneLineError(slalom('infer', '--model', model, '--input', input, '--top', 'zero'), 2, '--top');
    assertOneLineError(slalom('inspect', model, '--input-shape', '1,3,x'), 2, '--input-shape');
  });

  it('an unknown option → non-zero exit with the error on the first stderr line and no stack trace', () => {
    const r = slalom('infer', '--model', model, '--input', input, '--bogus');
    assert.notEqual(r.status, 0);
    assert.equal(r.status, 2);
    assert.match(r.stderr.split('\n')[0]!, /unknown option '--bogus'/);
    assert.doesNotMatch(r.stderr, STACK_FRAME);
    assert.equal(r.stdout, '');
    const u = slalom('frobnicate');
    assert.equal(u.status, 2);
    assert.match(u.stderr.split('\n')[0]!, /unknown command 'frobnicate'/);
  });

  it('a missing model file → non-zero exit and a one-line message', () => {
    const missing = join(dir, 'nope.onnx');
    assertOneLineError(slalom('infer', '--model', missing, '--input', input), EXIT_CODES.SLALOM_ERR_INVALID_ARG, missing);
    assertOneLineError(slalom('inspect', missing), EXIT_CODES.SLALOM_ERR_INVALID_ARG, missing);
  });

  it('a missing input file → non-zero exit and a one-line message', () => {
    const missing = join(dir, 'nope.npy');
    assertOneLineError(slalom('infer', '--model', model, '--input', missing), 2, missing);
  });

  it('a model with an unsupported op → exit 3 naming the op and node', () => {
    const path = join(dir, 'unsupported.onnx');
    assertOneLineError(slalom('inspect', path), 3, 'Hardmax', 'my_hardmax');
    assertOneLineError(slalom('infer', '--model', path, '--input', input, '--json'), 3, 'Hardmax');
  });

  it('malformed models → exit 3, one line naming the node, no onnxruntime log lines (issue 11, defect 7)', () => {
    const edited = (name: string, edit: (m: ModelProto) => void): string => {
      const m = fromBinary(ModelProtoSchema, smallModel());
      edit(m);
      const path = join(dir, name);
      writeFileSync(path, toBinary(ModelProtoSchema, m));
      return path;
    };
    const huge = edited('huge-dims.onnx', (m) => {
      m.graph!.initializer.find((t) => t.name === 'conv.w')!.dims = [1_000_000_000_000n, 3n, 3n, 3n];
    });
    const duplicated = edited('duplicated-node.onnx', (m) => {
      m.graph!.node.splice(1, 0, create(NodeProtoSchema, m.graph!.node[0]!));
    });
    const twice = edited('output-twice.onnx', (m) => {
      m.graph!.node.splice(1, 0, create(NodeProtoSchema, { ...m.graph!.node[0]!, name: 'conv_again' }));
    });
    for (const [path, ...parts] of [
      [huge, "initializer 'conv.w'", "node 'conv' (Conv)", '1000000000000'],
      [duplicated, "node 'conv' (Conv)", 'two nodes are named'],
      [twice, "node 'conv_again' (Conv)", "output 'c' is already defined by node 'conv'"],
    ] as const) {
      for (const args of [['inspect', path], ['infer', '--model', path, '--input', input]]) {
        const r = slalom(...args);
        assertOneLineError(r, EXIT_CODES.SLALOM_ERR_MALFORMED_MODEL, ...parts);
        assert.doesNotMatch(r.stderr, /onnxruntime|\x1b\[/, 'no onnxruntime log line');
      }
    }
  });

  it("onnxruntime's own log lines reach the terminal only when SLALOM_ORT_LOG asks for them (issue 11, defect 7)", () => {
    const m = fromBinary(ModelProtoSchema, smallModel());
    m.graph!.initializer.push(create(TensorProtoSchema, { name: 'unused', dims: [2n], dataType: 1, floatData: [1, 2] }));
    const path = join(dir, 'unused-initializer.onnx');
    writeFileSync(path, toBinary(ModelProtoSchema, m));
    const quiet = slalom('infer', '--model', path, '--input', input, '--calibration', input, '--json');
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.equal(quiet.stderr, '', 'onnxruntime warned on the terminal');
    const loud = slalomWith({ SLALOM_ORT_LOG: 'warning' }, 'infer', '--model', path, '--input', input, '--json');
    assert.equal(loud.status, 0, loud.stderr);
    assert.match(loud.stderr, /Removing initializer 'unused'/);
    assertOneLineError(slalomWith({ SLALOM_ORT_LOG: 'chatty' }, 'infer', '--model', path, '--input', input), 2, 'SLALOM_ORT_LOG');
  });

  it('NaN or ±Infinity in an input .npy → exit 2 naming the input (issue 11, defect 8)', () => {
    for (const [name, bad] of [['nan', Number.NaN], ['inf', Number.POSITIVE_INFINITY], ['ninf', Number.NEGATIVE_INFINITY]] as const) {
      const data = Float64Array.from(x.data);
      data[17] = bad;
      const path = join(dir, `${name}.npy`);
      writeFileSync(path, writeNpy(tensor(x.dims, data), 'float32'));
      assertOneLineError(slalom('infer', '--model', model, '--input', path), EXIT_CODES.SLALOM_ERR_INVALID_ARG, `input ${path}`, 'element 17', String(bad));
      assertOneLineError(slalom('compare', '--model', model, '--inputs', path), EXIT_CODES.SLALOM_ERR_INVALID_ARG, path, 'element 17');
    }
  });

  it('a file that is not ONNX → exit 3 (malformed model)', () => {
    const path = join(dir, 'garbage.onnx');
    writeFileSync(path, 'definitely not protobuf\n');
    assertOneLineError(slalom('inspect', path), EXIT_CODES.SLALOM_ERR_MALFORMED_MODEL);
  });
});
