/**
 * `slalom client infer --url … --input …` and `slalom client verify-receipt <file>`: the client of the
 * trusted inference service (client/client.ts). `infer` checks the service's attestation against
 * the policy the flags give before sending anything (the `none` provider only with
 * `--allow-development`), encrypts the input to the attested key, and prints the answer only after
 * its receipt verified. `verify-receipt` checks a saved receipt: its signature and, with the
 * attestation document (in the saved bundle, or `--attestation`), that the attested key signed it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { checkAttestation, type AttestationDocument, type AttestationPolicy } from '../../attest/attestation.js';
import type { Receipt } from '../../attest/receipt.js';
import { SlalomClient, verifyReceiptAgainst } from '../../client/client.js';
import { isTrainingReceipt, trainingReceiptValid, type TrainingReceiptBody } from '../../attest/training-receipt.js';
import { AttestationError, InvalidArgumentError } from '../../errors.js';
import { loadInputTensor } from '../../io/image.js';
import type { Preprocess } from '../../io/preprocess.js';
import { parsePositive } from '../options.js';

interface PolicyFlags {
  allowDevelopment?: boolean;
  weightsHash?: string;
  keyHash?: string;
}

interface ClientInferFlags extends PolicyFlags {
  url: string;
  model?: string;
  input: string;
  encrypt: boolean;
  datatype: string;
  top?: string;
  json?: boolean;
  receiptOut?: string;
  timeoutMs: string;
}

interface VerifyFlags extends PolicyFlags {
  attestation?: string;
  json?: boolean;
}

const policyOf = (f: PolicyFlags): AttestationPolicy => ({
  ...(f.allowDevelopment ? { allowDevelopment: true } : {}),
  ...(f.weightsHash !== undefined ? { weightsHash: f.weightsHash } : {}),
  ...(f.keyHash !== undefined ? { keyHash: f.keyHash } : {}),
});

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function clientInfer(flags: ClientInferFlags): Promise<void> {
  if (flags.datatype !== 'FP64' && flags.datatype !== 'FP32') throw new InvalidArgumentError(`--datatype must be FP64 or FP32, got '${flags.datatype}'`);
  const client = await SlalomClient.connect(flags.url, { policy: policyOf(flags), timeoutMs: parsePositive(flags.timeoutMs, '--timeout-ms', true) });
  const served = client.document.models;
  const model = flags.model ?? (served.length === 1 ? served[0]!.name : undefined);
  if (model === undefined) throw new InvalidArgumentError(`the service serves ${served.map((m) => m.name).join(', ')}: name one with --model`);
  const meta = await client.metadata(model);
  if (meta.inputs.length !== 1) throw new InvalidArgumentError(`${model} takes ${meta.inputs.length} inputs; use the library for several`);
  const dims = meta.inputs[0]!.shape;
  const x = await loadInputTensor(flags.input, { preprocess: meta.parameters['preprocess'] as Preprocess, expectDims: dims[0] === 1 ? [-1, ...dims.slice(1)] : dims });
  const r = await client.infer(model, x, { encrypt: flags.encrypt, datatype: flags.datatype, ...(flags.top !== undefined ? { top: parsePositive(flags.top, '--top', true) } : {}) });
  if (flags.receiptOut !== undefined) writeFileSync(flags.receiptOut, `${JSON.stringify({ receipt: r.receipt, attestation: client.document }, null, 2)}\n`);
  const b = r.receipt.body;
  if (flags.json) {
    const out = { model, mode: r.mode, integrity: r.integrity, soundnessLog2: r.soundnessLog2, encrypted: r.encrypted, predictions: r.topK, outputs: r.outputNames.map((n) => ({ name: n, dims: r.outputs[n]!.dims, data: Array.from(r.outputs[n]!.data) })), receipt: r.receipt };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const lines = [`${model}  mode ${r.mode}  (${r.encrypted ? 'encrypted to the attested key' : 'NOT encrypted'}; attestation: ${client.document.provider}${client.document.development ? ', development only' : ''})`];
  r.topK?.forEach((list, item) => {
    if ((r.topK?.length ?? 0) > 1) lines.push(`item ${item}:`);
    for (const p of list) lines.push(`  ${String(p.index).padStart(4)}  ${(p.score * 100).toFixed(2).padStart(6)} %  ${p.label ?? ''}`);
  });
  const integrity = r.integrity === 'freivalds' ? `every outsourced layer checked (Freivalds), a wrong result passes with probability ≤ 2^${r.soundnessLog2!.toFixed(1)}` : r.integrity === 'trusted-runtime' ? 'computed in the trusted runtime' : 'NOT verified (the accelerator was trusted)';
  lines.push(`integrity: ${integrity}`);
  lines.push(`receipt: verified, request ${b.requestId}, signed by key ${b.service.keyHash.slice(0, 16)}…${b.pads !== null ? `, pads ${b.pads.indices.join(', ')} of store ${b.pads.identity.slice(0, 8)}…` : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function verifyReceiptFile(file: string, flags: VerifyFlags): Promise<void> {
  const saved = readJson(file, 'receipt') as { receipt?: unknown; attestation?: unknown; body?: unknown };
  const receipt = (saved.receipt ?? saved) as Receipt;
  const docValue = flags.attestation !== undefined ? readJson(flags.attestation, 'attestation document') : saved.attestation;
  let doc: AttestationDocument | undefined;
  if (docValue !== undefined) doc = (await checkAttestation(docValue, policyOf(flags))).document;
  if (isTrainingReceipt(receipt)) return printTrainingReceipt(verifyTrainingReceipt(receipt, doc), doc, flags);
  const body = verifyReceiptAgainst(receipt, doc);
  if (doc === undefined && (flags.keyHash !== undefined || flags.weightsHash !== undefined)) {
    if (flags.keyHash !== undefined && body.service.keyHash !== flags.keyHash) throw new AttestationError(`the receipt's key hash is not ${flags.keyHash.slice(0, 12)}…`);
    if (flags.weightsHash !== undefined && !body.model.weightsHash.startsWith(flags.weightsHash)) throw new AttestationError(`the receipt's weights are not ${flags.weightsHash.slice(0, 12)}…`);
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ valid: true, attested: doc !== undefined, body })}\n`);
    return;
  }
  process.stdout.write(
    `receipt valid: signed by ${body.service.signingKey.slice(0, 12)}… (key hash ${body.service.keyHash.slice(0, 16)}…, ${doc !== undefined ? `attested by provider ${doc.provider}${doc.development ? ', development only' : ''}` : 'no attestation document checked'})\n` +
      `  model ${body.model.name} (weights ${body.model.weightsHash.slice(0, 16)}…), mode ${body.mode}, integrity ${body.integrity}${body.soundnessLog2 !== null ? ` (≤ 2^${body.soundnessLog2.toFixed(1)})` : ''}\n` +
      `  input ${body.inputHash.slice(0, 16)}…, outputs ${body.outputsHash.slice(0, 16)}…, issued ${body.issuedAt}${body.pads !== null ? `, pads ${body.pads.indices.join(', ')}` : ''}\n`,
  );
}

/** A training receipt (slalom train --receipt-out): its signature, and that the attested key signed it. */
function verifyTrainingReceipt(receipt: unknown, doc: AttestationDocument | undefined): TrainingReceiptBody {
  if (!trainingReceiptValid(receipt)) throw new AttestationError('the training receipt does not verify: malformed, altered, or not signed by the key it names');
  const body = receipt.body;
  if (doc !== undefined && (body.service.signingKey !== doc.keys.signing.publicKey || body.service.keyHash !== doc.keyHash)) throw new AttestationError('the training receipt is signed by a key the attestation document does not attest');
  return body;
}

