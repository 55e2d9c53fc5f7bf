/**
 * The HTTP layer against fastify (issue 15, deliverable 7: "measure and say which"): the same two
 * endpoints — a small GET and a POST whose body is read under a streaming byte limit — on
 * src/http/service.ts (node:http) and on fastify (bodyLimit), loaded by the same keep-alive client
 * loop in this process; plus whether a chunked body past the limit is cut off as it streams.
 *
 *   FASTIFY=/path/to/node_modules/fastify npx tsx bench/http-layer.ts
 *
 * fastify is not a dependency of slalom; the script skips it when FASTIFY is not set.
 */
import { cpus } from 'node:os';
import { request } from 'node:http';
import { readBody } from '../src/http/body.js';
import { HttpService } from '../src/http/service.js';

const LIMIT = 4 << 20;
const BODY = Buffer.alloc(1 << 20, 7);
const N = 2000;
const CONCURRENCY = 8;

async function load(url: string, method: 'GET' | 'POST', n = N): Promise<number> {
  if (n === N) await load(url, method, N / 10); // warm-up: the client's and the server's JIT, connections
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < n) {
        const res = await fetch(url, method === 'POST' ? { method, body: Uint8Array.from(BODY) } : {});
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
      }
    }),
  );
  return (1000 * n) / (performance.now() - start);
}

/** Sends a chunked body of 2 × LIMIT; resolves with the status and how many bytes were accepted by the socket before the answer. */
function overLimit(url: string): Promise<{ status: number; sentBeforeAnswer: number }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let sent = 0;
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, sentBeforeAnswer: sent });
      req.destroy();
    });
    req.on('error', (e) => (sent > LIMIT ? resolve({ status: 0, sentBeforeAnswer: sent }) : reject(e)));
    const chunk = Buffer.alloc(64 << 10);
    const pump = (): void => {
      while (sent < 2 * LIMIT) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const ours = new HttpService({ port: 0, host: '127.0.0.1', maxHeaderBytes: 16384, requestTimeoutMs: 30_000, maxConnections: 1024, metricsPrefix: 'bench' }, async (req, res) => {
    if (req.method === 'GET') return ours.sendJson(res, 200, { live: true });
    const body = await readBody(req, LIMIT);
    ours.sendJson(res, 200, { bytes: body.length });
  });
  await ours.listen();
  rows.push(`| node:http (src/http) | ${(await load(`${ours.url}/`, 'GET')).toFixed(0)} | ${(await load(`${ours.url}/`, 'POST')).toFixed(0)} | ${JSON.stringify(await overLimit(`${ours.url}/`))} |`);
  await ours.close({ finish: async () => {}, abandon: () => {}, release: async () => {} }, 100);
  const path = process.env['FASTIFY'];
  if (path !== undefined) {
    const { default: Fastify } = (await import(path)) as { default: (o: object) => any };
    const app = Fastify({ bodyLimit: LIMIT });
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req: unknown, body: Buffer, done: (e: null, b: Buffer) => void) => done(null, body));
    app.get('/', async () => ({ live: true }));
    app.post('/', async (req: { body: Buffer }) => ({ bytes: req.body.length }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    rows.push(`| fastify ${app.version} (bodyLimit) | ${(await load(`${url}/`, 'GET')).toFixed(0)} | ${(await load(`${url}/`, 'POST')).toFixed(0)} | ${JSON.stringify(await overLimit(`${url}/`))} |`);
    await app.close();
  }
  process.stdout.write(`${cpus()[0]?.model} (${cpus().length} cores), ${N} requests, ${CONCURRENCY} in flight\n\n| server | GET req/s | POST 1 MiB req/s | chunked 8 MiB past a 4 MiB limit |\n| --- | ---: | ---: | --- |\n${rows.join('\n')}\n`);
}

void main();
