/**
 * The attestation document of the trusted service (issue 15, deliverable 5): its public keys
 * (keys.ts), the models it serves and a client's nonce, bound into the `reportData` that a TEE's
 * report carries, plus the evidence a pluggable provider produced for that reportData.
 *
 *     reportData = SHA-512("slalom-attestation/1\n" ‖ JCS({ keyHash, models, nonce }))   (64 bytes)
 *
 * Providers, and what each would put in the report (none but `none` ships here; each plugs into
 * AttestationProvider on the service and AttestationVerifier on the client):
 * - `none`: DEVELOPMENT ONLY. Signs nothing and proves nothing: the document is whatever the server
 *   says, `development: true`, `evidence: null`. A client refuses it unless its policy says
 *   `allowDevelopment` (the CLI's `--allow-development`).
 * - AMD SEV-SNP: the guest's ATTESTATION_REPORT (SNP_GET_REPORT via /dev/sev-guest or configfs-tsm)
 *   with REPORT_DATA = reportData, MEASUREMENT = the launch digest (SHA-384 of the initial guest
 *   image: firmware, kernel, initrd and command line, which must measure slalom's code), POLICY
 *   (debug off), TCB versions and the chip id, signed by the chip's VCEK (ECDSA P-384) under AMD's
 *   ASK/ARK; the verifier checks the chain, the signature, the policy and TCB, MEASUREMENT against
 *   its allow-list and REPORT_DATA against the document.
 * - Intel TDX: a TD quote of the TDREPORT with REPORTDATA = reportData, MRTD (the TD's build-time
 *   measurement) and RTMR0–3 (firmware, kernel, command line, application), TD attributes (debug
 *   off), signed by the quoting enclave's key under Intel's PCK chain (DCAP); measurement = MRTD ‖ RTMRs.
 * - Intel SGX: a DCAP quote of the enclave's REPORT with REPORTDATA = reportData, MRENCLAVE (the
 *   enclave's code and data), MRSIGNER, ISVPRODID/ISVSVN and attributes (debug off); measurement =
 *   MRENCLAVE (or MRSIGNER + product id, by policy).
 * In every case the report binds keyHash, hence the HPKE key a client encrypts to and the key that
 * signs its receipts, to the measured code, and the nonce makes the document fresh.
 */
import { createHash } from 'node:crypto';
import { AttestationError } from '../errors.js';
import { canonicalJson } from './canonical.js';
import { keyHashOf, type PublicKeys } from './keys.js';

export const ATTESTATION_FORMAT = 'slalom-attestation/1';
/** The label the `none` provider's documents carry. */
export const DEVELOPMENT_NOTICE = 'DEVELOPMENT ONLY: the none attestation provider signs nothing; this document proves nothing about the code that holds these keys';

/** A model the service serves, as it names it. */
export interface AttestedModel {
  readonly name: string;
  /** SHA-256 of the ONNX file. */
  readonly modelHash: string;
  /** The content digest of the quantized graph the runtime loaded (quant/content-hash.ts): every integer weight, bias, scale and constant. */
  readonly weightsHash: string;
}

/** What a TEE's attestation service returned for a reportData. */
export interface Evidence {
  /** e.g. `sev-snp-report`, `tdx-quote`, `sgx-dcap-quote`. */
  readonly format: string;
  /** The report or quote, base64. */
  readonly report: string;
}

export interface AttestationDocument {
  readonly format: typeof ATTESTATION_FORMAT;
  readonly provider: string;
  readonly development: boolean;
  readonly notice?: string;
  readonly keys: PublicKeys;
  readonly keyHash: string;
  readonly models: readonly AttestedModel[];
  /** The client's challenge (hex), or null for the document served without one. */
  readonly nonce: string | null;
  /** Hex, 64 bytes. */
  readonly reportData: string;
  readonly evidence: Evidence | null;
  readonly issuedAt: string;
}

/** The service side: evidence from the TEE for a reportData. */
export interface AttestationProvider {
  readonly name: string;
  /** True for a provider that proves nothing. */
  readonly development: boolean;
  evidence(reportData: Buffer): Promise<Evidence | null>;
}

/** The client side: checks a provider's evidence (signature chain, TCB, debug off) and that it binds reportData; returns the measurement. */
export interface AttestationVerifier {
  readonly provider: string;
  verify(evidence: Evidence, reportData: Buffer): Promise<{ readonly measurement: string }>;
}

export const noneProvider: AttestationProvider = {
  name: 'none',
  development: true,
  evidence: async () => null,
};

/** What a client accepts. */
export interface AttestationPolicy {
  /** Accept the `none` provider (development only; default false). */
  readonly allowDevelopment?: boolean;
  /** Verifiers of the hardware providers the client trusts. */
  readonly verifiers?: readonly AttestationVerifier[];
  /** Accepted measurements (hex); default any that a verifier accepts. */
  readonly measurements?: readonly string[];
  /** The service must serve a model with this weightsHash (hex, or a prefix of ≥ 12 digits). */
  readonly weightsHash?: string;
  /** The service's keys must have this key hash (pinning one process). */
  readonly keyHash?: string;
}

/** What a client learned from a document its policy accepted. */
export interface AcceptedAttestation {
  readonly document: AttestationDocument;
  readonly measurement?: string;
}

