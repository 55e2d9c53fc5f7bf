/**
 * `slalom client infer --url … --input …`, `slalom client generate --url … --tokens …|--prompt …` and
 * `slalom client verify-receipt <file>`: the client of the trusted inference service
 * (client/client.ts). `infer` checks the service's attestation against the policy the flags give
 * before sending anything (the `none` provider only with `--allow-development`), encrypts the input
 * to the attested key, and prints the answer only after its receipt verified. `generate` streams a
 * served decoder's tokens to stdout as they arrive (the stream is not encrypted; --encrypt seals
 * request and answer, and nothing streams) and accepts the
 * generation only once its receipt verified over every token. `verify-receipt` checks a saved
 * receipt (inference, generation or training): its signature, and that the key
 * which made it is vouched for — by the attestation document (in the saved bundle, or
 * `--attestation`), or by the key hash the user pins (`--key-hash`) — else it refuses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { checkAttestation, type AttestationDocument, type AttestationPolicy } from '../../attest/attestation.js';
import type { Receipt, ReceiptBody } from '../../attest/receipt.js';
import { isTrainingReceipt, type TrainingReceiptBody } from '../../attest/training-receipt.js';
import { isGenerationReceipt, type GenerationReceiptBody } from '../../attest/generation-receipt.js';
import { SlalomClient, verifyGenerationReceipt, verifyReceipt as checkReceipt, verifyTrainingReceipt, type ReceiptTrust } from '../../client/client.js';
import { AttestationError, InvalidArgumentError } from '../../errors.js';
import { loadInputTensor } from '../../io/image.js';
import type { Preprocess } from '../../io/preprocess.js';
import { parseInteger, parsePositive } from '../options.js';

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
  lines.push(...executionLines(r.execution, r.incidents));
  lines.push(`receipt: verified, request ${b.requestId}, signed by key ${b.service.keyHash.slice(0, 16)}…${b.pads !== null ? `, pads ${b.pads.indices.join(', ')} of store ${b.pads.identity.slice(0, 8)}…` : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Where the layers ran, when not all on the accelerator under the mode's check; and the incidents. */
function executionLines(execution: ReceiptBody['execution'], incidents: ReceiptBody['incidents']): string[] {
  const lines: string[] = [];
  execution.forEach((layers, item) => {
    const trusted = layers.filter((l) => l.ran === 'trusted');
    if (trusted.length === 0) return;
    const reasons = [...new Set(trusted.map((l) => l.reason ?? 'trusted runtime'))].join('; ');
    lines.push(`${execution.length > 1 ? `item ${item}: ` : ''}${trusted.length} of ${layers.length} linear layers computed in the trusted runtime (${trusted.map((l) => l.layer).join(', ')}): ${reasons}`);
  });
  for (const i of incidents) lines.push(`incident: ${i.code} at ${i.layer}`);
  return lines;
}

