/**
 * The native boundary pass (native/*.c, a Node-API addon): the same pass as the WebAssembly
 * module's (assembly/boundary.ts), over the same memory and the same plan block, with AVX-512 and
 * AVX2 paths the addon picks from the CPU's features (native/dispatch.c) and a portable C one.
 *
 * Found as sharp and better-sqlite3 find theirs (node-gyp-build): a binary built from this
 * checkout's native/ (build/Release/, by `npm run build:native` or the install script where a
 * compiler exists), else the prebuilt one the package ships (prebuilds/linux-x64/). Where neither
 * loads, the WebAssembly pass runs (boundary.ts). An addon whose plan layout differs from
 * boundary-fields.ts is refused, never run; so is one built from other sources than the native/
 * beside it (a stale prebuilt or build/Release), by the digest binding.gyp builds into it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as F from './boundary-fields.js';
import { simd } from './module.js';

export type NativePath = 'avx512' | 'avx2' | 'portable';
export const NATIVE_PATHS: readonly NativePath[] = ['avx512', 'avx2', 'portable'];

interface Addon {
  attach(memory: Uint8Array): void;
  boundaryPass(planAt: number, wire?: Uint32Array, reply?: Uint32Array): void;
  path(): NativePath;
  best(): NativePath;
  force(path: NativePath): boolean;
  fields(): Record<string, number>;
  sources(): string;
}

// The same directory from src/simd/ (a checkout, under tsx) and dist/simd/ (compiled).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let addon: Addon | null | undefined;
let why = '';
/** The view the addon reads through (kept here so its memory outlives the addon's pointer). */
let attached: Uint8Array | undefined;

/** sha256 over native/* and binding.gyp, as native/digest.mjs computes it for binding.gyp; undefined without them. */
export function nativeSourcesDigest(root = ROOT): string | undefined {
  const dir = join(root, 'native');
  if (statSync(dir, { throwIfNoEntry: false }) === undefined) return undefined;
  const hash = createHash('sha256');
  for (const f of [...readdirSync(dir).sort().map((f) => join('native', f)), 'binding.gyp']) hash.update(`${f}\0`).update(readFileSync(join(root, f))).update('\0');
  return hash.digest('hex');
}

function load(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build') as (dir: string) => Addon;
    const found = nodeGypBuild(ROOT);
    const theirs = found.fields();
    const differ = Object.entries(F).filter(([name, at]) => typeof at === 'number' && theirs[name] !== at);
    if (differ.length > 0) throw new Error(`its plan layout differs from boundary-fields.ts (${differ.map(([n]) => n).join(', ')}): rebuild it with 'npm run build:native'`);
    const digest = nativeSourcesDigest();
    if (digest !== undefined && found.sources() !== `sha256_${digest}`) throw new Error(`it was built from other sources than ${join(ROOT, 'native')}: rebuild it with 'npm run build:native'`);
    addon = found;
  } catch (e) {
    addon = null;
    why = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  }
  return addon;
}

/** Why the addon did not load ('' when it did). */
export function nativeUnavailable(): string {
  return load() === null ? why : '';
}

/** The best path this CPU allows, or undefined without the addon. */
export function nativeBest(): NativePath | undefined {
  return load()?.best();
}

/** Caps the addon's path (the test hook, SLALOM_BOUNDARY); false when the CPU (or a missing addon) cannot run it. */
export function forceNativePath(path: NativePath): boolean {
  return load()?.force(path) ?? false;
}

/** The path the addon runs now. */
export function nativePath(): NativePath | undefined {
  return load()?.path();
}

/**
 * Runs the pass the plan block at `planAt` describes, as the WebAssembly module's boundaryPass does;
 * with `wire` (a buffer outside the memory), writing the next layer's values there too; with `reply`
 * (outside the memory), reading the reply's values there instead of at the plan's source.
 */
export function nativeBoundaryPass(planAt: number, wire?: Uint32Array, reply?: Uint32Array): void {
  const a = load();
  if (a === null) throw new Error(`internal: the native boundary pass is not loaded (${why})`);
  // Attached again after the memory grew: the addon checks every plan against the length it knows.
  const buffer = simd().memory.buffer;
  if (attached?.buffer !== buffer) {
    attached = new Uint8Array(buffer);
    a.attach(attached);
  }
  if (reply !== undefined) a.boundaryPass(planAt, wire, reply);
  else if (wire !== undefined) a.boundaryPass(planAt, wire);
  else a.boundaryPass(planAt);
}
