/** The CPU model and its SIMD and crypto features (from /proc/cpuinfo's flags where there is one), for the report's header. */
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
