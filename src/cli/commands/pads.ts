/**
 * `slalom pads status --store <dir> [--model m.onnx] [--json]`: the pad inventory. A decoder's pad
 * covers one token fed (it is quantized at one token), so with a decoder --model the count is also
 * said in tokens; without --model the store's manifest does not say whether its model is a decoder.
 */
import { TrustedState } from '../../blind/trusted-state.js';
import { PadStore } from '../../blind/pad-store.js';
import { acceptStoreManifest } from '../../boundary/accept.js';
import { InvalidArgumentError } from '../../errors.js';
import { SlalomModel } from '../../runtime/model.js';
import { openStore } from '../../runtime/precompute.js';
import { parseInteger, trustedStateOptions } from '../options.js';

interface StatusFlags {
  store: string;
  state?: string;
  monotonicCounter?: string;
  model?: string;
  lowWater: string;
  json?: boolean;
}

/** `slalom pads status`. */
export async function run(flags: StatusFlags): Promise<void> {
  const lowWater = parseInteger(flags.lowWater, '--low-water', { min: 0 });
  const store = new PadStore(flags.store, { create: false });
  const claim = acceptStoreManifest(store.readManifest());
  let model: { name: string; weightsHash: string; decoder?: unknown } | undefined = claim.kind === 'store' ? { name: claim.model ?? '?', weightsHash: claim.weightsHash } : undefined;
  if (flags.model !== undefined) model = await SlalomModel.load(flags.model);
  if (model === undefined && claim.kind === 'none') throw new InvalidArgumentError(`${flags.store} has no manifest (no pads were precomputed into it): pass --model, or run \`slalom precompute\``);
  const state = TrustedState.open(flags.state, trustedStateOptions(flags));
  // Refuses, saying why, a store of another trusted state or another model.
  const { ledger, secrets } = openStore(state, store, model!);
  const perToken = model!.decoder !== undefined;
  const inventory = ledger.inventory();
  const present = new Set(store.indices());
  const recorded = ledger.readyIndices();
  const usable = recorded.filter((i) => present.has(i)).length;
  const status = {
    model: model!.name,
    weightsHash: model!.weightsHash,
    storeId: secrets.storeId,
    remaining: usable,
    ...(perToken ? { per: 'token' } : {}),
    recorded: recorded.length,
    missing: recorded.length - usable,
    consumed: inventory.consumed,
    ...(inventory.nextIndex !== undefined ? { nextIndex: inventory.nextIndex } : {}),
    generated: inventory.generated,
    inProgress: inventory.inProgress,
    abandoned: inventory.abandoned,
    bytesPerInference: claim.kind === 'store' ? claim.bytesPerInference : undefined,
    keyEpoch: secrets.epoch,
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(status)}\n`);
  else {
    process.stdout.write(
      [
        `model ${status.model} (${status.weightsHash.slice(0, 16)}…), store ${status.storeId}, key epoch ${status.keyEpoch}`,
        `remaining ${usable} usable${perToken ? ` (one per token fed: ${usable} tokens of prompt and generation)` : ''}, consumed ${status.consumed}, next index ${status.nextIndex ?? '-'}, generated ${status.generated}` +
          (status.inProgress > 0 ? `, ${status.inProgress} being precomputed` : '') +
          status.abandoned.map((r) => `, abandoned range ${r.from}..${r.to - 1} (run ${r.pid} died)`).join(''),
        `bytes per ${perToken ? 'token' : 'inference'} ${status.bytesPerInference ?? '?'}` +
          (status.missing > 0 ? `; ${status.missing} pads recorded in the ledger are missing from the store (deleted?) and will be skipped` : ''),
        '',
      ].join('\n'),
    );
  }
  if (usable < lowWater) process.stderr.write(`warning: only ${usable} pads${perToken ? ' (tokens)' : ''} left (low-water mark ${lowWater}); run \`slalom precompute\`\n`);
}
