/**
 * `slalom client verify-receipt`, spawned as a user runs it: the red team's forgery (a receipt
 * re-signed with a fresh key, its claims edited) is refused with and without `--key-hash <real>`,
 * and so is the genuine receipt when nothing vouches for its key (one line saying how to vouch);
 * the genuine receipt passes with a pin and with its attestation document, not with another key's;
 * nothing it prints says it refused "to send" (it sends nothing); it prints the layers a receipt says
 * ran in the trusted runtime and its incidents.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { attest, noneProvider } from '../../src/attest/attestation.js';
import { ServiceKeys } from '../../src/attest/keys.js';
import { signReceipt } from '../../src/attest/receipt.js';
import { EXIT_CODES } from '../../src/errors.js';
import { forged, genuineBody } from '../helpers/receipts.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const REFUSED = EXIT_CODES.SLALOM_ERR_ATTESTATION;

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function verify(...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, ['bin/slalom.js', 'client', 'verify-receipt', ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, SLALOM_DEBUG: '' } }, (error, stdout, stderr) => {
      done({ status: error === null ? 0 : Number((error as { code?: number }).code), stdout, stderr });
    });
  });
}

function assertRefused(r: Run, what: RegExp): void {
  assert.equal(r.status, REFUSED, `status ${r.status}, stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, what);
  assert.doesNotMatch(r.stderr, /refusing to send/);
  assert.equal(r.stdout, '');
}

describe('slalom client verify-receipt', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'slalom-verify-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const real = ServiceKeys.generate();
  const forger = ServiceKeys.generate();
  const genuine = signReceipt(real, genuineBody(real));
  const doc = await attest(noneProvider, real.publicKeys, [genuineBody(real).model], null);
  const otherDoc = await attest(noneProvider, forger.publicKeys, [genuineBody(real).model], null);
  const file = (name: string, value: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  const genuineAlone = file('genuine.json', { receipt: genuine });
  const genuineBundle = file('bundle.json', { receipt: genuine, attestation: doc });
  const forgery = file('forged.json', { receipt: forged(genuine, { keys: forger.publicKeys, keyHash: forger.keyHash, provider: 'none' }, forger) });
  const forgeryBundled = file('forged-bundle.json', { receipt: forged(genuine, { keys: forger.publicKeys, keyHash: forger.keyHash, provider: 'none' }, forger), attestation: doc });
  const otherAttestation = file('other-doc.json', otherDoc);

  it('refuses a receipt re-signed with a fresh key, with and without --key-hash <real>, and bundled with the real attestation', async () => {
    const [alone, pinned, bundled] = await Promise.all([verify(forgery), verify(forgery, '--key-hash', real.keyHash), verify(forgeryBundled, '--allow-development')]);
    assertRefused(alone, /nothing vouches .*--key-hash/);
    assertRefused(pinned, /not the pinned/);
    assertRefused(bundled, /does not attest/);
  });

  it('refuses the genuine receipt when nothing vouches for its key, or against another key\'s attestation', async () => {
    const [alone, other, undeveloped] = await Promise.all([verify(genuineAlone), verify(genuineAlone, '--attestation', otherAttestation, '--allow-development'), verify(genuineBundle)]);
    assertRefused(alone, /nothing vouches .*--attestation/);
    assertRefused(other, /does not attest/);
    assertRefused(undeveloped, /development/);
  });

  it('accepts the genuine receipt with its key hash pinned, and with its attestation document', async () => {
    const [pinned, attested, bad] = await Promise.all([verify(genuineAlone, '--key-hash', real.keyHash), verify(genuineBundle, '--allow-development', '--json'), verify(genuineAlone, '--key-hash', 'abc')]);
    assert.equal(pinned.status, 0, pinned.stderr);
    assert.match(pinned.stdout, new RegExp(`receipt valid: signed by key hash ${real.keyHash.slice(0, 16)}… \\(the pinned key hash\\)`));
    assert.equal(attested.status, 0, attested.stderr);
    assert.deepEqual({ ...JSON.parse(attested.stdout), body: undefined }, { valid: true, attested: true, vouchedBy: 'attestation', body: undefined });
    assert.equal(bad.status, EXIT_CODES.SLALOM_ERR_INVALID_ARG);
  });

  it('prints the layers a receipt says ran in the trusted runtime, and its incidents', async () => {
    const body = genuineBody(real);
    const recomputed = signReceipt(real, {
      ...body,
      execution: [[body.execution[0]![0]!, { layer: 'fc', ran: 'trusted', reason: "recomputed after the accelerator's reply was refused (SLALOM_ERR_INTEGRITY)" }]],
      incidents: [{ layer: 'fc', code: 'SLALOM_ERR_INTEGRITY' }],
    });
    const r = await verify(file('recomputed.json', { receipt: recomputed }), '--key-hash', real.keyHash);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 of 2 linear layers computed in the trusted runtime \(fc\): recomputed after the accelerator's reply was refused \(SLALOM_ERR_INTEGRITY\)/);
    assert.match(r.stdout, /incident: SLALOM_ERR_INTEGRITY at fc/);
  });
});
