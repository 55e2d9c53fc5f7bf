/**
 * `slalom accelerator serve` and `slalom serve` as child processes on 127.0.0.1 (port 0: any free
 * port), for the load tests and the harness's loopback-service runs. Every child started here is
 * SIGKILLed if this process exits or is interrupted before stopping it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Accelerator {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
}

/** Resolved from this file, so the harness works from any working directory. */
const SLALOM_BIN = new URL('../../bin/slalom.js', import.meta.url).pathname;
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 15_000;

const children = new Set<ChildProcess>();
/** SIGKILLs every accelerator still running (a live child keeps the event loop, so a failed run must call it). */
export const killAll = (): void => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Starts one accelerator (onnxruntime backend, one thread, no log lines) and resolves with its URL once it listens. */
export function startAccelerator(name: string, options: { readonly maxBatch?: number } = {}): Promise<Accelerator> {
  const args = ['accelerator', 'serve', '--port', '0', '--host', '127.0.0.1', '--backend', 'onnxruntime', '--threads', '1', '--quiet'];
  if (options.maxBatch !== undefined) args.push('--max-batch', String(options.maxBatch));
  return startService(name, args);
}

/** Starts `slalom <args>` (a server that prints `listening on <url>` on stdout) and resolves with its URL once it listens. */
export async function startService(name: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Accelerator> {
  const child = spawn(process.execPath, [SLALOM_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) before listening`));
      });
    });
    return { name, url, child };
  } catch (e) {
    // A child that never listened is no one's to stop.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw e;
  }
}

/** SIGTERM (it finishes queued requests), SIGKILL if it has not exited after a grace period. */
export async function stopAccelerator(a: Accelerator): Promise<void> {
  if (a.child.exitCode !== null || a.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => a.child.once('exit', () => resolve()));
  a.child.kill('SIGTERM');
  const timer = setTimeout(() => a.child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
