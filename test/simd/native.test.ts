/**
 * The native boundary pass's packaging (src/simd/native.ts, native/): the committed prebuilt binary
 * is built from the native/ sources beside it (the digest binding.gyp builds in, computed alike by
 * native/digest.mjs and the loader), loads on this machine's platform, and reads the plan block as
 * boundary-fields.ts lays it out. The passes themselves are compared in boundary.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import * as F from '../../src/simd/boundary-fields.js';
import { nativeBest, nativeSourcesDigest, nativeUnavailable } from '../../src/simd/native.js';

const PREBUILT = 'prebuilds/linux-x64/slalom.napi.glibc.node';
/** Where the committed prebuilt fits: x86-64 Linux with glibc (node-gyp-build's libc tag). */
const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime !== undefined;
const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64' && glibc;

test('the loader and native/digest.mjs compute the same digest of the sources', () => {
  const script = execFileSync(process.execPath, ['native/digest.mjs'], { encoding: 'utf8' });
  assert.match(script, /^[0-9a-f]{64}$/);
  assert.equal(nativeSourcesDigest(), script);
});

test('the committed linux-x64 (glibc) prebuilt was built from these sources and reads the plan block as boundary-fields.ts', { skip: onLinuxX64 ? false : 'not x86-64 Linux with glibc' }, () => {
  assert.ok(existsSync(PREBUILT), `${PREBUILT} is missing: run 'npm run prebuilt:native'`);
  const addon = createRequire(import.meta.url)(`../../${PREBUILT}`) as { sources(): string; fields(): Record<string, number>; best(): string };
  assert.equal(addon.sources(), `sha256_${nativeSourcesDigest()}`, "the prebuilt is stale: run 'npm run prebuilt:native' and commit it");
  for (const [name, at] of Object.entries(F)) assert.equal(addon.fields()[name], at, name);
  assert.match(addon.best(), /^(avx512|avx2|portable)$/);
});

test('on x86-64 Linux with glibc the native pass loads (the prebuilt, or a build from source)', { skip: onLinuxX64 ? false : 'not x86-64 Linux with glibc' }, () => {
  assert.equal(nativeUnavailable(), '');
  assert.match(nativeBest()!, /^(avx512|avx2|portable)$/);
});
