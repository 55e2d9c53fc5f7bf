/**
 * Request bodies under a byte limit (issue 15, deliverable 7): bytes are counted as they stream in and
 * the request is refused with 413 past the limit (a Content-Length over it is refused before anything
 * is read); no buffer is ever sized from a header. After an answer to a request whose body was not
 * read, `discardRest` drops what follows without resetting a client that is still sending.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

const MIB = 1 << 20;

/**
 * Reads a body, counting bytes as they arrive: 413 past `limit` (nothing beyond it is buffered).
 * `onBytes` is told each chunk's size before it is kept and may throw (an HttpError) to refuse it,
 * e.g. when a memory budget shared by all requests would be exceeded.
 */
export function readBody(req: IncomingMessage, limit: number, onBytes: (n: number) => void = () => {}): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && (!/^\d{1,16}$/.test(declared) || Number(declared) > limit)) {
    return Promise.reject(new HttpError(413, `request body of ${declared.slice(0, 20)} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err?: HttpError): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer): void => {
      if (total + chunk.length > limit) {
        finish(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      try {
        onBytes(chunk.length);
      } catch (e) {
        finish(e as HttpError);
        return;
      }
      total += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    const onError = (): void => finish(new HttpError(400, 'request body could not be read'));
    const onAborted = (): void => finish(new HttpError(400, 'request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** Bytes of a refused request's body still read (and dropped) after the answer, so the client sees the answer. */
const DRAIN_BYTES = 4 * MIB;
const DRAIN_MS = 1000;

/**
 * After answering a request whose body was not (fully) read: drop what follows, keeping the
 * connection if the body ends within DRAIN_BYTES and DRAIN_MS, destroying it otherwise. Closing at
 * once would reset the connection under a client still sending, which may lose the answer.
 */
export function discardRest(req: IncomingMessage): void {
  if (req.complete) return;
  let dropped = 0;
  const kill = (): void => {
    clearTimeout(timer);
    req.socket?.destroy();
  };
  const timer = setTimeout(kill, DRAIN_MS);
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_BYTES) kill();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
