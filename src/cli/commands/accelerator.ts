/**
 * `slalom accelerator serve --port P …`: the untrusted accelerator as an Open Inference Protocol
 * server (accel/http/server.ts). Runs until SIGTERM or SIGINT, then finishes queued requests and exits.
 */
import { ACCELERATOR_TOKEN_ENV } from '../../accel/http/protocol.js';
import { aToken } from '../../accel/http/server-options.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AcceleratorServer } from '../../accel/http/server.js';
import { backendForms, backendRequest } from '../../accel/registry.js';
import type { AdapterChoice } from '../../accel/webgpu/device.js';
import { InvalidArgumentError } from '../../errors.js';
import { parseInteger, parseKernels, parsePositive } from '../options.js';
import { onSignals } from '../signals.js';

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
  maxLoadedMb: string;
  maxLoadedLayers: string;
  token?: string;
  quiet?: boolean;
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

/** `--token`, else SLALOM_ACCELERATOR_TOKEN (which keeps it out of the process list). */
function tokenOf(flag: string | undefined): { token?: string } {
  const token = flag ?? process.env[ACCELERATOR_TOKEN_ENV];
  if (token === undefined || token === '') return {};
  try {
    return { token: aToken(token) };
  } catch (e) {
    throw new InvalidArgumentError(`${flag !== undefined ? '--token' : ACCELERATOR_TOKEN_ENV}: ${(e as Error).message}`);
  }
}

/** Starts the server and resolves once a SIGTERM/SIGINT has shut it down. */
export async function serveAccelerator(flags: ServeFlags): Promise<void> {
  const backend = parseServeBackend(flags.backend);
  const port = parseInteger(flags.port, '--port', { min: 0, max: 65535 });
  const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  if (flags.modelRepository !== undefined) checkModelRepository(flags.modelRepository);
  const server = await AcceleratorServer.start({
    port,
    host: flags.host,
    ...backend,
    kernels: parseKernels(flags.kernels),
    ...(flags.modelRepository !== undefined ? { modelRepository: flags.modelRepository } : {}),
    preload: flags.preload,
    threads: parsePositive(flags.threads, '--threads', true),
    maxBatch: parsePositive(flags.maxBatch, '--max-batch', true),
    maxDelayMs: parseInteger(flags.maxDelayMs, '--max-delay-ms', { min: 0 }),
    maxQueue: parsePositive(flags.maxQueue, '--max-queue', true),
    maxBodyBytes: Math.round(parsePositive(flags.maxBodyMb, '--max-body-mb') * 2 ** 20),
    maxLoadBytes: Math.round(parsePositive(flags.maxLoadMb, '--max-load-mb') * 2 ** 20),
    requestTimeoutMs: parsePositive(flags.requestTimeoutMs, '--request-timeout-ms', true),
    maxLoadedBytes: Math.round(parsePositive(flags.maxLoadedMb, '--max-loaded-mb') * 2 ** 20),
    maxLoadedLayers: parsePositive(flags.maxLoadedLayers, '--max-loaded-layers', true),
    ...tokenOf(flags.token),
    log,
  });
  // The one line a script waits for, on stdout.
  process.stdout.write(`listening on ${server.url}\n`);
  await onSignals(log, () => server.close());
}

/**
 * A mistyped `--model-repository` must not start a server that silently serves nothing: a missing
 * directory is refused, one without any model (`<name>/1/model.onnx`) is warned about.
 */
function checkModelRepository(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError(`--model-repository ${dir} is not a directory (export one with \`slalom export --model <m> --out ${dir}\`)`);
  const models = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, '1', 'model.onnx')));
  if (models.length === 0) process.stderr.write(`warning: the model repository ${dir} holds no models (<name>/1/model.onnx); clients must upload their layers (\`slalom export --model <m> --out ${dir}\` fills it)\n`);
}

/** `slalom accelerator serve`. */
export const run = serveAccelerator;
