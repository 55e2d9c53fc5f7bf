/**
 * `slalom/client`: the client of the trusted inference service (`slalom serve`): attestation
 * policies, the encrypted channel, receipts. Re-exports only; importing it has no side effects and
 * loads neither the trusted runtime nor onnxruntime.
 */
export { SlalomClient, UNVOUCHED_RECEIPT, verifyAnswer, verifyGeneratedAnswer, verifyGenerationReceipt, verifyReceipt, type ClientGeneration, type GenerateOptions, type ReceiptTrust, type ClientOptions, type ClientPrediction, type ClientResult, type ClientTensor, type InferOptions, type ModelMetadata } from './client/client.js';
export { checkAttestation, noneProvider, reportDataOf, DEVELOPMENT_NOTICE, type AcceptedAttestation, type AttestationDocument, type AttestationPolicy, type AttestationProvider, type AttestationVerifier, type AttestedModel, type Evidence } from './attest/attestation.js';
export { receiptSignatureValid, signerKeyHash, tensorsHash, RECEIPT_FORMAT, type HashedTensor, type LayerExecution, type Receipt, type ReceiptBody } from './attest/receipt.js';
export { generationReceiptValid, tokenIdsHash, GENERATION_RECEIPT_FORMAT, type GenerationReceipt, type GenerationReceiptBody, type StepSummary } from './attest/generation-receipt.js';
export { AttestationError } from './errors.js';
