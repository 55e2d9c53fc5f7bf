/**
 * The receipt of one answer (attest/receipt.ts), from what the run recorded (api/session.ts,
 * runtime/execution.ts): the mode that ran, where each layer of each item was computed and under
 * which check, how integrity is known from that (Freivalds on every layer the accelerator computed,
 * the trusted runtime alone, or something unchecked), the soundness achieved over the checked layers,
 * the pads used (ledger identity, key epoch, indices) and the incidents recovered from; and the
 * receipt of a generation, over its whole sequence.
 */
import { randomBytes } from 'node:crypto';
import type { GenerateResult, RunResult } from '../api/session.js';
import { GENERATION_RECEIPT_FORMAT, signGenerationReceipt, tokenIdsHash, type GenerationReceipt, type GenerationReceiptBody, type StepSummary } from '../attest/generation-receipt.js';
import type { ServiceKeys } from '../attest/keys.js';
import { RECEIPT_FORMAT, signReceipt, tensorsHash, type HashedTensor, type LayerExecution, type Receipt, type ReceiptBody } from '../attest/receipt.js';
import type { LayerRun } from '../runtime/execution.js';
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

/** What a generation was asked for, as its receipt states it. */
export interface GenerationRequestFacts {
  readonly requestId: string;
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topK?: number | undefined;
  readonly seed: number;
  readonly onEmpty: string | undefined;
}

/**
 * The receipt of one served generation (attest/generation-receipt.ts), over its one sequence: the
 * prompt's and the generated ids' hashes, the finish, every step's layers by where they ran, the
 * soundness of its weakest step, the pads spent and the incidents.
 */
export function generationReceiptFor(keys: ServiceKeys, provider: string, model: SlalomModel, modelName: string, facts: GenerationRequestFacts, result: GenerateResult): GenerationReceipt {
  const sequence = result.sequences[0]!;
  const steps = result.steps.map((s): StepSummary => {
    const count = (ran: LayerRun['ran']): number => s.layers.filter((l) => l.ran === ran).length;
    const reasons = [...new Set(s.layers.filter((l) => l.ran === 'trusted').map((l) => l.reason ?? 'trusted runtime'))];
    return { tokens: s.tokens, freivalds: count('accelerator+freivalds'), unchecked: count('accelerator (unchecked)'), trusted: count('trusted'), ...(reasons.length > 0 ? { reasons } : {}) };
  });
  const integrity: GenerationReceiptBody['integrity'] = steps.some((s) => s.unchecked > 0) ? 'unchecked' : steps.some((s) => s.freivalds > 0) ? 'freivalds' : 'trusted-runtime';
  const checked = integrity === 'freivalds' ? result.verification : undefined;
  if (integrity === 'freivalds' && checked === undefined) throw new Error('internal: checked layers without a verification account');
  const body: GenerationReceiptBody = {
    format: GENERATION_RECEIPT_FORMAT,
    issuedAt: new Date().toISOString(),
    nonce: randomBytes(16).toString('hex'),
    requestId: facts.requestId,
    service: { keys: keys.publicKeys, keyHash: keys.keyHash, provider },
    model: { name: modelName, modelHash: model.modelHash, weightsHash: model.weightsHash },
    mode: result.mode,
    sampling: { maxTokens: facts.maxTokens, temperature: facts.temperature, topK: facts.topK ?? null, seed: facts.seed },
    prompt: { count: sequence.prompt.length, idsHash: tokenIdsHash(sequence.prompt) },
    generated: { count: sequence.tokens.length, idsHash: tokenIdsHash(sequence.tokens) },
    finish: sequence.finish,
    onEmpty: facts.onEmpty ?? null,
    integrity,
    soundnessLog2: checked !== undefined ? checked.soundnessLog2PerInference : null,
    verification: checked !== undefined ? { variant: checked.variant, repetitions: checked.repetitions } : null,
    steps,
    pads: result.pads !== undefined ? { source: result.pads.source, identity: result.pads.id, epoch: result.pads.keyEpoch, count: result.pads.indices.length, indices: [...result.pads.indices] } : null,
    incidents: result.incidents.map((i) => ({ layer: i.layer, code: i.code })),
  };
  return signGenerationReceipt(keys, body);
}
