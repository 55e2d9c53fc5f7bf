/** The messages between the trusted runtime and its embedded worker-thread accelerator. */
import type { PublicLayer } from '../backend.js';

export type ToWorker =
  | { readonly type: 'load'; readonly requestId: string; readonly layers: readonly PublicLayer[] }
  | { readonly type: 'linear'; readonly requestId: string; readonly layerId: number; readonly dims: readonly number[]; readonly x: Float64Array };

/** As the worker sends them: the client treats every field as untrusted. */
export type FromWorker =
  | { readonly type: 'loaded'; readonly requestId: string }
  | { readonly type: 'result'; readonly requestId: string; readonly layerId: number; readonly dims: number[]; readonly data: Float64Array; readonly computeMs: number }
  | { readonly type: 'error'; readonly requestId: string; readonly message: string };
