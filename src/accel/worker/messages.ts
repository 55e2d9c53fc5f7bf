/** The messages between the trusted runtime and its embedded worker-thread accelerator. */
import type { ExactKernelsName } from '../../kernels/exact-linear.js';
import type { PublicLayer } from '../backend.js';
import type { WebGpuOptions } from '../webgpu/engine.js';

/** What the worker computes with (its workerData). */
export interface WorkerConfig {
  /** slalom's CPU kernels, or the WebGPU engine (src/accel/webgpu/). */
  readonly kernels: ExactKernelsName | 'webgpu';
  /** onnxruntime intra-op threads of the 'ort' kernels. */
  readonly threads: number;
  readonly webgpu?: WebGpuOptions;
  /** Most items (sum of batch axes) of pending requests for one layer merged into one batch. */
  readonly maxBatch: number;
}

export type ToWorker =
  | { readonly type: 'init'; readonly requestId: string }
  | { readonly type: 'load'; readonly requestId: string; readonly layers: readonly PublicLayer[] }
  | {
      readonly type: 'linear';
      readonly requestId: string;
      readonly layerId: number;
      readonly dims: readonly number[];
      readonly x: Uint32Array;
      /** A buffer of an earlier reply, for this result (when its size fits). */
      readonly spare?: ArrayBuffer;
    };

/** As the worker sends them: the client treats every field as untrusted. */
export type FromWorker =
  | { readonly type: 'ready'; readonly requestId: string; readonly device: string }
  | { readonly type: 'loaded'; readonly requestId: string }
  | {
      readonly type: 'result';
      readonly requestId: string;
      readonly layerId: number;
      readonly dims: number[];
      readonly data: Uint32Array;
      readonly computeMs: number;
      /** The request's buffer, handed back for the next request (the client only ever writes it). */
      readonly returned?: ArrayBuffer;
    }
  | { readonly type: 'error'; readonly requestId: string; readonly message: string };
