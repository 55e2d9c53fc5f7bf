/** Options of the trusted inference service (server.ts) and their defaults; a bad value is an InvalidArgumentError naming it. */
import type { AttestationProvider } from '../attest/attestation.js';
import { noneProvider } from '../attest/attestation.js';
import { InvalidArgumentError } from '../errors.js';
import type { ServedModelConfig } from './served-model.js';

const MIB = 1 << 20;

export interface TrustedServerOptions {
  /** The models to serve (at least one; names must differ). */
  readonly models: readonly ServedModelConfig[];
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Largest request body (default 64 MiB). */
  readonly maxBodyBytes?: number;
  /** Most JSON objects and arrays in one body (default 2^20). */
  readonly maxJsonContainers?: number;
  /** Largest input tensor, in elements (default 2^24). */
  readonly maxTensorElements?: number;
  /** Longest a request may take to arrive, or wait for a lane and a pad (default 60 s). */
  readonly requestTimeoutMs?: number;
  /** Largest request head (default 16 KiB; more is 431). */
  readonly maxHeaderBytes?: number;
  /** Most open connections (default 1024). */
  readonly maxConnections?: number;
  /** Who attests the service's keys (default `none`: development only, signs nothing). */
  readonly attestation?: AttestationProvider;
  /** How far an encrypted request's timestamp may be from the clock, and how long its enc is remembered (default 120 s). */
  readonly replayWindowMs?: number;
  /** Predictions per item in `top_k` (default 5). */
  readonly top?: number;
  /** Most tokens one generation may ask for (`max_tokens`; default 256, more is 400). */
  readonly maxGenerateTokens?: number;
  /** One line per event worth logging (start, stop, refill errors); default none. */
  readonly log?: (line: string) => void;
}

export type ResolvedTrustedOptions = Required<Omit<TrustedServerOptions, 'log'>> & { log: (line: string) => void };

export function resolveTrustedOptions(o: TrustedServerOptions): ResolvedTrustedOptions {
  const int = (v: number | undefined, def: number, what: string, min = 1): number => {
    const x = v ?? def;
    if (!Number.isSafeInteger(x) || x < min) throw new InvalidArgumentError(`${what} must be an integer ≥ ${min}, got ${String(v)}`);
    return x;
  };
  if (o.models.length === 0) throw new InvalidArgumentError('serve at least one model');
  const names = o.models.map((m) => m.name ?? m.model.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new InvalidArgumentError(`two models are named '${dup}'; give each its own name`);
  for (const n of names) if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(n)) throw new InvalidArgumentError(`model name '${n.slice(0, 64)}' must be letters, digits, '_', '.' or '-'`);
  return {
    models: o.models,
    port: int(o.port, 0, 'port', 0),
    host: o.host ?? '127.0.0.1',
    maxBodyBytes: int(o.maxBodyBytes, 64 * MIB, 'maxBodyBytes'),
    maxJsonContainers: int(o.maxJsonContainers, 1 << 20, 'maxJsonContainers'),
    maxTensorElements: int(o.maxTensorElements, 1 << 24, 'maxTensorElements'),
    requestTimeoutMs: int(o.requestTimeoutMs, 60_000, 'requestTimeoutMs'),
    maxHeaderBytes: int(o.maxHeaderBytes, 16 * 1024, 'maxHeaderBytes', 1024),
    maxConnections: int(o.maxConnections, 1024, 'maxConnections'),
    attestation: o.attestation ?? noneProvider,
    replayWindowMs: int(o.replayWindowMs, 120_000, 'replayWindowMs'),
    top: int(o.top, 5, 'top'),
    maxGenerateTokens: int(o.maxGenerateTokens, 256, 'maxGenerateTokens'),
    log: o.log ?? (() => {}),
  };
}
