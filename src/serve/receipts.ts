/**
 * The receipt of one answer (attest/receipt.ts), from what the run reports (api/session.ts): the mode
 * that ran, how integrity is known (Freivalds on every outsourced layer, the trusted runtime alone,
 * or nothing checked), the soundness achieved per inference, the pads used (ledger identity, key
 * epoch, indices) and the incidents recovered from.
 */
import { randomBytes } from 'node:crypto';
import type { RunResult } from '../api/session.js';
import type { ServiceKeys } from '../attest/keys.js';
import { RECEIPT_FORMAT, signReceipt, tensorsHash, type HashedTensor, type Receipt, type ReceiptBody } from '../attest/receipt.js';
import type { SlalomModel } from '../runtime/model.js';

export function receiptFor(keys: ServiceKeys, provider: string, model: SlalomModel, modelName: string, requestId: string, inputs: readonly HashedTensor[], result: RunResult): Receipt {
  const checked = result.verification !== undefined && (result.mode === 'verified' || result.mode === 'private+verified');
  const integrity: ReceiptBody['integrity'] = result.mode === 'baseline' ? 'trusted-runtime' : checked ? 'freivalds' : 'unchecked';
  const body: ReceiptBody = {
    format: RECEIPT_FORMAT,
    issuedAt: new Date().toISOString(),
    nonce: randomBytes(16).toString('hex'),
    requestId,
    service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider },
    model: { name: modelName, modelHash: model.modelHash, weightsHash: model.weightsHash },
    inputHash: tensorsHash('inputs', inputs),
    outputsHash: tensorsHash('outputs', result.outputNames.map((n) => result.outputs[n]!)),
    mode: result.mode,
    integrity,
    soundnessLog2: integrity === 'freivalds' ? result.verification!.soundnessLog2PerInference : null,
    verification: integrity === 'freivalds' ? { variant: result.verification!.variant, repetitions: result.verification!.repetitions } : null,
    pads: result.pads !== undefined ? { source: result.pads.source, identity: result.pads.id, epoch: result.pads.keyEpoch, indices: [...result.pads.indices] } : null,
    incidents: result.incidents.map((i) => i.code),
  };
  return signReceipt(keys, body);
}
