/**
 * The trusted runtime's WebAssembly SIMD kernels (AssemblyScript, built by `npm run build:wasm`
 * into build/simd.wasm; loaded by src/simd/module.ts), one file per owner: residues.ts (the gate's
 * range checks), requantize.ts (quant/), freivalds.ts (verify/), blind.ts (blind/), pool.ts (the
 * float pools), attention.ts (graph/decoder/), and the one fused pass per layer boundary that combines them (boundary.ts,
 * boundary-pool.ts). Plain TypeScript runs such passes at 3–6 ns per value: V8 does not vectorize.
 *
 * The module imports its memory (shared, so that it can grow without detaching the views the
 * trusted runtime holds into it): src/simd/arena.ts owns every byte above __heap_base.
 */
export { heapBase } from './boundary';
export { boundaryPass } from './boundary';
export { dots2 } from './freivalds';
export { countRejected, wordsToResidues } from './blind';
export { residuesBelowP, residuesFromF64, packedBelowP } from './residues';
export { maxPool2x2, maxPool3x3s2p1 } from './pool';
export { attendRows } from './attention';
