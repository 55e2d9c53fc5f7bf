/**
 * Soak test of pad crash safety (docs/design.md §4): the crash loop of test/blind/crash.test.ts for as
 * long as asked. Rounds of SIGKILLed precompute/consume children (two at a time on one trusted state
 * and pad store; both precomputing, both consuming, one of each), each round followed by a lock
 * stampede (consumers waiting on the lock of a killed holder) and a full audit of the cumulative
 * state: no pad index used twice, consumption recorded before use, consumed ≤ generated, every pad of
 * [consumed, generated) authentic in full, no authentic-but-wrong pad anywhere.
 *
 *     npm run soak -- [--minutes 10] [--kills 25] [--dir <dir>] [--keep]
 *
 * --kills: kills per pairing per round (4 pairings). --dir: where the state, store and audit log go
 * (default a new temporary directory, removed after a clean run unless --keep). Exits 1 on any
 * violation or unexpected child exit, leaving the directory for inspection.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { auditCrashState, crashLoop, crashPaths, lockStampede, violations, type Phase } from '../test/blind/crash-harness.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    kills: { type: 'string', default: '25' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const minutes = Number(values.minutes);
const killsPerPhase = Number(values.kills);
if (!(minutes > 0) || !Number.isInteger(killsPerPhase) || killsPerPhase < 1) {
  process.stderr.write('usage: soak-pads.ts [--minutes <m>] [--kills <per pairing per round>] [--dir <dir>] [--keep]\n');
  process.exit(2);
}

const root = values.dir ?? mkdtempSync(join(tmpdir(), 'slalom-soak-'));
mkdirSync(root, { recursive: true });
const paths = crashPaths(root);
const phases: Phase[] = [
  { slots: ['precompute', 'precompute'], kills: killsPerPhase },
  { slots: ['consume', 'consume'], kills: killsPerPhase },
  { slots: ['precompute', 'consume'], kills: killsPerPhase },
  { slots: ['precompute', 'precompute'], kills: killsPerPhase },
];

const start = performance.now();
const deadline = start + minutes * 60_000;
const totals = { rounds: 0, kills: 0, precomputeKills: 0, consumeKills: 0, stampedeKills: 0 };
let failed: string[] = [];
process.stdout.write(`soak: ${minutes} min in ${root}\n`);

while (performance.now() < deadline && failed.length === 0) {
  const loop = await crashLoop(paths, phases);
  const stampede = await lockStampede(paths, 2, 5);
  totals.rounds++;
  totals.kills += loop.kills;
  totals.precomputeKills += loop.killsByMode.precompute;
  totals.consumeKills += loop.killsByMode.consume;
  totals.stampedeKills += stampede.kills;
  const audit = auditCrashState(paths);
  failed = [...loop.unexpected, ...stampede.unexpected, ...violations(audit)];
  const elapsed = (performance.now() - start) / 1000;
  process.stdout.write(
    `round ${totals.rounds} (${elapsed.toFixed(0)} s): kills ${totals.kills} (+${totals.stampedeKills} in stampedes); ` +
      `generated ${audit.generated}, consumed ${audit.consumed}, used ${audit.used}, reused ${audit.reused.length}, ` +
      `intact ${audit.intact}, missing ${audit.missing.length}, unauthentic ${audit.unauthentic.length}, wrong ${audit.authenticatedButWrong.length}, ` +
      `orphans ${audit.orphansBelow}, leftovers ${audit.leftovers}\n`,
  );
}

const summary = { ...totals, seconds: Math.round((performance.now() - start) / 1000), violations: failed, dir: root };
process.stdout.write(`${JSON.stringify(summary)}\n`);
if (failed.length > 0) {
  process.stderr.write(`soak FAILED:\n  ${failed.join('\n  ')}\n(state kept in ${root})\n`);
  process.exit(1);
}
if (values.dir === undefined && !values.keep) rmSync(root, { recursive: true, force: true });
