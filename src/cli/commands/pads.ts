/** `slalom pads status --store <dir> [--model m.onnx] [--json]`: the pad inventory. */
import type { Command } from 'commander';
import { TrustedState } from '../../blind/trusted-state.js';
import { PadStore } from '../../blind/pad-store.js';
import { readManifest } from '../../boundary/accept.js';
import { InvalidArgumentError } from '../../errors.js';
import { SlalomModel } from '../../runtime/model.js';

interface StatusFlags {
  store: string;
  state?: string;
  model?: string;
  lowWater: string;
  json?: boolean;
}

export function registerPads(program: Command): void {
  const pads = program.command('pads').description('inspect the one-time pad inventory');
  pads
    .command('status')
    .description('remaining, consumed and next pad index, bytes per inference, key epoch')
    .requiredOption('--store <dir>', 'the pad store directory')
    .option('--state <dir>', 'trusted state directory; default $SLALOM_STATE_DIR or ~/.slalom/state')
    .option('--model <file>', 'the model the pads are for (default: the one the store manifest names)')
    .option('--low-water <n>', 'warn when fewer pads remain', '10')
    .option('--json', 'print one JSON object')
    .action(async (flags: StatusFlags) => {
      const store = new PadStore(flags.store);
      const manifest = readManifest(store.readManifest());
      let modelHash = manifest?.modelHash;
      if (flags.model !== undefined) modelHash = (await SlalomModel.load(flags.model)).weightsHash;
      if (modelHash === undefined) throw new InvalidArgumentError(`${flags.store} has no manifest: pass --model`);
      const state = TrustedState.open(flags.state);
      const { generated, consumed } = state.ledger(modelHash).read();
      const status = {
        model: manifest?.model,
        modelHash,
        remaining: generated - consumed,
        consumed,
        nextIndex: consumed,
        generated,
        bytesPerInference: manifest?.bytesPerInference,
        keyEpoch: state.keys.epoch,
        padFilesPresent: store.indices().filter((i) => i >= consumed).length,
      };
      const lowWater = Number(flags.lowWater);
      if (flags.json) process.stdout.write(`${JSON.stringify(status)}\n`);
      else {
        process.stdout.write(
          [
            `model ${status.model ?? '?'} (${modelHash.slice(0, 16)}…), key epoch ${status.keyEpoch}`,
            `remaining ${status.remaining}, consumed ${consumed}, next index ${consumed}, generated ${generated}`,
            `bytes per inference ${status.bytesPerInference ?? '?'}; pad files present for unconsumed indices: ${status.padFilesPresent}`,
            '',
          ].join('\n'),
        );
      }
      if (status.remaining < lowWater) process.stderr.write(`warning: only ${status.remaining} pads left (low-water mark ${lowWater}); run \`slalom precompute\`\n`);
    });
}
