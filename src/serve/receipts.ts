/**
 * The receipt of one answer (attest/receipt.ts), from what the run recorded (api/session.ts,
 * runtime/execution.ts): the mode that ran, where each layer of each item was computed and under
 * which check, how integrity is known from that (Freivalds on every layer the accelerator computed,
 * the trusted runtime alone, or something unchecked), the soundness achieved over the checked layers,
 * the pads used (ledger identity, key epoch, indices) and the incidents recovered from.
 */
import { randomBytes } from 'node:crypto';
import type { RunResult } from '../api/session.js';
import type { ServiceKeys } from '../attest/keys.js';
import { RECEIPT_FORMAT, signReceipt, tensorsHash, type HashedTensor, type LayerExecution, type Receipt, type ReceiptBody } from '../attest/receipt.js';
import type { SlalomModel } from '../runtime/model.js';

export function receiptFor(keys: ServiceKeys, provider: string, model: SlalomModel, modelName: string, requestId: string, inputs: readonly HashedTensor[], result: RunResult): Receipt {
  const execution = result.execution.map((layers) => layers.map((l): LayerExecution => ({ layer: l.layer, ran: l.ran, ...(l.reason !== undefined ? { reason: l.reason } : {}) })));
  const places = new Set(execution.flat().map((l) => l.ran));
  const integrity: ReceiptBody['integrity'] = places.has('accelerator (unchecked)') ? 'unchecked' : places.has('accelerator+freivalds') ? 'freivalds' : 'trusted-runtime';
  const checked = integrity === 'freivalds' ? result.verification : undefined;
  if (integrity === 'freivalds' && checked === undefined) throw new Error('internal: checked layers without a verification account');
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
    soundnessLog2: checked !== undefined ? checked.soundnessLog2PerInference : null,
    verification: checked !== undefined ? { variant: checked.variant, repetitions: checked.repetitions } : null,
    execution,
    pads: result.pads !== undefined ? { source: result.pads.source, identity: result.pads.id, epoch: result.pads.keyEpoch, indices: [...result.pads.indices] } : null,
    incidents: result.incidents.map((i) => ({ layer: i.layer, code: i.code })),
  };
  return signReceipt(keys, body);
}
