/** The messages between the trusted runtime and its embedded worker-thread accelerator. */
import type { PublicLayer } from '../backend.js';

export type ToWorker =
  | { readonly type: 'load'; readonly requestId: number; readonly layers: readonly PublicLayer[] }
  | { readonly type: 'linear'; readonly requestId: number; readonly layerId: number; readonly dims: readonly number[]; readonly x: Uint32Array };

/** As the worker sends them: the client treats every field as untrusted. */
export type FromWorker =
  | { readonly type: 'loaded'; readonly requestId: number }
  | {
      readonly type: 'result';
      readonly requestId: number;
      readonly layerId: number;
      readonly dims: number[];
      readonly data: Uint32Array;
      readonly computeMs: number;
      /** The request's buffer, handed back for the next request (the client only ever writes it). */
      readonly returned?: ArrayBuffer;
    }
  | { readonly type: 'error'; readonly requestId: number; readonly message: string };
