/**
 * `slalom accelerator serve --port P …`: the untrusted accelerator as an Open Inference Protocol
 * server (accel/http/server.ts). Runs until SIGTERM or SIGINT, then finishes queued requests and exits.
 */
import type { Command } from 'commander';
import { AcceleratorServer } from '../../accel/http/server.js';
import { backendForms, backendRequest } from '../../accel/registry.js';
import type { AdapterChoice } from '../../accel/webgpu/device.js';
import { InvalidArgumentError } from '../../errors.js';
import { parseKernels, parsePositive } from '../options.js';

interface ServeFlags {
  port: string;
  host: string;
  backend: string;
  kernels: string;
  modelRepository?: string;
  preload: boolean;
  threads: string;
  maxBatch: string;
  maxDelayMs: string;
  maxQueue: string;
  maxBodyMb: string;
  maxLoadMb: string;
  requestTimeoutMs: string;
  quiet?: boolean;
}

function nonNegativeInt(text: string, flag: string): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer, got '${text}'`);
  return v;
}

/** `--backend name[:variant]`: a backend of accel/registry.ts that computes in-process (onnxruntime, reference, webgpu[:gpu|auto|software]). */
export function parseServeBackend(text: string): { backend: string; adapter?: AdapterChoice } {
  const [backend, variant, ...rest] = text.split(':');
  try {
    if (rest.length > 0) throw new InvalidArgumentError('too many colons');
    backendRequest(backend!, variant, {}, 'kernels');
  } catch {
    throw new InvalidArgumentError(`--backend must be one of ${backendForms('kernels').join(', ')}, got '${text}'`);
  }
  return { backend: backend!, ...(variant !== undefined ? { adapter: variant as AdapterChoice } : {}) };
}

/** Starts the server and resolves once a SIGTERM/SIGINT has shut it down. */
export async function serveAccelerator(flags: ServeFlags): Promise<void> {
  const backend = parseServeBackend(flags.backend);
  const port = nonNegativeInt(flags.port, '--port');
  if (port > 65535) throw new InvalidArgumentError(`--port must be at most 65535, got ${port}`);
  const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = await AcceleratorServer.start({
    port,
    host: flags.host,
    ...backend,
    kernels: parseKernels(flags.kernels),
    ...(flags.modelRepository !== undefined ? { modelRepository: flags.modelRepository } : {}),
    preload: flags.preload,
    threads: parsePositive(flags.threads, '--threads', true),
    maxBatch: parsePositive(flags.maxBatch, '--max-batch', true),
    maxDelayMs: nonNegativeInt(flags.maxDelayMs, '--max-delay-ms'),
    maxQueue: parsePositive(flags.maxQueue, '--max-queue', true),
    maxBodyBytes: Math.round(parsePositive(flags.maxBodyMb, '--max-body-mb') * 2 ** 20),
    maxLoadBytes: Math.round(parsePositive(flags.maxLoadMb, '--max-load-mb') * 2 ** 20),
    requestTimeoutMs: parsePositive(flags.requestTimeoutMs, '--request-timeout-ms', true),
    log,
  });
  // The one line a script waits for, on stdout.
  process.stdout.write(`listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: shutting down`);
      void server.close().then(resolve, resolve);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

export function registerAccelerator(program: Command): void {
  const accelerator = program.command('accelerator').description('the untrusted accelerator as a service');
  accelerator
    .command('serve')
    .description('serve linear layers over the Open Inference Protocol (KServe v2 REST, binary tensors, repository extension)')
    .requiredOption('--port <n>', 'TCP port (0: any free port)')
    .option('--host <addr>', 'interface to bind', '127.0.0.1')
    .option('--backend <name>', `how layers are computed: ${backendForms('kernels').join(', ')} — onnxruntime (each layer's exact ONNX graph), reference (slalom's CPU kernels), webgpu (a GPU; webgpu:auto falls back to the software adapter, webgpu:software uses it)`, 'onnxruntime')
    .option('--kernels <impl>', 'exact kernels of the reference backend: ort, js', 'ort')
    .option('--model-repository <dir>', 'repository written by `slalom export`, to load models from')
    .option('--no-preload', 'do not load every repository model at start-up (clients load them)')
    .option('--threads <n>', 'onnxruntime intra-op threads', '1')
    .option('--max-batch <n>', 'most items (sum of batch axes) merged into one batch', '8')
    .option('--max-delay-ms <ms>', 'longest a request waits for others to join its batch', '2')
    .option('--max-queue <n>', 'most requests queued per layer before 503 + Retry-After', '64')
    .option('--max-body-mb <mb>', 'largest inference request body', '64')
    .option('--max-load-mb <mb>', 'largest model upload (repository load request)', '1024')
    .option('--request-timeout-ms <ms>', 'longest a request may take to arrive or wait in a queue', '30000')
    .option('--quiet', 'no log lines on stderr')
    .action(serveAccelerator);
}
