/**
 * The generate extension's wire shapes (Triton's `generate` / `generate_stream`, as KServe v2 names
 * them) for a served decoder: the request —
 *
 *     {"text_input": "…"} or {"input_ids": [1, 2, 3]},
 *     "parameters": {"max_tokens": 16, "temperature": 0, "top_k": 40, "seed": 0, "stop": [0]}
 *
 * — and the answer: one JSON object (`generate`), or server-sent events (`generate_stream`): one
 * `data: {"output_id", "text_output"?, "index"}` per token as its step is accepted, then one with the
 * whole result and its receipt (`"final": true`), or one `{"error", "code"}` after which nothing follows.
 */
import type { GenerateResult } from '../api/session.js';
import type { GenerationReceipt } from '../attest/generation-receipt.js';
import { HttpError } from '../http/http-error.js';
import { describeValue, isObject, parseJsonBounded } from '../http/json.js';
import type { SlalomModel } from '../runtime/model.js';

export interface GenerateRequest {
  /** Token ids (the prompt text encoded with the model's tokenizer, or as given). */
  readonly inputIds: readonly number[];
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topK?: number;
  readonly seed: number;
  readonly stop?: readonly number[];
}

/** max_tokens when the request names none. */
export const DEFAULT_MAX_TOKENS = 16;

const PARAMETERS = new Set(['max_tokens', 'temperature', 'top_k', 'seed', 'stop']);

/** Parses a generate request for `model` (a decoder); 400 naming the first thing wrong. */
export function parseGenerateRequest(json: Buffer, model: SlalomModel, limits: { readonly maxJsonContainers: number; readonly maxGenerateTokens: number }): GenerateRequest {
  const decoder = model.decoder!;
  const req = parseJsonBounded(json, limits.maxJsonContainers, 'the generate request');
  if (!isObject(req)) throw new HttpError(400, `the generate request must be a JSON object, got ${describeValue(req)}`);
  for (const key of Object.keys(req)) if (key !== 'text_input' && key !== 'input_ids' && key !== 'parameters') throw new HttpError(400, `unknown field '${key.slice(0, 40)}' in the generate request (text_input or input_ids, and parameters)`);
  const { text_input: text, input_ids: ids } = req;
  if ((text === undefined) === (ids === undefined)) throw new HttpError(400, 'give the prompt as text_input (a string) or input_ids (token ids), exactly one');
  let inputIds: number[];
  if (text !== undefined) {
    if (typeof text !== 'string' || text.length === 0) throw new HttpError(400, 'text_input must be a non-empty string');
    const tokenizer = model.tokenizer;
    if (tokenizer === undefined) throw new HttpError(400, `${model.name} has no tokenizer: give the prompt as input_ids`);
    try {
      inputIds = tokenizer.encode(text);
    } catch (e) {
      throw new HttpError(400, `text_input: ${(e as Error).message}`);
    }
  } else {
    if (!Array.isArray(ids) || ids.length === 0) throw new HttpError(400, 'input_ids must be a non-empty array of token ids');
    inputIds = ids.map((t, i) => tokenId(t, `input_ids[${i}]`, decoder.config.vocab));
  }
  if (inputIds.length >= decoder.config.maxPositions) throw new HttpError(400, `the prompt has ${inputIds.length} tokens: ${model.name} has ${decoder.config.maxPositions} positions, room for the prompt and at least one more`);
  const p = req.parameters ?? {};
  if (!isObject(p)) throw new HttpError(400, 'parameters must be a JSON object');
  for (const key of Object.keys(p)) if (!PARAMETERS.has(key)) throw new HttpError(400, `unknown parameter '${key.slice(0, 40)}' (${[...PARAMETERS].join(', ')})`);
  const maxTokens = p['max_tokens'] ?? DEFAULT_MAX_TOKENS;
  if (!Number.isSafeInteger(maxTokens) || (maxTokens as number) < 1) throw new HttpError(400, `max_tokens must be an integer ≥ 1, got ${describeValue(maxTokens)}`);
  if ((maxTokens as number) > limits.maxGenerateTokens) throw new HttpError(400, `max_tokens ${maxTokens as number} is over this service's limit of ${limits.maxGenerateTokens} tokens`);
  const temperature = p['temperature'] ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) throw new HttpError(400, `temperature must be a finite number ≥ 0, got ${describeValue(temperature)}`);
  const topK = p['top_k'];
  if (topK !== undefined && (!Number.isSafeInteger(topK) || (topK as number) < 1)) throw new HttpError(400, `top_k must be an integer ≥ 1, got ${describeValue(topK)}`);
  const seed = p['seed'] ?? 0;
  if (!Number.isSafeInteger(seed) || (seed as number) < 0 || (seed as number) > 0xffffffff) throw new HttpError(400, `seed must be an integer in 0 … 2^32 − 1, got ${describeValue(seed)}`);
  const stop = p['stop'];
  if (stop !== undefined && (!Array.isArray(stop) || stop.length > decoder.config.vocab)) throw new HttpError(400, 'stop must be an array of token ids');
  return {
    inputIds,
    maxTokens: maxTokens as number,
    temperature,
    ...(topK !== undefined ? { topK: topK as number } : {}),
    seed: seed as number,
    ...(stop !== undefined ? { stop: (stop as unknown[]).map((t, i) => tokenId(t, `stop[${i}]`, decoder.config.vocab)) } : {}),
  };
}

function tokenId(t: unknown, what: string, vocab: number): number {
  if (!Number.isSafeInteger(t) || (t as number) < 0 || (t as number) >= vocab) throw new HttpError(400, `${what} must be a token id in 0 … ${vocab - 1}, got ${describeValue(t)}`);
  return t as number;
}

/** The whole answer of a generation (the non-streaming reply, and the stream's final event). */
export function generateReply(modelName: string, result: GenerateResult, receipt: GenerationReceipt): Record<string, unknown> {
  const sequence = result.sequences[0]!;
  return {
    model_name: modelName,
    model_version: '1',
    ...(result.texts !== undefined ? { text_output: result.texts[0] } : {}),
    input_ids: [...sequence.prompt],
    output_ids: [...sequence.tokens],
    finish: sequence.finish,
    mode: result.mode,
    insecure: result.insecure,
    incidents: result.incidents.map((i) => ({ layer: i.layer, code: i.code, message: i.message })),
    receipt,
  };
}

/** One server-sent event carrying `data` as JSON. */
export function sseEvent(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}
