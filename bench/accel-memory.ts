/**
 * Memory of the accelerator service under big requests (issue 11, defect 4), reproduced as the issue
 * measured it: `slalom accelerator serve` (a child process, onnxruntime backend) with the Fashion-MNIST
 * repository; its RSS (from GET /v2/slalom/stats, sampled every 25 ms) before, at the peak and after
 *   1. one binary request [1000, 1, 28, 28] (6.3 MB) to the first convolution;
 *   2. a burst of 8 concurrent requests [1100, 1, 28, 28] (6.9 MB each);
 *   3. an idle pause (--idle-s, default 30).
 *
 *     npx tsx bench/accel-memory.ts [--idle-s 30] [--repo-root <checkout>]
 *
 * --repo-root runs another checkout's `bin/slalom.js` (e.g. the code before the fix) with this script.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { exportModelRepository } from '../src/accel/http/export.js';
import { P } from '../src/field/prime.js';
import { SlalomModel } from '../src/runtime/model.js';
import { publicLayers } from '../src/runtime/session.js';

const { values } = parseArgs({ options: { 'idle-s': { type: 'string', default: '30' }, 'repo-root': { type: 'string', default: '.' } } });
const idleS = Number(values['idle-s']);
const root = resolve(values['repo-root']!);

function post(url: string, path: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end(body);
  });
}

function rss(url: string): Promise<number> {
  return new Promise((done, fail) => {
    request(`${url}/v2/slalom/stats`, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => done((JSON.parse(text) as { rssBytes: number }).rssBytes));
    })
      .on('error', fail)
      .end();
  });
}

function binaryRequest(items: number): { body: Buffer; headers: Record<string, string> } {
  const x = new Float64Array(items * 784);
  for (let i = 0; i < x.length; i++) x[i] = (i * 2_654_435_761) % P;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [items, 1, 28, 28], parameters: { binary_data_size: x.byteLength } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] }));
  return { body: Buffer.concat([header, Buffer.from(x.buffer)]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } };
}

/** Runs `work` while sampling RSS; returns the statuses and the peak. */
async function sampled<T>(url: string, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = await rss(url);
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await rss(url).catch(() => 0));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const result = await work();
  running = false;
  await sampler;
  return { result, peak };
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;

const dir = mkdtempSync(join(tmpdir(), 'slalom-accel-memory-'));
const model = await SlalomModel.load('models/fashion-mnist.onnx');
const index = exportModelRepository({ name: model.name, modelHash: model.weightsHash, layers: publicLayers(model.quantized).map((l, i) => ({ ...l, inDims: model.quantized.layers[i]!.inDims })) }, join(dir, 'repo'));
const child = spawn(process.execPath, [join(root, 'bin/slalom.js'), 'accelerator', 'serve', '--port', '0', '--model-repository', join(dir, 'repo')], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
try {
  const url = await new Promise<string>((done) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) done(m[1]!);
    });
  });
  const conv1 = `/v2/models/${index.layers[0]}/infer`;
  const start = await rss(url);
  const one = binaryRequest(1000);
  const single = await sampled(url, () => post(url, conv1, one.body, one.headers));
  const afterSingle = await rss(url);
  const burstBody = binaryRequest(1100);
  const burst = await sampled(url, () => Promise.all(Array.from({ length: 8 }, () => post(url, conv1, burstBody.body, burstBody.headers))));
  const afterBurst = await rss(url);
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const idle = await rss(url);
  process.stdout.write(
    [
      `code: ${root} (${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version})`,
      `start RSS ${mb(start)}`,
      `one [1000,1,28,28] request (${mb(one.body.length)}): status ${single.result}, peak RSS ${mb(single.peak)}, after ${mb(afterSingle)}`,
      `8 concurrent [1100,1,28,28] requests (${mb(burstBody.body.length)} each): statuses ${burst.result.join(',')}, peak RSS ${mb(burst.peak)}, after ${mb(afterBurst)}`,
      `after ${idleS} s idle: RSS ${mb(idle)}`,
      '',
    ].join('\n'),
  );
} finally {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
