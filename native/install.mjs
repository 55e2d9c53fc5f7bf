// npm's install step for slalom (package.json "install"), as sharp's and better-sqlite3's: the
// native boundary pass from the prebuilt binary that fits (prebuilds/), else built from these
// sources with node-gyp where a compiler and Node's headers exist, else nothing — the WebAssembly
// pass then runs. It never fails the install. `node-gyp configure build`, not `rebuild`: a rebuild
// first deletes build/, which holds build/simd.wasm.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeDigest } from './digest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Whether a binary that node-gyp-build finds loads and was built from these sources. */
function loads() {
  try {
    const addon = createRequire(import.meta.url)('node-gyp-build')(root);
    return addon.sources() === `sha256_${nativeDigest(root)}`;
  } catch {
    return false;
  }
}

if (!loads()) {
  const gyp = process.env.npm_config_node_gyp;
  const built = spawnSync(gyp ? process.execPath : 'node-gyp', [...(gyp ? [gyp] : []), 'configure', 'build'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0 || !loads()) {
    console.warn('slalom: no native boundary pass for this machine (no prebuilt fits and building one failed): the WebAssembly pass runs instead.');
  }
}
