/**
 * The pad ciphers alone (bench/lib/ciphers.ts): `npx tsx bench/ciphers.ts`. The full bench
 * (bench/run.ts) measures the same and puts the numbers in REPORT.md.
 */
import { measureCiphers } from './lib/ciphers.js';
import { cpuFeatures } from './lib/cpu.js';

const { model, simd } = cpuFeatures();
process.stdout.write(`${model}; SIMD/crypto: ${simd.join(' ') || 'none listed'}\n`);
for (const c of measureCiphers()) {
  process.stdout.write(`${c.cipher.padEnd(18)} ${String(c.pieceBytes).padStart(8)} B pieces  ${(c.bytesPerS / 1e9).toFixed(2).padStart(6)} GB/s  ${c.role}\n`);
}
