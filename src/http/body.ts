/**
 * Reads a request body with a hard byte limit: a declared Content-Length over the limit is
 * refused before reading, and a chunked body is cut off the moment it passes the limit.
 * Compressed bodies are refused rather than forwarded uninspected (security-checklist C4).
 * A request answered before its body was read loses its connection (`abandonConnection`).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from '../pipeline/errors.js';

/**
 * The listener has no request timeout (SSE responses are long-lived), so the body read carries
 * its own: a client that declares a body and then stalls or drips it must not hold a connection
 * and a handler forever (security-checklist C3: no request outlives its timeout).
 */
export const BODY_IDLE_MS = 10_000;
export const BODY_TOTAL_MS = 30_000;

/**
 * How long a connection whose request body is left unread may live on: long enough for the
 * client to read the answer it was sent, not long enough for a dripping body to hold it.
 */
export const UNREAD_BODY_GRACE_MS = 2_000;

/** Sockets already condemned (so a second refusal on the same request arms no second timer). */
const condemned = new WeakSet<Socket>();

/**
 * Destroys `socket` after `UNREAD_BODY_GRACE_MS` unless it closes first. For a request answered
 * before its body was consumed: Node would otherwise keep reading (and discarding) the rest of
 * that body for as long as the client sends it, and the listener has no request timeout (SSE
 * responses are long-lived). The answer itself says `Connection: close` (respond.ts).
 */
export function abandonConnection(socket: Socket): void {
  if (socket.destroyed || condemned.has(socket)) return;
  condemned.add(socket);
  const timer = setTimeout(() => socket.destroy(), UNREAD_BODY_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** True when the request announces a body (a non-zero Content-Length, or Transfer-Encoding). */
export function declaresBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** A body being read, with its two deadlines (Date.now() ms). */
interface Deadlines {
  idleAt: number;
  readonly totalAt: number;
  readonly idleMs: number;
  readonly totalMs: number;
  /** Emptied once the read ends: the set's old tables may still point to this object (runtime/call-table.ts). */
  expire: (why: string) => void;
}

const ENDED = (): void => {};

/**
 * Every body read in progress, checked by one sweep per second instead of two or three timers
 * per request (a POST's whole body usually arrives with its headers, so those timers were
 * created and cleared again at once; that churn was measurable per call). Deadlines fire up to
 * one sweep late.
 */
const reading = new Set<Deadlines>();
const SWEEP_MS = 1000;
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = Date.now();
  for (const d of reading) {
    if (now >= d.totalAt) d.expire(`not complete within ${d.totalMs} ms`);
    else if (now >= d.idleAt) d.expire(`stalled: no data for ${d.idleMs} ms`);
  }
  if (reading.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function watch(d: Deadlines): void {
  reading.add(d);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, SWEEP_MS);
    sweeper.unref();
  }
}

export function readBody(req: IncomingMessage, maxBytes: number, timeouts: { idleMs: number; totalMs: number } = { idleMs: BODY_IDLE_MS, totalMs: BODY_TOTAL_MS }): Promise<Buffer> {
  const enc = req.headers['content-encoding'];
  if (enc !== undefined && enc !== 'identity') {
    return Promise.reject(new GatewayError('ERR_CONTENT_TYPE', 'Content-Encoding is not supported; send an uncompressed body'));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    // Refused unread: drain what comes while the 413 is sent, but not for ever.
    req.resume();
    abandonConnection(req.socket);
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
    const now = Date.now();
    const deadlines: Deadlines = { idleAt: now + timeouts.idleMs, totalAt: now + timeouts.totalMs, idleMs: timeouts.idleMs, totalMs: timeouts.totalMs, expire: stalled };
    watch(deadlines);
    const onData = (c: Buffer): void => {
      deadlines.idleAt = Date.now() + timeouts.idleMs;
      size += c.length;
      if (size > maxBytes) {
        cleanup();
        req.resume(); // drain the rest without keeping it, so the 413 can be sent…
        // …but not forever: an endless or dripping body loses its connection.
        abandonConnection(req.socket);
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
      reading.delete(deadlines);
      deadlines.expire = ENDED;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