function printTrainingReceipt(body: TrainingReceiptBody, doc: AttestationDocument | undefined, flags: VerifyFlags): void {
  if (doc === undefined && flags.keyHash !== undefined && body.service.keyHash !== flags.keyHash) throw new AttestationError(`the receipt's key hash is not ${flags.keyHash.slice(0, 12)}…`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ valid: true, attested: doc !== undefined, body })}\n`);
    return;
  }
  const v = body.verification;
  process.stdout.write(
    `training receipt valid: signed by ${body.service.signingKey.slice(0, 12)}… (${doc !== undefined ? `attested by provider ${doc.provider}${doc.development ? ', development only' : ''}` : 'no attestation document checked'})\n` +
      `  ${body.architecture} from ${body.initialModel.source} state ${body.initialModel.stateHash.slice(0, 16)}…, data ${body.dataHash.slice(0, 16)}…, ${body.steps} steps → state ${body.finalStateHash.slice(0, 16)}…${body.outputModelHash !== null ? `, model ${body.outputModelHash.slice(0, 16)}…` : ''}\n` +
      `  integrity ${body.integrity}${v !== null ? ` (${v.products} products in ${v.chunks} checks, k = ${v.repetitions}; per step ≤ 2^${v.worstStepSoundnessLog2.toFixed(1)})` : ''}, ${body.incidents.length} incidents\n`,
  );
}

/** `slalom client infer`. */
export const run = clientInfer;

/** `slalom client verify-receipt <file>` (verbs.ts loads it by this name). */
export const verifyReceipt = verifyReceiptFile;
