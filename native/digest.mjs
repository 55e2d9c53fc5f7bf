// The digest of the native boundary pass's sources (native/*, binding.gyp), built into the addon
// (binding.gyp) and compared by src/simd/native.ts (which computes it the same way), so a binary built from other sources — a stale
// prebuilt or build/Release — is refused, never run. Prints it when run; exports it when imported.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function nativeDigest(root) {
  const hash = createHash('sha256');
  const files = [...readdirSync(join(root, 'native')).sort().map((f) => join('native', f)), 'binding.gyp'];
  for (const f of files) hash.update(`${f}\0`).update(readFileSync(join(root, f))).update('\0');
  return hash.digest('hex');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(nativeDigest(join(fileURLToPath(import.meta.url), '..', '..')));
