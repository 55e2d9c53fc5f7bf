/**
 * Issue 5's acceptance, process to process: `slalom accelerator serve` in child processes and
 * `slalom infer --accelerator …` in another give logits bit-identical to the baseline for the
 * Fashion-MNIST model in modes private+verified and verified — with the server loading the layers from
 * an exported model repository, with layers uploaded by the client, and with one of two accelerators
 * dead (failover, a warning on stderr). Every process is started here, on 127.0.0.1 only, and killed
 * by its pid when the test ends. Issue 11: through a proxy that corrupts replies, `--on-failure abort`
 * ends with exit 4 and no output even with `--accelerator-fallback local` (defect 5); through one that
 * answers the first request with a 500, a private+verified inference still succeeds (defect 6).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadInputTensor } from '../../src/io/image.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { fillPads, tempDir } from '../blind/blind-helpers.js';

const MODEL = 'models/fashion-mnist.onnx';
const IMAGE = 'examples/fashion-mnist-0-boot.png';
const children: ChildProcess[] = [];
let dir: string;
let baseline: number[];

interface Done {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function slalom(args: string[], timeoutMs = 60_000): Promise<Done> {
  const child = spawn(process.execPath, ['bin/slalom.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `slalom accelerator serve --port 0 …` and resolves with its URL once it listens. */
async function serve(extra: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['bin/slalom.js', 'accelerator', 'serve', '--port', '0', '--quiet', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the accelerator did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`the accelerator exited with ${code}: ${out}`)));
  });
  return { url, child };
}

async function deadUrl(): Promise<string> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * An accelerator in front of `target` that forwards everything, except that infer replies are
 * corrupted ('lie': one output value changed) or the first infer request gets a 500 ('flaky').
 */
async function proxy(target: string, behavior: 'lie' | 'flaky'): Promise<{ url: string; infers: () => number; close: () => void }> {
  let infers = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const isInfer = /\/infer$/.test(req.url ?? '');
      if (isInfer) infers++;
      if (isInfer && behavior === 'flaky' && infers === 1) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"transient"}');
        return;
      }
      const headers = { ...req.headers };
      delete headers.host;
      const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers }, (up: IncomingMessage) => {
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          const bytes = Buffer.concat(body);
          const h = Number(up.headers['inference-header-content-length']);
          if (isInfer && behavior === 'lie' && up.statusCode === 200 && h > 0) {
            // The first output value + 1 mod p, in the reply's own datatype (UINT32 from slalom's server, FP64 from older ones).
            const wide = JSON.parse(bytes.subarray(0, h).toString('utf8')).outputs?.[0]?.datatype === 'FP64';
            if (wide) bytes.writeDoubleLE((bytes.readDoubleLE(h) + 1) % 16_777_213, h);
            else bytes.writeUInt32LE((bytes.readUInt32LE(h) + 1) % 16_777_213, h);
          }
          res.writeHead(up.statusCode ?? 502, up.headers).end(bytes);
        });
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, infers: () => infers, close: () => server.close() };
}

async function infer(mode: string, accelerators: string[]): Promise<{ logits: number[]; done: Done }> {
  const args = ['infer', '--model', MODEL, '--input', IMAGE, '--mode', mode, '--json', '--accelerator', accelerators.join(','), '--accelerator-timeout-ms', '5000'];
  if (mode.startsWith('private')) args.push('--store', join(dir, 'store'), '--state', join(dir, 'state'));
  const done = await slalom(args);
  assert.equal(done.code, 0, `slalom infer failed: ${done.stderr}`);
  return { logits: (JSON.parse(done.stdout) as { logits: number[] }).logits, done };
}

before(async () => {
  dir = tempDir('http-cli');
  const model = await SlalomModel.load(MODEL);
  const x = await loadInputTensor(IMAGE, { preprocess: model.info.preprocess, expectDims: model.inputDims });
  baseline = Array.from((await model.infer(x)).logits);
  await fillPads(model, join(dir, 'state'), join(dir, 'store'), 6);
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('slalom infer --accelerator against slalom accelerator serve', () => {
  it('layers uploaded by the client: private+verified and verified are bit-identical to baseline', async () => {
    const { url, child } = await serve();
    for (const mode of ['private+verified', 'verified']) {
      const { logits } = await infer(mode, [url]);
      assert.deepEqual(logits, baseline, mode);
    }
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  it('layers from an exported model repository (slalom export), two accelerators', async () => {
    const repo = join(dir, 'repo');
    const exported = await slalom(['export', '--model', MODEL, '--out', repo]);
    assert.equal(exported.code, 0, exported.stderr);
    const a = await serve(['--model-repository', repo]);
    const b = await serve(['--model-repository', repo, '--no-preload']);
    const { logits } = await infer('private+verified', [a.url, b.url]);
    assert.deepEqual(logits, baseline);
    for (const s of [a, b]) {
      const stats = (await (await fetch(`${s.url}/v2/slalom/stats`)).json()) as { models: Record<string, { requests: number }> };
      assert.equal(Object.keys(stats.models).length, 5, 'the five layers of the repository are loaded');
    }
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
  });

  it('one of two accelerators dead: the other answers, a warning names the dead one', async () => {
    const dead = await deadUrl();
    const { url, child } = await serve();
    const { logits, done } = await infer('private+verified', [dead, url]);
    assert.deepEqual(logits, baseline);
    assert.match(done.stderr, new RegExp(`warning: accelerator ${dead.replace(/[.:/]/g, '\\$&')}`));
    child.kill('SIGTERM');
  });

  it('a lying accelerator under --on-failure abort: exit 4 and no output, even with --accelerator-fallback local (issue 11, defect 5)', async () => {
    const { url, child } = await serve();
    const liar = await proxy(url, 'lie');
    try {
      for (const fallback of ['fail', 'local']) {
        const done = await slalom(['infer', '--model', MODEL, '--input', IMAGE, '--mode', 'verified', '--json', '--accelerator', liar.url, '--on-failure', 'abort', '--accelerator-fallback', fallback]);
        assert.equal(done.code, 4, `--accelerator-fallback ${fallback}: ${done.stderr}`);
        assert.equal(done.stdout, '', 'no output');
        assert.match(done.stderr, /Freivalds|integrity|check/i);
      }
    } finally {
      liar.close();
      child.kill('SIGTERM');
    }
  });

  it('a transient HTTP 500 from the only accelerator: private+verified still gives the baseline (issue 11, defect 6)', async () => {
    const { url, child } = await serve();
    const flaky = await proxy(url, 'flaky');
    try {
      const { logits } = await infer('private+verified', [flaky.url]);
      assert.deepEqual(logits, baseline);
      assert.ok(flaky.infers() > 1, 'the request was sent again');
    } finally {
      flaky.close();
      child.kill('SIGTERM');
    }
  });

  it('no accelerator reachable: exit status 6 (TransportError); with --accelerator-fallback local the result is still right', async () => {
    const dead = await deadUrl();
    const failed = await slalom(['infer', '--model', MODEL, '--input', IMAGE, '--mode', 'verified', '--json', '--accelerator', dead]);
    assert.equal(failed.code, 6, failed.stderr);
    assert.match(failed.stderr, /no accelerator could register/);
    const done = await slalom(['infer', '--model', MODEL, '--input', IMAGE, '--mode', 'verified', '--json', '--accelerator', dead, '--accelerator-fallback', 'local']);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual((JSON.parse(done.stdout) as { logits: number[] }).logits, baseline);
  });
});