/** The 64 bytes a TEE report must carry for this document's keys, models and nonce. */
export function reportDataOf(keyHash: string, models: readonly AttestedModel[], nonce: string | null): Buffer {
  return createHash('sha512').update(`${ATTESTATION_FORMAT}\n`).update(canonicalJson({ keyHash, models: models.map((m) => ({ name: m.name, modelHash: m.modelHash, weightsHash: m.weightsHash })), nonce })).digest();
}

/** The service's document for `nonce`, with the provider's evidence. */
export async function attest(provider: AttestationProvider, keys: PublicKeys, models: readonly AttestedModel[], nonce: string | null): Promise<AttestationDocument> {
  const keyHash = keyHashOf(keys);
  const reportData = reportDataOf(keyHash, models, nonce);
  return {
    format: ATTESTATION_FORMAT,
    provider: provider.name,
    development: provider.development,
    ...(provider.development ? { notice: DEVELOPMENT_NOTICE } : {}),
    keys,
    keyHash,
    models: models.map((m) => ({ name: m.name, modelHash: m.modelHash, weightsHash: m.weightsHash })),
    nonce,
    reportData: reportData.toString('hex'),
    evidence: await provider.evidence(reportData),
    issuedAt: new Date().toISOString(),
  };
}

const HEX = /^[0-9a-f]+$/;

function shape(v: unknown): AttestationDocument {
  const fail = (why: string): never => {
    throw new AttestationError(`the attestation document is malformed: ${why}`);
  };
  if (typeof v !== 'object' || v === null) fail('not an object');
  const d = v as Record<string, unknown>;
  if (d['format'] !== ATTESTATION_FORMAT) fail(`format is not ${ATTESTATION_FORMAT}`);
  if (typeof d['provider'] !== 'string' || typeof d['development'] !== 'boolean') fail('provider and development are missing');
  const keys = d['keys'] as PublicKeys | undefined;
  if (typeof keys?.hpke?.publicKey !== 'string' || typeof keys?.signing?.publicKey !== 'string' || keys.signing.alg !== 'Ed25519') fail('keys are missing');
  if (typeof d['keyHash'] !== 'string' || typeof d['reportData'] !== 'string' || !HEX.test(d['reportData'])) fail('keyHash or reportData is missing');
  const models = d['models'];
  if (!Array.isArray(models) || !models.every((m) => typeof m?.name === 'string' && typeof m?.modelHash === 'string' && typeof m?.weightsHash === 'string')) fail('models are missing');
  if (d['nonce'] !== null && typeof d['nonce'] !== 'string') fail('nonce must be a string or null');
  return v as AttestationDocument;
}

/**
 * Checks a document against a policy before anything is sent to the service: its structure, its
 * key hash and reportData (recomputed), the nonce the client sent, the provider (`none` only with
 * `allowDevelopment`; any other only with its verifier, whose measurement the policy may pin), the
 * key hash and the model the policy pins. AttestationError saying which when it fails.
 */
export async function checkAttestation(value: unknown, policy: AttestationPolicy, expectedNonce?: string): Promise<AcceptedAttestation> {
  const doc = shape(value);
  if (keyHashOf(doc.keys) !== doc.keyHash) throw new AttestationError('the attestation document is inconsistent: keyHash is not the hash of its keys');
  const reportData = reportDataOf(doc.keyHash, doc.models, doc.nonce);
  if (reportData.toString('hex') !== doc.reportData) throw new AttestationError('the attestation document is inconsistent: reportData does not bind its keys, models and nonce');
  if (expectedNonce !== undefined && doc.nonce !== expectedNonce) throw new AttestationError('the attestation document does not answer our nonce (a replayed document?)');
  let measurement: string | undefined;
  if (doc.provider === 'none') {
    if (!doc.development) throw new AttestationError('the none provider must be labelled development');
    if (policy.allowDevelopment !== true) {
      throw new AttestationError("the service's attestation provider is 'none' (development only: it signs nothing), which the policy does not accept. Allow it explicitly (--allow-development) only for testing");
    }
  } else {
    const verifier = policy.verifiers?.find((v) => v.provider === doc.provider);
    if (verifier === undefined) throw new AttestationError(`no verifier for attestation provider '${doc.provider.slice(0, 40)}' is configured`);
    if (doc.evidence === null) throw new AttestationError(`the ${doc.provider} document carries no evidence`);
    try {
      measurement = (await verifier.verify(doc.evidence, reportData)).measurement;
    } catch (e) {
      throw new AttestationError(`the ${doc.provider} evidence does not verify: ${(e as Error).message}`, { cause: e });
    }
    if (policy.measurements !== undefined && !policy.measurements.includes(measurement)) throw new AttestationError(`measurement ${measurement.slice(0, 24)}… is not one the policy accepts`);
  }
  if (policy.keyHash !== undefined && policy.keyHash !== doc.keyHash) throw new AttestationError(`the service's key hash ${doc.keyHash.slice(0, 12)}… is not the pinned ${policy.keyHash.slice(0, 12)}…`);
  const pin = policy.weightsHash;
  if (pin !== undefined && (pin.length < 12 || !doc.models.some((m) => m.weightsHash.startsWith(pin)))) throw new AttestationError(`the service serves no model with weights ${pin.slice(0, 12)}…`);
  return { document: doc, ...(measurement !== undefined ? { measurement } : {}) };
}
