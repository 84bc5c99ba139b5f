/**
 * One HTTP exchange with an upstream through its shared undici pool, and bounded readers for the
 * two response shapes MCP allows (a JSON body, or an SSE stream). Every limit violation becomes a
 * GatewayError, never a crash: a hostile upstream costs one call, not the process.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Pool } from 'undici';
import { SseParser, SseTooLargeError, type SseEvent } from '../../mcp/sse.js';
import { toMessage, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import { GatewayError } from '../../pipeline/errors.js';
import { headerValue } from './headers.js';

export interface ExchangeRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Time to the response headers (undici headersTimeout). 0 disables. */
  headersTimeoutMs: number;
  /** Longest silence between body chunks (undici bodyTimeout). 0 disables (long-lived SSE). */
  bodyTimeoutMs: number;
}

/** The status line and headers of an upstream response. */
export interface ResponseHead {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
}

/** An upstream response whose body is read as a stream (undici's, or a call's non-JSON answer). */
export interface UpstreamResponse extends ResponseHead {
  readonly body: Readable;
}

/** Sends one request; rejects on network errors, timeouts and aborts (callers map those). */
export function exchange(pool: Pool, r: ExchangeRequest): Promise<UpstreamResponse> {
  return pool.request({
    origin: r.url.origin,
    path: r.url.pathname + r.url.search,
    method: r.method,
    headers: r.headers,
    body: r.body,
    signal: r.signal,
    headersTimeout: r.headersTimeoutMs,
    bodyTimeout: r.bodyTimeoutMs,
  });
}

/** Media type of a response, lowercased, without parameters. */
export function mediaType(res: ResponseHead): string {
  return mediaTypeOf(res.headers);
}

/** Media type of a header set's content type, lowercased, without parameters. */
export function mediaTypeOf(headers: IncomingHttpHeaders): string {
  return mediaTypeOfValue(headerValue(headers, 'content-type'));
}

/** Media type of one Content-Type value, lowercased, without parameters ('' when absent). */
export function mediaTypeOfValue(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The refusal of an upstream message over the size limit. */
export function messageTooLarge(max: number): GatewayError {
  return new GatewayError('ERR_UPSTREAM_PROTOCOL', `Upstream message exceeds ${max} bytes`);
}

/** True when a response declares a Content-Length over `max`. */
export function declaresMoreThan(headers: IncomingHttpHeaders, max: number): boolean {
  return lengthOver(headerValue(headers, 'content-length'), max);
}

/** True when a Content-Length value declares more than `max` bytes. */
export function lengthOver(contentLength: string | undefined, max: number): boolean {
  const declared = Number(contentLength);
  return Number.isFinite(declared) && declared > max;
}

/** Drops a response body we do not want, without letting an error escape. */
export function discard(res: UpstreamResponse): void {
  res.body.on('error', () => {});
  res.body.destroy();
}

/** Reads a whole body as UTF-8, failing (and destroying the stream) once it exceeds `max` bytes. */
export async function readBounded(res: UpstreamResponse, max: number): Promise<string> {
  if (declaresMoreThan(res.headers, max)) {
    discard(res);
    throw messageTooLarge(max);
  }
  // Listeners, not `for await`: an async iterator per response was measurable on the hot path.
  return new Promise<string>((resolve, reject) => {
    const body = res.body;
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        discard(res);
        reject(messageTooLarge(max));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onClose = (): void => {
      // Destroyed (aborted) before its end: the same failure `for await` would have raised.
      cleanup();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
  });
}

/** Parses text as exactly one JSON-RPC message (batches are refused in every era). */
export function parseMessage(text: string): JsonRpcMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Upstream sent invalid JSON');
  }
  if (Array.isArray(v)) throw new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Upstream sent a JSON-RPC batch');
  const m = toMessage(v);
  if (typeof m === 'string') throw new GatewayError('ERR_UPSTREAM_PROTOCOL', `Upstream sent an invalid JSON-RPC message: ${m}`);
  return m;
}

/** What an SSE read learned about resumption, whatever way the stream ended. */
export interface SseCursor {
  lastEventId: string;
  retryMs: number | undefined;
}

/**
 * Reads an SSE body, calling `onEvent` for each event, until the stream ends. Resolves normally
 * on end of stream; rejects on an oversized event or a network error. `cursor` is updated as
 * events arrive so a caller can resume after either outcome.
 */
export async function readSse(res: UpstreamResponse, maxEventBytes: number, cursor: SseCursor, onEvent: (e: SseEvent) => void): Promise<void> {
  const parser = new SseParser({ maxEventBytes });
  try {
    for await (const chunk of res.body) {
      const events = parser.push(chunk as Buffer);
      if (parser.lastEventId !== '') cursor.lastEventId = parser.lastEventId;
      if (parser.retry !== undefined) cursor.retryMs = parser.retry;
      for (const e of events) onEvent(e);
    }
    for (const e of parser.end()) onEvent(e);
  } catch (e) {
    discard(res);
    if (e instanceof SseTooLargeError) throw new GatewayError('ERR_UPSTREAM_PROTOCOL', `Upstream SSE event exceeds ${maxEventBytes} bytes`);
    throw e;
  }
}

/** Maps a transport failure (network error, undici timeout, abort) to a gateway error. */
export function transportError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  const code = (e as { code?: string } | null)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('ERR_UPSTREAM_TIMEOUT', undefined, { cause: e });
  }
  return new GatewayError('ERR_UPSTREAM_UNAVAILABLE', undefined, { cause: e });
}