async function verifyReceiptFile(file: string, flags: VerifyFlags): Promise<void> {
  if (flags.keyHash !== undefined && !/^[0-9a-fA-F]{64}$/.test(flags.keyHash)) throw new InvalidArgumentError(`--key-hash must be 64 hex digits (the service's key hash), got '${flags.keyHash.slice(0, 80)}'`);
  const saved = readJson(file, 'receipt') as { receipt?: unknown; attestation?: unknown; body?: unknown };
  const receipt = (saved.receipt ?? saved) as Receipt;
  const docValue = flags.attestation !== undefined ? readJson(flags.attestation, 'attestation document') : saved.attestation;
  const doc: AttestationDocument | undefined = docValue !== undefined ? (await checkAttestation(docValue, policyOf(flags))).document : undefined;
  const trust: ReceiptTrust = { ...(doc !== undefined ? { attestation: doc } : {}), ...(flags.keyHash !== undefined ? { keyHash: flags.keyHash } : {}) };
  if (isTrainingReceipt(receipt)) return printTrainingReceipt(verifyTrainingReceipt(receipt, trust), doc, flags);
  if (isGenerationReceipt(receipt)) return printGenerationReceipt(verifyGenerationReceipt(receipt, trust), doc, flags);
  const body = checkReceipt(receipt, trust);
  // The body is the vouched-for key's statement from here on, so its claims can be compared.
  if (flags.weightsHash !== undefined && (flags.weightsHash.length < 12 || !body.model.weightsHash.startsWith(flags.weightsHash))) throw new AttestationError(`the receipt's weights are not ${flags.weightsHash.slice(0, 12)}…`);
  const vouched = doc !== undefined ? `attested by provider ${doc.provider}${doc.development ? ', development only' : ''}` : 'the pinned key hash';
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ valid: true, attested: doc !== undefined, vouchedBy: doc !== undefined ? 'attestation' : 'key-hash', body })}\n`);
    return;
  }
  process.stdout.write(
    `receipt valid: signed by key hash ${body.service.keyHash.slice(0, 16)}… (${vouched})\n` +
      `  model ${body.model.name} (weights ${body.model.weightsHash.slice(0, 16)}…), mode ${body.mode}, integrity ${body.integrity}${body.soundnessLog2 !== null ? ` (≤ 2^${body.soundnessLog2.toFixed(1)})` : ''}\n` +
      `  input ${body.inputHash.slice(0, 16)}…, outputs ${body.outputsHash.slice(0, 16)}…, issued ${body.issuedAt}${body.pads !== null ? `, pads ${body.pads.indices.join(', ')}` : ''}\n` +
      executionLines(body.execution, body.incidents)
        .map((l) => `  ${l}\n`)
        .join(''),
  );
}

function printTrainingReceipt(body: TrainingReceiptBody, doc: AttestationDocument | undefined, flags: VerifyFlags): void {
  const vouched = doc !== undefined ? `attested by provider ${doc.provider}${doc.development ? ', development only' : ''}` : 'the pinned key hash';
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ valid: true, attested: doc !== undefined, vouchedBy: doc !== undefined ? 'attestation' : 'key-hash', body })}\n`);
    return;
  }
  const v = body.verification;
  process.stdout.write(
    `training receipt valid: signed by key hash ${body.service.keyHash.slice(0, 16)}… (${vouched})\n` +
      `  ${body.architecture} from ${body.initialModel.source} state ${body.initialModel.stateHash.slice(0, 16)}…, data ${body.dataHash.slice(0, 16)}…, ${body.steps} steps → state ${body.finalStateHash.slice(0, 16)}…${body.outputModelHash !== null ? `, model ${body.outputModelHash.slice(0, 16)}…` : ''}\n` +
      `  integrity ${body.integrity}${v !== null ? ` (${v.products} products in ${v.chunks} checks, k = ${v.repetitions}; per step ≤ 2^${v.worstStepSoundnessLog2.toFixed(1)})` : ''}, ${body.incidents.length} incidents\n`,
  );
}

