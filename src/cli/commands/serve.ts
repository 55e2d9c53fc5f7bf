/**
 * `slalom serve --model m.slalom [--model m2.onnx …] --mode … --port P`: the trusted runtime as an
 * inference service for clients (serve/server.ts). Runs until SIGTERM or SIGINT, then finishes what
 * is queued and exits.
 */
import { noneProvider } from '../../attest/attestation.js';
import { InvalidArgumentError } from '../../errors.js';
import { isMode, MODES, type Mode } from '../../runtime/modes.js';
import { EMPTY_POLICIES, type EmptyPolicy, type ServedModelConfig, type ServedPads } from '../../serve/served-model.js';
import { TrustedServer } from '../../serve/server.js';
import { acceleratorFromFlags, loadModelFromFlags, parseInteger, parseKernels, parsePadSource, parsePositive, parseVerifyFlags, trustedStateOptions, type ModelFlags, type SessionFlags } from '../options.js';
import { onSignals } from '../signals.js';

interface ServeFlags extends ModelFlags, Pick<SessionFlags, 'check' | 'repetitions' | 'soundnessBits' | 'onFailure' | 'kernels' | 'accelerator' | 'acceleratorTimeoutMs' | 'acceleratorFallback' | 'state' | 'monotonicCounter'> {
  model: string[];
  mode: string;
  pads: string;
  padPool: string;
  store?: string[];
  port: string;
  host: string;
  lanes: string;
  maxQueue: string;
  onEmpty: string;
  refill: boolean;
  refillLow: string;
  refillHigh: string;
  maxBodyMb: string;
  requestTimeoutMs: string;
  attestation: string;
  top: string;
  maxGenerateTokens: string;
  quiet?: boolean;
}

/** Starts the service and resolves once a SIGTERM/SIGINT has shut it down. */
export async function serveModels(flags: ServeFlags): Promise<void> {
  if (!isMode(flags.mode)) throw new InvalidArgumentError(`--mode must be one of ${MODES.join(', ')}, got '${flags.mode}'`);
  const mode: Mode = flags.mode;
  if (flags.onFailure !== 'abort' && flags.onFailure !== 'recompute') throw new InvalidArgumentError(`--on-failure must be abort or recompute, got '${flags.onFailure}'`);
  if (!(EMPTY_POLICIES as readonly string[]).includes(flags.onEmpty)) throw new InvalidArgumentError(`--on-empty must be one of ${EMPTY_POLICIES.join(', ')}, got '${flags.onEmpty}'`);
  if (flags.attestation !== 'none') throw new InvalidArgumentError(`--attestation must be none (the development provider; a TEE's provider plugs into the library), got '${flags.attestation}'`);
  const isPrivate = mode === 'private' || mode === 'private+verified';
  const stores = flags.store ?? [];
  const memory = parsePadSource(flags.pads, stores.length > 0) === 'memory';
  if (isPrivate && !memory && stores.length !== flags.model.length) throw new InvalidArgumentError(`--mode ${mode} needs one --store per --model (${flags.model.length} models, ${stores.length} stores), or --pads memory`);
  const capacity = parsePositive(flags.padPool, '--pad-pool', true);
  const low = parsePositive(flags.refillLow, '--refill-low', true);
  const high = parsePositive(flags.refillHigh, '--refill-high', true);
  if (high < low) throw new InvalidArgumentError(`--refill-high (${high}) must be at least --refill-low (${low})`);
  const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const kernels = parseKernels(flags.kernels);
  const verify = parseVerifyFlags(flags);
  const onEmpty = flags.onEmpty as EmptyPolicy;
  // One pool per model, filling itself in idle time; or model k's store, refilled by a child between the water marks.
  const padsOf = (k: number): ServedPads =>
    memory
      ? { source: 'memory', capacity, onEmpty }
      : { store: stores[k]!, ...(flags.state !== undefined ? { stateDir: flags.state } : {}), ...trustedStateOptions(flags), onEmpty, refill: flags.refill ? { lowWater: low, highWater: high } : false };
  const models: ServedModelConfig[] = [];
  for (const [k, path] of flags.model.entries()) {
    const model = await loadModelFromFlags(path, flags);
    const accelerator = mode === 'baseline' ? undefined : (await acceleratorFromFlags(flags, model)).accelerator;
    models.push({
      model,
      mode,
      lanes: parsePositive(flags.lanes, '--lanes', true),
      maxQueue: parsePositive(flags.maxQueue, '--max-queue', true),
      ...(accelerator !== undefined ? { accelerator } : {}),
      ...(isPrivate ? { pads: padsOf(k) } : {}),
      session: { verify, onFailure: flags.onFailure, kernels },
    });
  }
  const server = await TrustedServer.start({
    models,
    port: parseInteger(flags.port, '--port', { min: 0, max: 65535 }),
    host: flags.host,
    maxBodyBytes: Math.round(parsePositive(flags.maxBodyMb, '--max-body-mb') * 2 ** 20),
    requestTimeoutMs: parsePositive(flags.requestTimeoutMs, '--request-timeout-ms', true),
    attestation: noneProvider,
    top: parsePositive(flags.top, '--top', true),
    maxGenerateTokens: parsePositive(flags.maxGenerateTokens, '--max-generate-tokens', true),
    log,
  });
  // The one line a script waits for, on stdout.
  process.stdout.write(`listening on ${server.url}\n`);
  await onSignals(log, () => server.close());
}

/** `slalom serve`. */
export const run = serveModels;
