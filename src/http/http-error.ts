/**
 * Errors the HTTP services answer with (issue 15, deliverable 7: one HTTP layer for the accelerator
 * service and the trusted service). A handler throws an HttpError; the service (service.ts) turns it
 * into `{"error": "…"}` with its status and headers, and keeps serving.
 */

/** Seconds a client is told to wait after back-pressure (503). */
export const RETRY_AFTER_S = '1';

/** A failure with the HTTP status to answer it with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** A stable code for clients to branch on (a SlalomError's `SLALOM_ERR_*`), sent beside the message. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** 503 with Retry-After: back-pressure (queue full, memory budget, shutting down). */
export const busy = (message: string): HttpError => new HttpError(503, message, { 'Retry-After': RETRY_AFTER_S });