function printGenerationReceipt(body: GenerationReceiptBody, doc: AttestationDocument | undefined, flags: VerifyFlags): void {
  if (flags.weightsHash !== undefined && (flags.weightsHash.length < 12 || !body.model.weightsHash.startsWith(flags.weightsHash))) throw new AttestationError(`the receipt's weights are not ${flags.weightsHash.slice(0, 12)}…`);
  const vouched = doc !== undefined ? `attested by provider ${doc.provider}${doc.development ? ', development only' : ''}` : 'the pinned key hash';
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ valid: true, attested: doc !== undefined, vouchedBy: doc !== undefined ? 'attestation' : 'key-hash', body })}\n`);
    return;
  }
  process.stdout.write(`generation receipt valid: signed by key hash ${body.service.keyHash.slice(0, 16)}… (${vouched})\n${generationLines(body).map((l) => `  ${l}\n`).join('')}`);
}

/** What a generation receipt states, in lines. */
function generationLines(b: GenerationReceiptBody): string[] {
  const s = b.sampling;
  const trusted = b.steps.filter((st) => st.trusted > 0);
  const reasons = [...new Set(trusted.flatMap((st) => st.reasons ?? []))];
  return [
    `model ${b.model.name} (weights ${b.model.weightsHash.slice(0, 16)}…), mode ${b.mode}, integrity ${b.integrity}${b.soundnessLog2 !== null ? ` (≤ 2^${b.soundnessLog2.toFixed(1)} per step)` : ''}`,
    `prompt ${b.prompt.count} tokens (${b.prompt.idsHash.slice(0, 16)}…), ${b.generated.count} tokens generated (finish ${b.finish}) (${b.generated.idsHash.slice(0, 16)}…), issued ${b.issuedAt}`,
    `sampling: temperature ${s.temperature}${s.topK !== null ? `, top-k ${s.topK}` : ''}, seed ${s.seed}, at most ${s.maxTokens} tokens; ${b.steps.length} steps`,
    ...(b.pads !== null ? [`pads: ${b.pads.count} (one per token fed) from ${b.pads.source} ${b.pads.identity.slice(0, 8)}…, epoch ${b.pads.epoch}; on empty: ${b.onEmpty ?? '-'}`] : []),
    ...(trusted.length > 0 ? [`${trusted.length} of ${b.steps.length} steps ran layers in the trusted runtime: ${reasons.join('; ')}`] : []),
    ...b.incidents.map((i) => `incident: ${i.code} at ${i.layer}`),
  ];
}

interface ClientGenerateFlags extends PolicyFlags {
  url: string;
  model?: string;
  prompt?: string;
  tokens?: string;
  maxTokens: string;
  temperature: string;
  topK?: string;
  seed: string;
  encrypt?: boolean;
  json?: boolean;
  receiptOut?: string;
  timeoutMs: string;
}

/** `slalom client generate`: the tokens to stdout as they arrive, then (once the receipt verified) what it states, on stderr. */
async function clientGenerate(flags: ClientGenerateFlags): Promise<void> {
  if ((flags.prompt === undefined) === (flags.tokens === undefined)) throw new InvalidArgumentError('give the prompt as --prompt <text> or --tokens <ids>, exactly one');
  const prompt = flags.prompt ?? flags.tokens!.split(',').map((t, i) => parseInteger(t.trim(), `--tokens[${i}]`, { min: 0 }));
  const temperature = Number(flags.temperature);
  if (!Number.isFinite(temperature) || temperature < 0) throw new InvalidArgumentError(`--temperature must be a number ≥ 0, got '${flags.temperature}'`);
  const client = await SlalomClient.connect(flags.url, { policy: policyOf(flags), timeoutMs: parsePositive(flags.timeoutMs, '--timeout-ms', true) });
  const served = client.document.models;
  const model = flags.model ?? (served.length === 1 ? served[0]!.name : undefined);
  if (model === undefined) throw new InvalidArgumentError(`the service serves ${served.map((m) => m.name).join(', ')}: name one with --model`);
  const g = await client.generate(model, prompt, {
    maxTokens: parsePositive(flags.maxTokens, '--max-tokens', true),
    temperature,
    seed: parseInteger(flags.seed, '--seed', { min: 0 }),
    ...(flags.topK !== undefined ? { topK: parsePositive(flags.topK, '--top-k', true) } : {}),
    ...(flags.encrypt ? { encrypt: true } : {}),
    ...(flags.json ? {} : { onToken: (t) => process.stdout.write(t.text ?? `${t.index > 0 ? ',' : ''}${t.id}`) }),
  });
  if (flags.receiptOut !== undefined) writeFileSync(flags.receiptOut, `${JSON.stringify({ receipt: g.receipt, attestation: client.document }, null, 2)}\n`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ model, mode: g.mode, integrity: g.integrity, soundnessLog2: g.soundnessLog2, encrypted: g.encrypted, inputIds: g.inputIds, outputIds: g.outputIds, ...(g.text !== undefined ? { text: g.text } : {}), finish: g.finish, receipt: g.receipt })}\n`);
    return;
  }
  process.stdout.write('\n');
  process.stderr.write(`receipt verified (signed by key ${g.receipt.body.service.keyHash.slice(0, 16)}…; attestation: ${client.document.provider}${client.document.development ? ', development only' : ''}; ${g.encrypted ? 'encrypted to the attested key' : 'the stream was NOT encrypted'})\n${generationLines(g.receipt.body).map((l) => `  ${l}\n`).join('')}`);
}

/** `slalom client generate` (verbs.ts loads it by this name). */
export const generate = clientGenerate;

/** `slalom client infer`. */
export const run = clientInfer;

/** `slalom client verify-receipt <file>` (verbs.ts loads it by this name). */
export const verifyReceipt = verifyReceiptFile;
