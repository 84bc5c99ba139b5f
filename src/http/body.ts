/**
 * Reads a request body with a hard byte limit: a declared Content-Length over the limit is
 * refused before reading, and a chunked body is cut off the moment it passes the limit.
 * Compressed bodies are refused rather than forwarded uninspected (security-checklist C4).
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../pipeline/errors.js';

/**
 * The listener has no request timeout (SSE responses are long-lived), so the body read carries
 * its own: a client that declares a body and then stalls or drips it must not hold a connection
 * and a handler forever (security-checklist C3: no request outlives its timeout).
 */
export const BODY_IDLE_MS = 10_000;
export const BODY_TOTAL_MS = 30_000;

export function readBody(req: IncomingMessage, maxBytes: number, timeouts: { idleMs: number; totalMs: number } = { idleMs: BODY_IDLE_MS, totalMs: BODY_TOTAL_MS }): Promise<Buffer> {
  const enc = req.headers['content-encoding'];
  if (enc !== undefined && enc !== 'identity') {
    return Promise.reject(new GatewayError('ERR_CONTENT_TYPE', 'Content-Encoding is not supported; send an uncompressed body'));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(new GatewayError('ERR_BODY_TOO_LARGE', `Request body over ${maxBytes} bytes`));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stalled = (why: string): void => {
      cleanup();
      reject(new GatewayError('ERR_INVALID_REQUEST', `Request body ${why}`));
      // The error response is queued in the same tick (microtasks); then close the connection
      // instead of waiting for the rest of a body that may never come.
      setImmediate(() => req.socket.end());
    };
    const idleTimer = (): NodeJS.Timeout => setTimeout(() => stalled(`stalled: no data for ${timeouts.idleMs} ms`), timeouts.idleMs).unref();
    let idle = idleTimer();
    const total = setTimeout(() => stalled(`not complete within ${timeouts.totalMs} ms`), timeouts.totalMs).unref();
    const onData = (c: Buffer): void => {
      clearTimeout(idle);
      idle = idleTimer();
      size += c.length;
      if (size > maxBytes) {
        cleanup();
        req.resume(); // drain the rest without keeping it, so the 413 can be sent…
        // …but not forever: an endless or dripping body loses its connection.
        setTimeout(() => req.socket.destroy(), 5_000).unref();
        reject(new GatewayError('ERR_BODY_TOO_LARGE', `Request body over ${maxBytes} bytes`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new GatewayError('ERR_INVALID_REQUEST', 'Request body could not be read', { cause: e }));
    };
    const cleanup = (): void => {
      clearTimeout(idle);
      clearTimeout(total);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
