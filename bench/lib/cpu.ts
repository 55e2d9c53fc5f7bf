/** The CPU model and its SIMD and crypto features (from /proc/cpuinfo's flags where there is one), for the report's header; and the scheduler's per-thread CPU time. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const FEATURE = /^(sse4_1|sse4_2|ssse3|avx|avx2|fma|f16c|avx512\w*|avx_vnni|amx\w*|aes|vaes|pclmulqdq|vpclmulqdq|sha_ni|asimd|sve\w*|neon)$/;

export function cpuFeatures(): { readonly model: string; readonly simd: readonly string[] } {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { model, simd: [] };
  }
  const line = info.split('\n').find((l) => /^(flags|Features)\s*:/.test(l)) ?? '';
  const flags = line.slice(line.indexOf(':') + 1).trim().split(/\s+/);
  return { model, simd: flags.filter((f) => FEATURE.test(f)) };
}

export interface Schedstat {
  /** Milliseconds on a CPU. */
  readonly cpuMs: number;
  /** Milliseconds ready to run but waiting for a CPU: what other jobs on a shared machine add to a wall-clock timing. */
  readonly waitMs: number;
}

/**
 * Linux's scheduler statistics of the calling thread (`/proc/thread-self/schedstat`); undefined where /proc does not
 * say. The kernel brings a running thread's figures up to date at its switches and ticks, so an interval in which the
 * thread never switched reads short by up to a tick.
 */
export function schedstat(): Schedstat | undefined {
  return readSchedstat('/proc/thread-self/schedstat');
}

function readSchedstat(path: string): Schedstat | undefined {
  try {
    const [cpu, wait] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    return Number.isFinite(cpu) && Number.isFinite(wait) ? { cpuMs: cpu! / 1e6, waitMs: wait! / 1e6 } : undefined;
  } catch {
    return undefined;
  }
}
