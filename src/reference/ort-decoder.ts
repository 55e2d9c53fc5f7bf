/**
 * onnxruntime fp32 on a decoder's ONNX model, fed by input name: token and position ids as int64,
 * everything else (an empty past cache) as float32. Returns the first output (the logits). The
 * independent reference for the decoder self-check and the fidelity measurement.
 */
import ort from 'onnxruntime-node';
import type { Tensor } from '../tensor/tensor.js';
import { openOrtSession, outputsOf } from './ort-session.js';

export interface DecoderSession {
  run(feeds: ReadonlyMap<string, Tensor>): Promise<Map<string, Tensor>>;
  close(): Promise<void>;
}

const INT64_INPUTS = new Set(['input_ids', 'position_ids']);

export async function createDecoderSession(onnxBytes: Uint8Array, threads = 1): Promise<DecoderSession> {
  const session = await openOrtSession(onnxBytes, threads);
  return {
    async run(feeds) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of feeds) {
        ortFeeds[name] = INT64_INPUTS.has(name) ? new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), [...t.dims]) : new ort.Tensor('float32', Float32Array.from(t.data), [...t.dims]);
      }
      return outputsOf(session, await session.run(ortFeeds));
    },
    close: () => session.release(),
  };
}
