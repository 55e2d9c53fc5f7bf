/**
 * Loads the trusted runtime's WebAssembly SIMD kernels (./assembly/, built into build/simd.wasm by
 * `npm run build:wasm`, which `npm ci` and `npm install` run) on a shared WebAssembly.Memory that
 * src/simd/arena.ts owns. Shared, because a shared memory grows in place: the views the trusted
 * runtime holds into it (its resident activations) stay valid when it grows, where a plain one
 * would detach every one of them. The memory is never given to another thread: the transports copy
 * what they send (accel/backend.ts says so, and test/accel/worker.test.ts checks it).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';

export interface SimdExports {
  heapBase(): number;
  boundaryPass(plan: number): void;
  dots2(x: number, wa: number, wb: number, n: number, out: number): void;
  countRejected(ks: number, words: number): number;
  wordsToResidues(ks: number, n: number, out: number): void;
  residuesBelowP(at: number, n: number): number;
  residuesFromF64(x: number, out: number, n: number): number;
  packedBelowP(bytes: number, n: number): number;
  maxPool2x2(x: number, out: number, pairs: number, width: number): void;
  maxPool3x3s2p1(x: number, out: number, planes: number, h: number, w: number, rows: number): void;
  attendRows(q: number, keys: number, values: number, heads: number, capacity: number, stride: number, rows: number, lasts: number, scores: number, out: number): void;
}

export interface SimdModule {
  readonly memory: WebAssembly.Memory;
  readonly kernels: SimdExports;
}

/** 4 GiB: wasm32's whole address space, reserved (not committed) up front by V8 for a shared memory. */
export const MAX_PAGES = 65536;
export const PAGE_BYTES = 65536;

// The same paths from src/simd/ (a checkout, under tsx) and dist/simd/ (compiled; the package ships
// build/simd.wasm beside dist/ but not the AssemblyScript sources).
const WASM_FILE = new URL('../../build/simd.wasm', import.meta.url);
const SOURCE_DIR = new URL('../../src/simd/assembly/', import.meta.url);
const SHARED_FIELDS = new URL('../../src/simd/boundary-fields.ts', import.meta.url);
const REBUILD = "run 'npm run build:wasm' (npm ci and npm install run it)";
let loaded: SimdModule | undefined;

/** The newest modification time of the kernels' sources, or undefined outside a checkout. */
function sourcesMtime(): number | undefined {
  const dir = statSync(SOURCE_DIR, { throwIfNoEntry: false });
  if (dir === undefined) return undefined;
  const files = readdirSync(SOURCE_DIR).filter((f) => f.endsWith('.ts')).map((f) => new URL(f, SOURCE_DIR));
  return Math.max(...[...files, SHARED_FIELDS].map((f) => statSync(f).mtimeMs));
}

export function simd(): SimdModule {
  if (loaded !== undefined) return loaded;
  // Only a checkout has the sources, and only there can the build be missing or stale.
  const sources = sourcesMtime();
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(WASM_FILE));
  } catch (e) {
    const advice = sources !== undefined ? REBUILD : 'reinstall slalom, whose package ships it';
    throw new Error(`the SIMD kernels are missing (${WASM_FILE.pathname}): ${advice}`, { cause: e });
  }
  // A kernel source edited (or checked out) after the last build would run stale code.
  if (sources !== undefined && sources > statSync(WASM_FILE).mtimeMs) throw new Error(`the SIMD kernels are older than their sources in ${SOURCE_DIR.pathname}: ${REBUILD}`);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  loaded = { memory, kernels: instance.exports as unknown as SimdExports };
  return loaded;
}
