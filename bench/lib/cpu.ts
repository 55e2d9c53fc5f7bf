/** The CPU model and its SIMD and crypto features (from /proc/cpuinfo's flags where there is one), for the report's header; and the scheduler's per-thread CPU time. */
import { readdirSync, readFileSync } from 'node:fs';
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

/**
 * Linux's scheduler statistics of this thread (`/proc/thread-self/schedstat`), or of every thread of
 * the process summed (`all`): milliseconds on a CPU, and milliseconds ready but waiting for one (what
 * other jobs on a shared machine cost a wall-clock timing). Undefined where /proc does not say.
 */
export function schedstat(all = false): { readonly cpuMs: number; readonly waitMs: number } | undefined {
  try {
    const files = all ? readdirSync('/proc/self/task').map((t) => `/proc/self/task/${t}/schedstat`) : ['/proc/thread-self/schedstat'];
    let [cpu, wait] = [0, 0];
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch {
        continue; // a thread that ended since the listing
      }
      const [c, w] = text.trim().split(/\s+/).map(Number);
      if (!Number.isFinite(c) || !Number.isFinite(w)) return undefined;
      [cpu, wait] = [cpu + c!, wait + w!];
    }
    return { cpuMs: cpu / 1e6, waitMs: wait / 1e6 };
  } catch {
    return undefined;
  }
}
